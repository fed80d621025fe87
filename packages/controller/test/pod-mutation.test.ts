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
    expect(wantedPullSecrets(all, { name: "apps" }, { name: "default" })).toEqual(["tcr.ipsdefaults", "tcr.ipsevery"])
    expect(wantedPullSecrets(all, { name: "apps" }, { name: "builder" })).toEqual(["tcr.ipsapps", "tcr.ipsdefaults", "tcr.ipsevery"])
    expect(wantedPullSecrets(all, { name: "other" }, { name: "builder" })).toEqual(["tcr.ipsevery"])
  })
  it("adds nothing for an ImagePullSecret the controller does not distribute: invalid spec, or being deleted", () => {
    const invalid = ips("invalid", {}, { spec: { namespaces: "*" } })
    expect(invalid.violations.length).toBeGreaterThan(0)
    expect(wantedPullSecrets([invalid, ips("leaving", {}, { deleting: true })], { name: "apps" }, { name: "default" })).toEqual([])
  })
  it("selects by the namespace's labels, exclusions and the opt-out label, as the controller does", () => {
    const teams = ips("teams", {}, {
      spec: {
        namespaceSelector: { matchLabels: { team: "a" } },
        excludedNamespaces: ["a-sandbox-*"],
        excludedServiceAccounts: ["build-*"],
        docker: { server: "demo.tencentcloudcr.com", username: "u", password: "not-a-secret" }
      }
    })
    const team = { team: "a" }
    expect(wantedPullSecrets([teams], { name: "a-web", labels: team }, { name: "default" })).toEqual(["tcr.ipsteams"])
    expect(wantedPullSecrets([teams], { name: "b-web", labels: { team: "b" } }, { name: "default" })).toEqual([])
    expect(wantedPullSecrets([teams], { name: "a-sandbox-1", labels: team }, { name: "default" })).toEqual([])
    expect(wantedPullSecrets([teams], { name: "a-web", labels: team }, { name: "build-bot" })).toEqual([])
    const optOut = { "tcr.tencentcloudcr.com/ignore": "true" }
    expect(wantedPullSecrets([teams], { name: "a-web", labels: { ...team, ...optOut } }, { name: "default" })).toEqual([])
    expect(wantedPullSecrets([teams], { name: "a-web", labels: team }, { name: "default", labels: optOut })).toEqual([])
  })
  it("creates the list when the Pod has none and is a no-op when ours is present", () => {
    expect(pullSecretPatch(undefined, ["tcr.ipsa"])).toEqual([
      { op: "add", path: "/spec/imagePullSecrets", value: [{ name: "tcr.ipsa" }] }
    ])
    expect(pullSecretPatch([{ name: "user" }, { name: "tcr.ipsa" }], ["tcr.ipsa"])).toEqual([])
  })
})

describe("reviewPodMutation", () => {
  const review = (imagePullSecrets?: ReadonlyArray<{ name: string }>, serviceAccountName?: string) => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "u1",
      namespace: "apps",
      object: { spec: { containers: [], ...(imagePullSecrets ? { imagePullSecrets } : {}), ...(serviceAccountName ? { serviceAccountName } : {}) } }
    }
  })
  const patchOf = (outcome: ReturnType<typeof reviewPodMutation>) =>
    JSON.parse(Buffer.from(String((outcome.body as any).response.patch), "base64").toString())

  it("answers allowed with a base64 JSONPatch only when ours is missing", () => {
    const missing = reviewPodMutation(review([{ name: "user" }]), [ips("x")])
    expect(missing.result).toBe("patched")
    expect(missing.added).toEqual(["tcr.ipsx"])
    expect((missing.body as any).response).toMatchObject({ uid: "u1", allowed: true, patchType: "JSONPatch" })
    expect(patchOf(missing)).toEqual([{ op: "add", path: "/spec/imagePullSecrets/-", value: { name: "tcr.ipsx" } }])
    const present = reviewPodMutation(review([{ name: "tcr.ipsx" }]), [ips("x")])
    expect(present.result).toBe("unchanged")
    expect((present.body as any).response).toEqual({ uid: "u1", allowed: true })
  })

  it("selects on the Pod's ServiceAccount", () => {
    const builders = [ips("builders", { serviceAccounts: "builder" })]
    expect(reviewPodMutation(review(undefined, "builder"), builders).result).toBe("patched")
    expect(reviewPodMutation(review(undefined, "web"), builders).result).toBe("unchanged")
  })

  it("answers what is not an AdmissionReview with HTTP 400", () => {
    expect(reviewPodMutation({ hello: "world" }, [ips("x")])).toMatchObject({ result: "malformed", httpStatus: 400 })
    expect(reviewPodMutation({ apiVersion: "admission.k8s.io/v1", request: {} }, [ips("x")]).result).toBe("malformed")
  })
})
