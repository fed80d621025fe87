// What a failed request means for the target's machine: a lost race reads again, a terminating namespace waits,
// Forbidden and Invalid are refused for good (Failed, until something changes), and the rest, a quota included,
// is retried.
import { KubeConflict, KubeNotFound, KubeRejected, KubeUnavailable } from "@tcr-assistant/kube"
import { describe, expect, test } from "vitest"
import { classifyCommandError } from "../src/executor.ts"
import type { Command } from "../src/plan.ts"

const create: Command = { _tag: "CreateSecret", namespace: "team", body: {} }
const patch: Command = { _tag: "PatchServiceAccount", namespace: "team", name: "default", patch: [] }
const rejected = (status: number, reason: string, message: string, causes: ReadonlyArray<string> = []) =>
  new KubeRejected({ status, reason, message, causes: [...causes] })

describe("classifyCommandError", () => {
  test("RBAC and admission refusals, and invalid objects, are not retried", () => {
    for (const error of [
      rejected(403, "Forbidden", "create Secret team/x: secrets is forbidden: User cannot create resource"),
      rejected(403, "Forbidden", "admission webhook \"policy.example.com\" denied the request"),
      rejected(422, "Invalid", "Secret \"x\" is invalid: data: Forbidden: field is immutable", ["FieldValueForbidden"])
    ]) {
      expect(classifyCommandError(error, create)).toMatchObject({ _tag: "RequestFailed", retryable: false, reason: error.reason })
    }
  })

  test("an exceeded quota is retried: it frees up when other objects go", () => {
    const quota = rejected(403, "Forbidden", "create Secret team/x: secrets \"x\" is forbidden: exceeded quota: no-secrets")
    expect(classifyCommandError(quota, create)).toMatchObject({ _tag: "RequestFailed", retryable: true })
  })

  test("a patch that does not apply (422 without causes) lost a race; a terminating namespace waits", () => {
    expect(classifyCommandError(rejected(422, "Invalid", "the server rejected our request"), patch)?._tag).toBe("LostRace")
    expect(classifyCommandError(rejected(403, "Forbidden", "x", ["NamespaceTerminating"]), create)?._tag).toBe("NamespaceTerminating")
    expect(classifyCommandError(new KubeConflict({ reason: "Conflict", message: "x" }), patch)?._tag).toBe("LostRace")
  })

  test("an unavailable apiserver is retried; a 404 on a write is done, on a create a namespace that went", () => {
    expect(classifyCommandError(new KubeUnavailable({ status: 503, message: "down" }), create)).toMatchObject({ retryable: true })
    expect(classifyCommandError(new KubeNotFound({ message: "gone" }), patch)).toBeNull()
    expect(classifyCommandError(new KubeNotFound({ message: "gone" }), create)?._tag).toBe("NamespaceTerminating")
  })
})
