// Pods admitted without our pull Secret, for real: the Pod mutation is registered at a port where nothing listens
// (the webhook unreachable: failurePolicy Ignore admits the Pods as they are), Pods are created before their
// ImagePullSecret, and a controller-manager process counts them in the ImagePullSecret's status and its metric,
// records one Warning Event on each with the fix, drops a Pod from the count once it is recreated with the Secret,
// and deletes a controller-owned Pod failing to pull only with --delete-stuck-pods. There is no kubelet: the pull
// failure is written into the Pod's status as a kubelet would write it.
import { freePort } from "@tcr-assistant/testkit/processes"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import { type ManagerProcess, startManagerProcess } from "./manager-process.ts"
import { connect, eventually, ipsPath, registerPodMutationByUrl, type TestCluster, uniqueName } from "./support.ts"

const runId = uniqueName("sp")
const label = "tcr-assistant.test/stuck-pods"
const mwcName = `tcr-assistant-e2e-${runId}`
const ips = `${runId}-ips`
const secretName = `tcr.ips${ips}`
const password = "sp-e2e-S3NTINEL-pass"

let cluster: TestCluster
let manager: ManagerProcess | undefined
let namespace = ""

interface Pod {
  readonly metadata: { readonly name: string; readonly uid: string }
  readonly spec: { readonly imagePullSecrets?: ReadonlyArray<{ readonly name: string }> }
}

interface Event {
  readonly type: string
  readonly reason: string
  readonly message: string
  readonly count?: number
  readonly involvedObject: { readonly name: string; readonly uid?: string }
}

const startManager = async (name: string, deleteStuckPods: boolean) => {
  const started = startManagerProcess(name, {
    kubeconfig: inject("kubeconfigPath"),
    leaderElection: { enabled: false },
    webhook: { enabled: false },
    statusIntervalMillis: 200,
    deleteStuckPods
  })
  manager = started
  await eventually(async () => expect((await started.get("/readyz")).status).toBe(200), 120_000)
  return started
}

const stopManager = async () => {
  const running = manager
  manager = undefined
  if (running === undefined) return
  running.tied.child.kill("SIGTERM")
  await running.tied.exited
}

const createPod = (name: string, metadata: Record<string, unknown> = {}, imagePullSecrets?: ReadonlyArray<{ name: string }>) =>
  cluster.request<Pod>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/pods`,
    body: {
      metadata: { name, ...metadata },
      spec: { ...(imagePullSecrets !== undefined ? { imagePullSecrets } : {}), containers: [{ name: "app", image: "sp.tencentcloudcr.com/team/app:1" }] }
    }
  })

const podsMissing = async () =>
  (await cluster.get<{ status?: { podsMissingSecret?: { count: number; pods: Array<{ namespace: string; name: string }> } } }>(
    `${ipsPath}/${ips}`
  ))?.status?.podsMissingSecret

const eventsOf = async (pod: string, reason: string) =>
  (await cluster.request<{ items: Array<Event> }>({
    method: "GET",
    path: `/api/v1/namespaces/${namespace}/events`,
    query: { fieldSelector: `involvedObject.name=${pod},reason=${reason}` }
  })).items

/** The one Event of the Pod with that reason, once the controller recorded it. */
const theEvent = (pod: string, reason = "MissingPullSecret") =>
  eventually(async () => {
    const events = await eventsOf(pod, reason)
    expect(events).toHaveLength(1)
    return events[0]!
  })

/** What a kubelet writes when the image cannot be pulled. */
const failPull = (pod: string) =>
  cluster.request({
    method: "PATCH",
    path: `/api/v1/namespaces/${namespace}/pods/${pod}/status`,
    contentType: "application/merge-patch+json",
    body: {
      status: {
        containerStatuses: [{
          name: "app",
          image: "sp.tencentcloudcr.com/team/app:1",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } }
        }]
      }
    }
  })

const metric = async (name: string) => (await manager!.metrics()).get(`${name}{imagepullsecret="${ips}"}`)

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  // The mutation is configured as the manifests configure it, at a port where no replica answers.
  await registerPodMutationByUrl(cluster, { name: mwcName, port: await freePort(), label, value: runId })
  namespace = uniqueName("sp")
  await cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: namespace, labels: { [label]: runId } } } })
  await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${namespace}/serviceaccounts/default`)).toBeDefined())
})

afterAll(async () => {
  await stopManager()
  await cluster?.request({ method: "DELETE", path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${mwcName}` }).catch(() => undefined)
  await cluster?.request({ method: "DELETE", path: `${ipsPath}/${ips}` }).catch(() => undefined)
  await cluster?.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}` }).catch(() => undefined)
  await cluster?.dispose()
})

