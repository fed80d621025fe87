// Pods admitted without our pull Secret: the Pod projection, which Pods count, the fix each Event gives, which Pods
// may be deleted, and the index against a brute-force recount under any sequence of changes, reporting each Pod once.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type Distribution, toDistribution } from "../src/distribution.ts"
import {
  deletable,
  fixMessage,
  makeMissingPullSecretIndex,
  missesPullSecret,
  type NewlyMissing,
  type Pod,
  slimPod
} from "../src/missing-pull-secret.ts"

const ips = (name: string, selectors: { namespaces?: string; serviceAccounts?: string } = {}) =>
  toDistribution({
    metadata: { name, uid: `uid-${name}` },
    spec: { ...selectors, docker: { server: "demo.tencentcloudcr.com", username: "u", password: "not-a-secret" } }
  })

const pod = (namespace: string, name: string, extra: {
  uid?: string
  serviceAccountName?: string
  imagePullSecrets?: ReadonlyArray<string>
  owner?: { kind: string; name: string }
  hash?: string
  waiting?: string
  phase?: string
  mirror?: boolean
} = {}): Pod => ({
  metadata: {
    name,
    namespace,
    uid: extra.uid ?? `${namespace}-${name}`,
    resourceVersion: "1",
    ...(extra.hash !== undefined ? { labels: { "pod-template-hash": extra.hash, app: "web" } } : { labels: { app: "web" } }),
    annotations: { "kubectl.kubernetes.io/restartedAt": "x", ...(extra.mirror === true ? { "kubernetes.io/config.mirror": "h" } : {}) },
    ...(extra.owner !== undefined
      ? { ownerReferences: [{ apiVersion: "apps/v1", kind: extra.owner.kind, name: extra.owner.name, uid: "owner-uid", controller: true, blockOwnerDeletion: true }] as any }
      : {}),
    managedFields: [{ manager: "kubectl" }]
  },
  spec: {
    ...(extra.serviceAccountName !== undefined ? { serviceAccountName: extra.serviceAccountName } : {}),
    ...(extra.imagePullSecrets !== undefined ? { imagePullSecrets: extra.imagePullSecrets.map((n) => ({ name: n })) } : {}),
    containers: [{ name: "app", image: "demo.tencentcloudcr.com/team/app:1", env: [{ name: "A", value: "b" }] }]
  } as unknown as Pod["spec"],
  status: {
    phase: extra.phase ?? "Pending",
    conditions: [{ type: "Ready", status: "False" }],
    containerStatuses: [
      { name: "app", image: "x", state: extra.waiting !== undefined ? { waiting: { reason: extra.waiting, message: "long text" } } : { running: {} } }
    ]
  } as unknown as Pod["status"]
})

describe("slimPod", () => {
  it("keeps only what the rules read, and is a fixed point", () => {
    const full = pod("apps", "web-7d4b9-abcde", {
      serviceAccountName: "builder",
      imagePullSecrets: ["user"],
      owner: { kind: "ReplicaSet", name: "web-7d4b9" },
      hash: "7d4b9",
      waiting: "ImagePullBackOff"
    })
    const slim = slimPod(full)
    expect(slim).toEqual({
      metadata: {
        name: "web-7d4b9-abcde",
        namespace: "apps",
        uid: "apps-web-7d4b9-abcde",
        resourceVersion: "1",
        labels: { "pod-template-hash": "7d4b9" },
        ownerReferences: [{ kind: "ReplicaSet", name: "web-7d4b9", uid: "owner-uid", controller: true }]
      },
      spec: { serviceAccountName: "builder", imagePullSecrets: [{ name: "user" }] },
      status: { phase: "Pending", containerStatuses: [{ state: { waiting: { reason: "ImagePullBackOff" } } }] }
    })
    expect(slimPod(slim)).toEqual(slim)
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(full).length)
  })
})

