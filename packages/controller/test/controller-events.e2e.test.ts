// The Events the controller records on a real control plane: a Warning when a target enters Conflict, and a Normal
// Distributed once per generation of the ImagePullSecret, however often it is reconciled in between; and a request
// an admission policy refuses (403) is Failed, not retried, until the spec changes.
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import {
  connect,
  createNamespace,
  createServiceAccount,
  eventually,
  imagePullSecret,
  ipsPath,
  runController,
  type RunningController,
  type TestCluster,
  uniqueName
} from "./support.ts"
import { setTimeout as sleep } from "node:timers/promises"

let cluster: TestCluster
let running: RunningController

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  running = await runController(cluster.kubeconfigPath)
})

afterAll(async () => {
  await running?.stop()
  await cluster?.dispose()
})

const password = "events-password-9f2c"
const docker = { server: "registry.example.com", username: "robot", password }

interface KubeEvent {
  readonly type: string
  readonly reason: string
  readonly message: string
  readonly count?: number
  readonly involvedObject: { readonly kind: string; readonly name: string; readonly uid?: string }
}

/** Events about an ImagePullSecret: it is cluster-scoped, so they live in `default`. */
const eventsOf = async (name: string): Promise<ReadonlyArray<KubeEvent>> => {
  const list = await cluster.get<{ items: Array<KubeEvent> }>(
    `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=ImagePullSecret,involvedObject.name=${name}`)}`
  )
  return list?.items ?? []
}

const countOf = (events: ReadonlyArray<KubeEvent>, reason: string) =>
  events.filter((event) => event.reason === reason).reduce((sum, event) => sum + (event.count ?? 1), 0)

const getIps = (name: string) => cluster.get<any>(`${ipsPath}/${name}`)

const settledGeneration = (name: string) =>
  eventually(async () => {
    const ips = await getIps(name)
    expect(ips.status?.observedGeneration).toBe(ips.metadata.generation)
    expect(ips.status?.conditions?.[0]).toMatchObject({ type: "Ready", status: "True", reason: "Distributed" })
    return ips
  })

describe("events", () => {
  test("a target in Conflict gets a Warning on its ImagePullSecret, naming the Secret and no credential", async () => {
    const ns = uniqueName("ev-conflict")
    await createNamespace(cluster, ns)
    const name = uniqueName("ev-clash")
    await cluster.request({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: `tcr.ips${name}` }, type: "Opaque", stringData: { mine: "user data" } }
    })
    const created = await cluster.request<any>({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, docker }) })
    const warning = await eventually(async () => {
      const found = (await eventsOf(name)).find((event) => event.type === "Warning" && event.reason === "SecretNotOwned")
      expect(found).toBeDefined()
      return found!
    })
    expect(warning.involvedObject.uid).toBe(created.metadata.uid)
    expect(warning.message).toContain(ns)
    expect(JSON.stringify(await eventsOf(name))).not.toContain(password)
    // The conditions say the same, in kstatus's words too: Degraded, and Stalled while nobody can retry it.
    await eventually(async () => {
      const conditions = (await getIps(name)).status.conditions
      expect(conditions.find((c: any) => c.type === "Degraded")).toMatchObject({ status: "True", reason: "TargetsFailing" })
      expect(conditions.find((c: any) => c.type === "Stalled")).toMatchObject({ status: "True", reason: "WaitingForChange" })
    })
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  })

  test("Distributed is recorded once per generation, not at every reconcile", async () => {
    const ns = uniqueName("ev-dist")
    await createNamespace(cluster, ns)
    const name = uniqueName("ev-dist")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, docker }) })
    await settledGeneration(name)
    await eventually(async () => expect(countOf(await eventsOf(name), "Distributed")).toBe(1))

    // Reconciles without a new generation: a ServiceAccount comes and the status changes, a namespace elsewhere.
    await createServiceAccount(cluster, ns, "builder")
    await createNamespace(cluster, uniqueName("ev-elsewhere"))
    await eventually(async () => expect((await getIps(name)).status.serviceAccountsSuccess).toBe(2))
    await sleep(2_000)
    expect(countOf(await eventsOf(name), "Distributed")).toBe(1)

    // A new generation is distributed again, and announced again.
    await cluster.request({
      method: "PATCH",
      path: `${ipsPath}/${name}`,
      contentType: "application/merge-patch+json",
      body: { spec: { docker: { password: "rotated-events-password" } } }
    })
    await settledGeneration(name)
    await eventually(async () => expect(countOf(await eventsOf(name), "Distributed")).toBe(2))
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  })
  test("a request an admission policy forbids is Failed, not retried, and sent again once the spec changes", async () => {
    const ns = uniqueName("ev-refused")
    const policy = uniqueName("ev-no-pull-secrets")
    await cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns, labels: { [policy]: "deny" } } } })
    const vap = "/apis/admissionregistration.k8s.io/v1"
    await cluster.request({
      method: "POST",
      path: `${vap}/validatingadmissionpolicies`,
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["secrets"] }] },
          validations: [{ expression: "!object.metadata.name.startsWith('tcr.ips')", reason: "Forbidden", message: "no pull Secrets here" }]
        }
      }
    })
    await cluster.request({
      method: "POST",
      path: `${vap}/validatingadmissionpolicybindings`,
      body: {
        metadata: { name: policy },
        spec: { policyName: policy, validationActions: ["Deny"], matchResources: { namespaceSelector: { matchLabels: { [policy]: "deny" } } } }
      }
    })
    // The apiserver applies a new policy a moment later: wait until it refuses a probe.
    await eventually(async () => {
      const probe = await cluster
        .request({ method: "POST", path: `/api/v1/namespaces/${ns}/secrets`, body: { metadata: { name: "tcr.ipsprobe" }, stringData: { a: "b" } } })
        .then(() => "created", (error: Error) => error.message)
      await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${ns}/secrets/tcr.ipsprobe` }).catch(() => undefined)
      expect(probe).toContain("no pull Secrets here")
    })

    const name = uniqueName("ev-refused")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, docker }) })
    const secretTarget = (status: any) => status?.targets?.find((target: any) => target.kind === "Secret" && target.namespace === ns)
    await eventually(async () => {
      const status = (await getIps(name)).status
      expect(secretTarget(status)).toMatchObject({ state: "Failed", reason: "Forbidden" })
      expect(status.conditions.find((c: any) => c.type === "Stalled")).toMatchObject({ status: "True" })
    })
    await eventually(async () => expect(countOf(await eventsOf(name), "Forbidden")).toBe(1))
    // Not retried: a retry would back off (BackingOff) and record the failure again.
    await sleep(3_000)
    expect(secretTarget((await getIps(name)).status)).toMatchObject({ state: "Failed" })
    expect(countOf(await eventsOf(name), "Forbidden")).toBe(1)

    // The policy goes and the spec changes: the new generation sends the request again, and it succeeds.
    await cluster.request({ method: "DELETE", path: `${vap}/validatingadmissionpolicybindings/${policy}` })
    await cluster.request({ method: "DELETE", path: `${vap}/validatingadmissionpolicies/${policy}` })
    await eventually(async () => {
      const probe = await cluster
        .request({ method: "POST", path: `/api/v1/namespaces/${ns}/secrets`, body: { metadata: { name: "tcr.ipsprobe" }, stringData: { a: "b" } } })
        .then(() => "created", (error: Error) => error.message)
      await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${ns}/secrets/tcr.ipsprobe` }).catch(() => undefined)
      expect(probe).toBe("created")
    })
    await cluster.request({
      method: "PATCH",
      path: `${ipsPath}/${name}`,
      contentType: "application/merge-patch+json",
      body: { spec: { docker: { password: "after-the-policy" } } }
    })
    await settledGeneration(name)
    expect((await cluster.get<any>(`/api/v1/namespaces/${ns}/secrets/tcr.ips${name}`))?.type).toBe("kubernetes.io/dockerconfigjson")
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  })
})