describe("Pods admitted without the pull Secret", () => {
  let replicaSetUid = ""

  test("are counted in the status and the metric, and get one Warning Event each with the fix", async () => {
    // Pods created before the install, one bare and one of a Deployment's ReplicaSet (no ReplicaSet controller runs
    // on this plane: the objects stand as a Deployment would leave them).
    const replicaSet = await cluster.request<{ metadata: { uid: string } }>({
      method: "POST",
      path: `/apis/apps/v1/namespaces/${namespace}/replicasets`,
      body: {
        metadata: { name: "web-5d8f7c9b6", labels: { app: "web", "pod-template-hash": "5d8f7c9b6" } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: "web", "pod-template-hash": "5d8f7c9b6" } },
          template: { metadata: { labels: { app: "web", "pod-template-hash": "5d8f7c9b6" } }, spec: { containers: [{ name: "app", image: "sp.tencentcloudcr.com/team/app:1" }] } }
        }
      }
    })
    replicaSetUid = replicaSet.metadata.uid
    const owned = {
      labels: { app: "web", "pod-template-hash": "5d8f7c9b6" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5d8f7c9b6", uid: replicaSetUid, controller: true }]
    }
    const bare = await createPod("bare")
    const web = await createPod("web-5d8f7c9b6-abcde", owned)
    expect(bare.spec.imagePullSecrets).toBeUndefined()
    expect(web.spec.imagePullSecrets).toBeUndefined()

    const started = await startManager("stuck-report", false)
    await cluster.request({
      method: "POST",
      path: ipsPath,
      body: {
        apiVersion: "tcr.tencentcloudcr.com/v1",
        kind: "ImagePullSecret",
        metadata: { name: ips },
        spec: { namespaces: namespace, serviceAccounts: "*", docker: { server: "sp.tencentcloudcr.com", username: "u", password } }
      }
    })
    await eventually(async () =>
      expect(await podsMissing()).toEqual({
        count: 2,
        pods: [{ namespace, name: "bare" }, { namespace, name: "web-5d8f7c9b6-abcde" }]
      })
    )
    await eventually(async () => expect(await metric("tcr_assistant_pods_missing_pull_secret")).toBe(2))

    const bareEvent = await theEvent("bare")
    expect(bareEvent.type).toBe("Warning")
    expect(bareEvent.involvedObject.uid).toBe(bare.metadata.uid)
    expect(bareEvent.message).toContain(secretName)
    expect(bareEvent.message).toContain("delete and recreate it")
    const webEvent = await theEvent("web-5d8f7c9b6-abcde")
    expect(webEvent.message).toContain(`kubectl rollout restart deployment/web -n ${namespace}`)

    // Deliveries again (a status update, as a kubelet makes, and a label edit) do not repeat the Event. A Pod created
    // after them is a marker: once its Event exists, the controller has seen the updates before it.
    await failPull("web-5d8f7c9b6-abcde")
    await cluster.request({
      method: "PATCH",
      path: `/api/v1/namespaces/${namespace}/pods/bare`,
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { touched: "yes" } } }
    })
    // By now the ServiceAccount may have our entry, which the admission plugin copies only into a Pod naming no
    // pull Secrets: the marker names its own, so with the webhook unreachable it misses ours whatever the timing.
    const marker = await createPod("marker", {}, [{ name: "users-own" }])
    expect(marker.spec.imagePullSecrets?.map((entry) => entry.name) ?? []).not.toContain(secretName)
    await theEvent("marker")
    for (const pod of ["bare", "web-5d8f7c9b6-abcde"]) {
      const events = await eventsOf(pod, "MissingPullSecret")
      expect(events, pod).toHaveLength(1)
      expect(events[0]!.count ?? 1, pod).toBe(1)
    }
    // Without --delete-stuck-pods the failing Pod of a controller stays (the marker's Event came after its update).
    expect(await cluster.get(`/api/v1/namespaces/${namespace}/pods/web-5d8f7c9b6-abcde`)).toBeDefined()
    expect(started.output()).not.toContain(password)
  })

  test("drop from the count once recreated with the Secret", async () => {
    await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}/pods/bare`, query: { gracePeriodSeconds: 0 } })
    // The ServiceAccount has our entry now: the admission plugin copies it into a Pod that names none.
    await eventually(async () => {
      const account = await cluster.get<{ imagePullSecrets?: Array<{ name: string }> }>(`/api/v1/namespaces/${namespace}/serviceaccounts/default`)
      expect(account?.imagePullSecrets?.map((entry) => entry.name)).toContain(secretName)
    })
    await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${namespace}/pods/bare`)).toBeUndefined())
    const fixed = await createPod("bare")
    expect(fixed.spec.imagePullSecrets?.map((entry) => entry.name)).toContain(secretName)
    await eventually(async () => {
      const missing = await podsMissing()
      expect(missing?.pods.map((pod) => pod.name)).toEqual(["marker", "web-5d8f7c9b6-abcde"])
      expect(missing?.count).toBe(2)
    })
    await eventually(async () => expect(await metric("tcr_assistant_pods_missing_pull_secret")).toBe(2))
  })

  test("with --delete-stuck-pods, the controller deletes the controller-owned Pod failing to pull, and no other", async () => {
    await stopManager()
    const started = await startManager("stuck-delete", true)
    await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${namespace}/pods/web-5d8f7c9b6-abcde`)).toBeUndefined())
    const deleted = await theEvent("web-5d8f7c9b6-abcde", "DeletedMissingPullSecret")
    expect(deleted.type).toBe("Normal")
    await eventually(async () => expect((await started.metrics()).get("tcr_assistant_stuck_pods_deleted_total")).toBe(1))
    await eventually(async () => expect((await podsMissing())?.pods.map((pod) => pod.name)).toEqual(["marker"]))
    // The marker fails to pull too, but no controller owns it: deleting it would lose it for good.
    await failPull("marker")
    await createPod("marker-2", {}, [{ name: "users-own" }])
    await theEvent("marker-2")
    expect(await cluster.get(`/api/v1/namespaces/${namespace}/pods/marker`)).toBeDefined()
    expect((await started.metrics()).get("tcr_assistant_stuck_pods_deleted_total")).toBe(1)
  })
})
