// A request the apiserver refuses for good (403) waits in Failed for a change, and for the slow re-check: granting the
// permission changes neither the spec nor the object, yet the Secret appears once the re-check is due. On TestClock:
// the ten minutes pass when the test moves the controller's clock.
import { afterEach, beforeEach, describe, expect, test } from "vitest"
import { failedRecheckMillis } from "@tcr-assistant/controller/target-machine"
import { type Harness, imagePullSecretBody, imagePullSecretsPath as ipsPath, startHarness } from "./controller-harness.ts"

const secretPath = "/api/v1/namespaces/ns/secrets/tcr.ipsalpha"

const secretTarget = (h: Harness) =>
  h.cluster.get<any>(`${ipsPath}/alpha`)?.status?.targets?.find((target: any) => target.kind === "Secret" && target.namespace === "ns")

describe("a Failed target", () => {
  let h: Harness
  beforeEach(async () => {
    h = await startHarness()
  })
  afterEach(async () => {
    await h.stop()
  })

  test("is not sent again before the re-check is due, and is once it is, after the permission was granted", async () => {
    h.cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "ns" } } })
    const forbidden = h.cluster.injectFault({
      status: 403,
      reason: "Forbidden",
      message: "secrets is forbidden",
      times: 1_000,
      match: (request) => request.client === "controller" && request.method === "POST" && request.path === "/api/v1/namespaces/ns/secrets"
    })
    h.cluster.call({ method: "POST", path: ipsPath, body: imagePullSecretBody("alpha", { namespaces: "ns" }) })
    // `settle` fires delayed keys early: the re-check, come too soon, sends nothing.
    await h.settle()
    expect(secretTarget(h)).toMatchObject({ state: "Failed", reason: "Forbidden" })
    expect(1_000 - forbidden.remaining()).toBe(1)

    // The permission is granted: nothing the controller watches changes, and nothing is sent yet.
    forbidden.cancel()
    await h.breathe(20)
    expect(h.cluster.get(secretPath)).toBeUndefined()
    expect(secretTarget(h)).toMatchObject({ state: "Failed" })

    await h.advance(failedRecheckMillis)
    await h.settle()
    expect(h.cluster.get<any>(secretPath)?.type).toBe("kubernetes.io/dockerconfigjson")
    // Ready targets leave .status.targets.
    expect(secretTarget(h)).toBeUndefined()
    expect(h.cluster.get<any>(`${ipsPath}/alpha`)?.status).toMatchObject({ secretsDesired: 1, secretsSuccess: 1 })
    expect(h.errors).toEqual([])
  })
})
