// How rotate-token judges one ImagePullSecret's copies: a copy counts once it decodes to the new credential for the
// CR's server; any other copy (the old token, another registry's entry, a payload that does not decode) is stale and
// named by its namespace; the CR must also be Ready at its current generation.
import { dockerConfigSecretData } from "@tcr-assistant/api"
import { Redacted } from "effect"
import fc from "fast-check"
import { describe, expect, test } from "vitest"
import { copiesProgress } from "../src/rotate-token.ts"

const server = "demo.tencentcloudcr.com"
const wanted = { username: "100012345678", password: Redacted.make("new-token-value") }
const copyKinds = ["new", "old", "otherServer", "undecodable"] as const
type CopyKind = (typeof copyKinds)[number]

const copy = (namespace: string, kind: CopyKind) => ({
  metadata: { name: "tcr.ipsdemo", namespace },
  type: "kubernetes.io/dockerconfigjson",
  data: kind === "undecodable"
    ? { ".dockerconfigjson": Buffer.from("{not json").toString("base64") }
    : dockerConfigSecretData({
      server: kind === "otherServer" ? "other.tencentcloudcr.com" : server,
      username: wanted.username,
      password: kind === "old" ? "old-token-value" : Redacted.value(wanted.password)
    })
})

const imagePullSecret = (generation: number, observedGeneration: number, ready: boolean, desired: number) => ({
  metadata: { name: "demo", generation },
  spec: { secretRef: { name: "tcr-assistant-registry-credential", namespace: "tcr-assistant-system", server } },
  status: {
    observedGeneration,
    secretsDesired: desired,
    conditions: [{ type: "Ready", status: ready ? "True" : "False" }]
  }
})

describe("copiesProgress", () => {
  test("counts the copies holding the new credential and names the others' namespaces, sorted", () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), { maxLength: 12 }),
      fc.array(fc.constantFrom(...copyKinds), { minLength: 12, maxLength: 12 }),
      (namespaces, kinds) => {
        const copies = namespaces.map((namespace, index) => copy(namespace, kinds[index]!))
        const progress = copiesProgress(imagePullSecret(3, 3, true, namespaces.length), copies, wanted)
        const stale = namespaces.filter((_, index) => kinds[index] !== "new").sort()
        expect(progress.stale).toEqual(stale)
        expect(progress.current).toBe(namespaces.length - stale.length)
        expect(progress.desired).toBe(namespaces.length)
      }
    ))
  })

  test("is ready only when the status is Ready for the current generation", () => {
    expect(copiesProgress(imagePullSecret(3, 3, true, 0), [], wanted).ready).toBe(true)
    expect(copiesProgress(imagePullSecret(4, 3, true, 0), [], wanted).ready).toBe(false)
    expect(copiesProgress(imagePullSecret(3, 3, false, 0), [], wanted).ready).toBe(false)
    expect(copiesProgress({ metadata: { name: "demo", generation: 1 } }, [], wanted)).toEqual(
      { name: "demo", desired: 0, current: 0, stale: [], ready: false })
  })
})