describe("missesPullSecret", () => {
  const every = ips("every")
  const builders = ips("builders", { namespaces: "apps", serviceAccounts: "builder" })
  it("counts a selected Pod without the Secret, with the ServiceAccount `default` when unset", () => {
    expect(missesPullSecret(every, pod("apps", "a"))).toBe(true)
    expect(missesPullSecret(builders, pod("apps", "a"))).toBe(false)
    expect(missesPullSecret(builders, pod("apps", "a", { serviceAccountName: "builder" }))).toBe(true)
    expect(missesPullSecret(builders, pod("web", "a", { serviceAccountName: "builder" }))).toBe(false)
  })
  it("does not count a Pod that carries it, finished, terminating or mirror Pods, nor the excluded namespace", () => {
    expect(missesPullSecret(every, pod("apps", "a", { imagePullSecrets: ["user", "tcr.ipsevery"] }))).toBe(false)
    expect(missesPullSecret(every, pod("apps", "a", { phase: "Succeeded" }))).toBe(false)
    expect(missesPullSecret(every, pod("apps", "a", { phase: "Failed" }))).toBe(false)
    expect(missesPullSecret(every, pod("apps", "a", { mirror: true }))).toBe(false)
    const terminating = pod("apps", "a")
    expect(missesPullSecret(every, { ...terminating, metadata: { ...terminating.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" } })).toBe(false)
    expect(missesPullSecret(every, pod("tcr-assistant-system", "a"), "tcr-assistant-system")).toBe(false)
  })
})

describe("fixMessage", () => {
  it("names the Deployment to roll for a ReplicaSet's Pod, the workload for a StatefulSet's, else deleting the Pod", () => {
    const deployment = fixMessage(pod("apps", "web-7d4b9-x", { owner: { kind: "ReplicaSet", name: "web-7d4b9" }, hash: "7d4b9" }), "tcr.ipsa")
    expect(deployment).toContain("kubectl rollout restart deployment/web -n apps")
    expect(deployment).toContain("tcr.ipsa")
    expect(fixMessage(pod("apps", "db-0", { owner: { kind: "StatefulSet", name: "db" } }), "tcr.ipsa")).toContain(
      "kubectl rollout restart statefulset/db -n apps"
    )
    expect(fixMessage(pod("apps", "job-x", { owner: { kind: "Job", name: "job" } }), "tcr.ipsa")).toContain(
      "kubectl delete pod job-x -n apps) and its Job job recreates it"
    )
    expect(fixMessage(pod("apps", "bare"), "tcr.ipsa")).toContain("delete and recreate it")
  })
})

describe("deletable", () => {
  const owned = { owner: { kind: "ReplicaSet", name: "web-1" }, waiting: "ImagePullBackOff" }
  const referenced = () => true
  it("only a Pod failing to pull, owned by a controller, with no entries of its own, whose ServiceAccount has ours", () => {
    expect(deletable(pod("apps", "a", owned), referenced, "tcr.ipsa")).toBe(true)
    expect(deletable(pod("apps", "a", { ...owned, waiting: "ErrImagePull" }), referenced, "tcr.ipsa")).toBe(true)
    expect(deletable(pod("apps", "a", { ...owned, waiting: "ContainerCreating" }), referenced, "tcr.ipsa")).toBe(false)
    expect(deletable(pod("apps", "a", { waiting: "ImagePullBackOff" }), referenced, "tcr.ipsa")).toBe(false)
    expect(deletable(pod("apps", "a", { ...owned, imagePullSecrets: ["user"] }), referenced, "tcr.ipsa")).toBe(false)
    expect(deletable(pod("apps", "a", owned), () => false, "tcr.ipsa")).toBe(false)
  })
})

type Step =
  | { readonly _tag: "Pod"; readonly namespace: string; readonly name: string; readonly generation: number; readonly account: string; readonly carries: ReadonlyArray<string> }
  | { readonly _tag: "DeletePod"; readonly namespace: string; readonly name: string }
  | { readonly _tag: "Ips"; readonly name: string; readonly namespaces: string; readonly serviceAccounts: string }
  | { readonly _tag: "DeleteIps"; readonly name: string }
  | { readonly _tag: "Redeliver" }

const namespaces = ["a", "b", "c"]
const ipsNames = ["x", "y"]
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    _tag: fc.constant("Pod" as const),
    namespace: fc.constantFrom(...namespaces),
    name: fc.constantFrom("p1", "p2", "p3"),
    generation: fc.integer({ min: 0, max: 2 }),
    account: fc.constantFrom("default", "builder"),
    carries: fc.subarray(["tcr.ipsx", "tcr.ipsy", "user"])
  }),
  fc.record({ _tag: fc.constant("DeletePod" as const), namespace: fc.constantFrom(...namespaces), name: fc.constantFrom("p1", "p2", "p3") }),
  fc.record({
    _tag: fc.constant("Ips" as const),
    name: fc.constantFrom(...ipsNames),
    namespaces: fc.constantFrom("*", "a", "a,b", "c"),
    serviceAccounts: fc.constantFrom("*", "builder")
  }),
  fc.record({ _tag: fc.constant("DeleteIps" as const), name: fc.constantFrom(...ipsNames) }),
  fc.constant({ _tag: "Redeliver" as const })
)

describe("the missing-Secret index", () => {
  it("always equals a recount, and reports each Pod once per stretch of missing, however often it is delivered", () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { maxLength: 40 }), fc.integer({ min: 0, max: 3 }), (steps, maxExamples) => {
        const pods = new Map<string, Pod>()
        const specs = new Map<string, Distribution>()
        const index = makeMissingPullSecretIndex({ distributions: () => specs.values(), pods: () => pods.values(), maxExamples })
        /** Model: per (ips, pod key), the uid reported during the current stretch of missing. */
        const modelReported = new Map<string, string>()
        const missingNow = () => {
          const result = new Map<string, string>()
          for (const distribution of specs.values()) {
            for (const [key, p] of pods) if (missesPullSecret(distribution, p)) result.set(`${distribution.name}|${key}`, p.metadata.uid ?? "")
          }
          return result
        }
        let before = missingNow()
        for (const step of steps) {
          const reports: Array<NewlyMissing> = []
          switch (step._tag) {
            case "Pod": {
              const p = slimPod(pod(step.namespace, step.name, {
                uid: `${step.namespace}-${step.name}-${step.generation}`,
                serviceAccountName: step.account,
                imagePullSecrets: step.carries
              }))
              pods.set(`${step.namespace}/${step.name}`, p)
              reports.push(...index.podChanged(p).reported)
              break
            }
            case "DeletePod": {
              const p = pods.get(`${step.namespace}/${step.name}`)
              if (p === undefined) break
              pods.delete(`${step.namespace}/${step.name}`)
              index.podDeleted(p)
              break
            }
            case "Ips": {
              const distribution = ips(step.name, { namespaces: step.namespaces, serviceAccounts: step.serviceAccounts })
              specs.set(step.name, distribution)
              reports.push(...index.imagePullSecretChanged(step.name, distribution))
              break
            }
            case "DeleteIps":
              specs.delete(step.name)
              reports.push(...index.imagePullSecretChanged(step.name, undefined))
              break
            case "Redeliver":
              // An informer relist or a status update delivers every Pod again: nothing new to report.
              for (const p of pods.values()) reports.push(...index.podChanged(p).reported)
              break
          }
          const after = missingNow()
          // A pair that stopped missing (or whose Pod is another uid now) starts a new stretch when it comes back.
          for (const [pair, uid] of before) if (after.get(pair) !== uid) modelReported.delete(pair)
          for (const report of reports) {
            const pair = `${report.imagePullSecret}|${report.pod.metadata.namespace}/${report.pod.metadata.name}`
            expect(after.get(pair), `${pair} reported but not missing`).toBe(report.pod.metadata.uid)
            expect(modelReported.get(pair), `${pair} reported twice`).toBeUndefined()
            modelReported.set(pair, report.pod.metadata.uid ?? "")
          }
          for (const [pair, uid] of after) expect(modelReported.get(pair), `${pair} never reported`).toBe(uid)
          before = after
        }
        for (const name of ipsNames) {
          const expected = [...before.keys()].filter((pair) => pair.startsWith(`${name}|`)).map((pair) => pair.slice(name.length + 1)).sort()
          const counted = index.of(name)
          expect(counted.count).toBe(expected.length)
          expect(counted.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual(expected.slice(0, maxExamples))
        }
      })
    )
  })

  it("reports a Pod once across many deliveries, and again after it was fixed and came back missing", () => {
    const pods = new Map<string, Pod>()
    const specs = new Map([["x", ips("x")]])
    const index = makeMissingPullSecretIndex({ distributions: () => specs.values(), pods: () => pods.values(), maxExamples: 10 })
    const stuck = slimPod(pod("a", "web"))
    pods.set("a/web", stuck)
    expect(index.podChanged(stuck).reported).toHaveLength(1)
    for (let i = 0; i < 5; i++) expect(index.podChanged({ ...stuck, metadata: { ...stuck.metadata, resourceVersion: `${i + 2}` } }).reported).toEqual([])
    expect(index.imagePullSecretChanged("x", specs.get("x"))).toEqual([])
    index.podDeleted(stuck)
    expect(index.of("x").count).toBe(0)
    const recreated = slimPod(pod("a", "web", { uid: "new" }))
    pods.set("a/web", recreated)
    expect(index.podChanged(recreated).reported).toHaveLength(1)
    expect(index.of("x")).toEqual({ count: 1, pods: [{ namespace: "a", name: "web" }] })
  })
})
