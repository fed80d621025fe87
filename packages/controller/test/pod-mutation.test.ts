// Which of our pull Secrets a Pod should reference, from the ImagePullSecrets' namespace and ServiceAccount selectors.
import { describe, expect, it } from "vitest"
import { toDistribution } from "../src/distribution.ts"
import { pullSecretPatch, reviewPodMutation, wantedPullSecrets } from "../src/pod-mutation.ts"

/** An ImagePullSecret as the controller decodes it, with valid inline credentials unless `spec` says otherwise. */
const ips = (name: string, selectors: { namespaces?: string; serviceAccounts?: string } = {}, extra: { spec?: object; deleting?: boolean } = {}) =>
  toDistribution({
    metadata: { name, uid: `uid-${name}`, ...(extra.deleting ? { deletionTimestamp: "2026-12-02T00:00:00Z" } : {}) },
    spec: extra.spec ?? { ...selectors, docker: { server: "demo.tencentcloudcr.com", username: "u", password: "not-a-secret" } }
  })

describe("wantedPullSecrets", () => {
  const all = [
    ips("every"),
    ips("apps", { namespaces: "apps", serviceAccounts: "builder" }),
    ips("defaults", { namespaces: "apps,web" })
  ]
  it("selects by namespace and ServiceAccount, default ServiceAccount when unset", () => {
    expect(wantedPullSecrets(all, "apps", undefined)).toEqual(["tcr.ipsdefaults", "tcr.ipsevery"])
    expect(wantedPullSecrets(all, "apps", "builder")).toEqual(["tcr.ipsapps", "tcr.ipsdefaults", "tcr.ipsevery"])
    expect(wantedPullSecrets(all, "other", "builder")).toEqual(["tcr.ipsevery"])
  })
  it("adds nothing for an ImagePullSecret the controller does not distribute: invalid spec, or being deleted", () => {
    const invalid = ips("invalid", {}, { spec: { namespaces: "*" } })
    expect(invalid.violations.length).toBeGreaterThan(0)
    expect(wantedPullSecrets([invalid, ips("leaving", {}, { deleting: true })], "apps", undefined)).toEqual([])
  })
  it("creates the list when the Pod has none and is a no-op when ours is present", () => {
    expect(pullSecretPatch(undefined, ["tcr.ipsa"])).toEqual([
      { op: "add", path: "/spec/imagePullSecrets", value: [{ name: "tcr.ipsa" }] }
    ])
    expect(pullSecretPatch([{ name: "user" }, { name: "tcr.ipsa" }], ["tcr.ipsa"])).toEqual([])
  })
})

describe("reviewPodMutation", () => {
  it("answers allowed with a base64 JSONPatch only when ours is missing", () => {
    const review = (imagePullSecrets?: ReadonlyArray<{ name: string }>) => ({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: { uid: "u1", namespace: "apps", object: { spec: { containers: [], ...(imagePullSecrets ? { imagePullSecrets } : {}) } } }
    })
    const missing = reviewPodMutation(review([{ name: "user" }]), [ips("x")]).response
    expect(missing.uid).toBe("u1")
    expect(missing.allowed).toBe(true)
    expect(JSON.parse(Buffer.from(String(missing.patch), "base64").toString())).toEqual([
      { op: "add", path: "/spec/imagePullSecrets/-", value: { name: "tcr.ipsx" } }
    ])
    expect(reviewPodMutation(review([{ name: "tcr.ipsx" }]), [ips("x")]).response).toEqual({ uid: "u1", allowed: true })
  })
})
