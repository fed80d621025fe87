// The Pod mutation and the cleanup-safe validation, for real: kube-apiserver calls a controller-manager process
// that is a follower (another identity holds the Lease) at 127.0.0.1 URLs, trusting the CA bundle that process wrote
// into both webhook configurations. Pods created through the apiserver come back with our Secret appended (before
// the Secret exists); with no replica up, Pods are still created and ImagePullSecrets still deleted; bad specs are
// refused while a replica is up. There is no scheduler or kubelet: Pods stay Pending, which admission does not mind.
import { freePort, kubectl as runKubectl } from "@tcr-assistant/testkit/processes"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import { type ManagerProcess, startManagerProcess } from "./manager-process.ts"
import {
  connect,
  createNamespace,
  eventually,
  ipsPath,
  registerPodMutationByUrl,
  registerWebhookByUrl,
  runController,
  type RunningController,
  type TestCluster,
  uniqueName
} from "./support.ts"

const addonNamespace = "tcr-assistant-system"
const runId = uniqueName("pm")
const label = "tcr-assistant.test/pod-mutation"
const vwcName = `tcr-assistant-e2e-${runId}`
const mwcName = `tcr-assistant-e2e-${runId}`
const admissionPath = "/apis/admissionregistration.k8s.io/v1"
const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${addonNamespace}/leases`
const leaseName = `${runId}-lease`
const password = "pm-e2e-S3NTINEL-pass"

let cluster: TestCluster
let port = 0
let replica: ManagerProcess | undefined
let controller: RunningController | undefined

const kubectl = (args: ReadonlyArray<string>, input?: string) => runKubectl(inject("kubeconfigPath"), args, input)

const imagePullSecretBody = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "tcr.tencentcloudcr.com/v1",
  kind: "ImagePullSecret",
  // The label sends it to this run's validating webhook.
  metadata: { name, labels: { [label]: runId } },
  spec
})

const docker = { server: "pm.tencentcloudcr.com", username: "u", password }

/** A namespace this run's Pod mutation is called for, once its `default` ServiceAccount exists (Pods need it). */
const mutatedNamespace = async (prefix: string) => {
  const name = uniqueName(prefix)
  await cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name, labels: { [label]: runId } } } })
  await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${name}/serviceaccounts/default`)).toBeDefined())
  return name
}

interface Pod {
  readonly metadata: { readonly name: string }
  readonly spec: { readonly imagePullSecrets?: ReadonlyArray<{ readonly name: string }> }
}

const createPod = (namespace: string, spec: Record<string, unknown> = {}) =>
  cluster.request<Pod>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/pods`,
    body: {
      metadata: { generateName: "app-" },
      spec: { containers: [{ name: "app", image: "pm.tencentcloudcr.com/team/app:1" }], ...spec }
    }
  })

const pullSecretNames = (pod: Pod) => (pod.spec.imagePullSecrets ?? []).map((entry) => entry.name)

/**
 * The controller-manager in its own process, a follower for good: the Lease is held by an identity that never gives
 * it up. It serves both webhooks, as every replica does; only a leader would create Secrets.
 */
const startFollower = async (name: string) => {
  const started = startManagerProcess(name, {
    kubeconfig: inject("kubeconfigPath"),
    namespace: addonNamespace,
    identity: name,
    leaderElection: { leaseName },
    webhook: {
      host: "127.0.0.1",
      port,
      extraHosts: ["127.0.0.1"],
      secretName: `${runId}-cert`,
      configurationName: vwcName,
      mutatingConfigurationName: mwcName
    }
  })
  replica = started
  // Ready means both webhooks are served and the mutation's ImagePullSecret cache has synced; the apiserver can call
  // them once the process has written its CA bundle into both configurations.
  await eventually(async () => expect((await started.get("/readyz")).status).toBe(200), 120_000)
  await eventually(async () => {
    for (const resource of ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]) {
      const configuration = await cluster.get<any>(`${admissionPath}/${resource}/${resource.startsWith("v") ? vwcName : mwcName}`)
      expect(configuration.webhooks[0].clientConfig.caBundle, resource).toBeTruthy()
    }
  })
  return started
}

const stopFollower = async () => {
  const running = replica
  replica = undefined
  if (running === undefined) return
  running.tied.child.kill("SIGTERM")
  await running.tied.exited
}

const stopController = async () => {
  const running = controller
  controller = undefined
  await running?.stop()
}

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  await createNamespace(cluster, addonNamespace).catch((error: { _tag?: string }) => {
    if (error._tag !== "KubeConflict") throw error
  })
  const now = new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")
  await cluster.request({
    method: "POST",
    path: leasesPath,
    body: { metadata: { name: leaseName }, spec: { holderIdentity: "absent-leader", leaseDurationSeconds: 3600, acquireTime: now, renewTime: now } }
  })
  port = await freePort()
  // Only this run's labelled ImagePullSecrets and this run's labelled namespaces' Pods are sent to it.
  await registerWebhookByUrl(cluster, { name: vwcName, port, label, value: runId })
  await registerPodMutationByUrl(cluster, { name: mwcName, port, label, value: runId })
})

afterAll(async () => {
  await stopController()
  await stopFollower()
  await cluster?.request({ method: "DELETE", path: `${admissionPath}/validatingwebhookconfigurations/${vwcName}` }).catch(() => undefined)
  await cluster?.request({ method: "DELETE", path: `${admissionPath}/mutatingwebhookconfigurations/${mwcName}` }).catch(() => undefined)
  await cluster?.request({ method: "DELETE", path: `${leasesPath}/${leaseName}` }).catch(() => undefined)
  await cluster?.dispose()
})

describe("the Pod mutation, served by a follower", () => {
  const ips = `${runId}-ips`
  const secretName = `tcr.ips${ips}`
  let selected = ""
  let unselected = ""

  test("a Pod created through the apiserver comes back with our Secret appended, before the Secret exists", async () => {
    const follower = await startFollower("follower-1")
    selected = await mutatedNamespace("pm-on")
    unselected = await mutatedNamespace("pm-off")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecretBody(ips, { namespaces: selected, docker }) })

    // The follower's cache has the new ImagePullSecret once a Pod gets its Secret; no leader runs, so no Secret exists.
    const first = await eventually(async () => {
      const pod = await createPod(selected, { imagePullSecrets: [{ name: "user-b" }, { name: "user-a" }] })
      expect(pullSecretNames(pod)).toEqual(["user-b", "user-a", secretName])
      return pod
    })
    expect(await cluster.get(`/api/v1/namespaces/${selected}/secrets/${secretName}`)).toBeUndefined()
    // What the apiserver stored, not only what it answered.
    const stored = await cluster.get<Pod>(`/api/v1/namespaces/${selected}/pods/${first.metadata.name}`)
    expect(pullSecretNames(stored!)).toEqual(["user-b", "user-a", secretName])

    // No entries at all (the ServiceAccount has none to copy): the list is created with ours.
    expect(pullSecretNames(await createPod(selected))).toEqual([secretName])
    // Ours already there, first: nothing moves, nothing is added twice.
    expect(pullSecretNames(await createPod(selected, { imagePullSecrets: [{ name: secretName }, { name: "user-a" }] }))).toEqual([
      secretName,
      "user-a"
    ])
    // A namespace the ImagePullSecret does not select keeps the user's list as it is.
    expect(pullSecretNames(await createPod(unselected, { imagePullSecrets: [{ name: "user-a" }] }))).toEqual(["user-a"])
    // A mirror pod (a kubelet's static pod) may not reference Secrets: the matchCondition keeps it away from us.
    const mirror = await cluster
      .request<Pod>({
        method: "POST",
        path: `/api/v1/namespaces/${selected}/pods`,
        query: { dryRun: "All" },
        body: {
          metadata: { name: "static-web-node1", annotations: { "kubernetes.io/config.mirror": "hash" } },
          spec: { nodeName: "node1", containers: [{ name: "web", image: "pm.tencentcloudcr.com/team/web:1" }] }
        }
      })
      .catch((error: { message?: string }) => ({ rejected: error.message ?? String(error) }))
    expect(mirror).not.toHaveProperty("rejected")
    expect(pullSecretNames(mirror as Pod)).toEqual([])

    const served = follower.logs().filter((record) => record.msg === "added pull secrets to a pod")
    expect(served.length).toBeGreaterThanOrEqual(2)
    expect(follower.output()).not.toContain(password)
  })

  test("a ServiceAccount created with its Pod, before any controller saw it: the Pod still gets our Secret", async () => {
    // The race with the leader stopped: nothing has patched the new ServiceAccount.
    await cluster.request({ method: "POST", path: `/api/v1/namespaces/${selected}/serviceaccounts`, body: { metadata: { name: "builder" } } })
    const pod = await createPod(selected, { serviceAccountName: "builder" })
    expect(pullSecretNames(pod)).toEqual([secretName])
    const sa = await cluster.get<{ imagePullSecrets?: unknown }>(`/api/v1/namespaces/${selected}/serviceaccounts/builder`)
    expect(sa?.imagePullSecrets).toBeUndefined()
  })

  test("the Pod mutation selects as the controller does: namespace labels, exclusions and the opt-out label", async () => {
    const team = uniqueName("team")
    const teamNamespace = await mutatedNamespace("pm-team")
    await cluster.request({ method: "PATCH", path: `/api/v1/namespaces/${teamNamespace}`, contentType: "application/merge-patch+json", body: { metadata: { labels: { team } } } })
    await cluster.request({
      method: "POST",
      path: `/api/v1/namespaces/${teamNamespace}/serviceaccounts`,
      body: { metadata: { name: "quiet", labels: { "tcr.tencentcloudcr.com/ignore": "true" } } }
    })
    await cluster.request({ method: "POST", path: `/api/v1/namespaces/${teamNamespace}/serviceaccounts`, body: { metadata: { name: "build-bot" } } })
    const byLabel = uniqueName("pm-label")
    await cluster.request({
      method: "POST",
      path: ipsPath,
      body: imagePullSecretBody(byLabel, { namespaceSelector: { matchLabels: { team } }, excludedServiceAccounts: ["build-*"], docker })
    })
    await eventually(async () => expect(pullSecretNames(await createPod(teamNamespace))).toEqual([`tcr.ips${byLabel}`]))
    expect(pullSecretNames(await createPod(teamNamespace, { serviceAccountName: "quiet" }))).toEqual([])
    expect(pullSecretNames(await createPod(teamNamespace, { serviceAccountName: "build-bot" }))).toEqual([])
    // The namespace the first ImagePullSecret selects carries no team label: it gets only that one.
    expect(pullSecretNames(await createPod(selected))).toEqual([secretName])
    await cluster.request({ method: "PATCH", path: `/api/v1/namespaces/${teamNamespace}`, contentType: "application/merge-patch+json", body: { metadata: { labels: { team: null } } } })
    await eventually(async () => expect(pullSecretNames(await createPod(teamNamespace))).toEqual([]))
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${byLabel}` })
    await eventually(async () => expect(await cluster.get(`${ipsPath}/${byLabel}`)).toBeUndefined())
  })

  test("the reference is safe before the Secret exists: the leader creates it in the Pod's namespace", async () => {
    controller = await runController(inject("kubeconfigPath"))
    await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${selected}/secrets/${secretName}`)).toBeDefined())
    expect(await cluster.get(`/api/v1/namespaces/${unselected}/secrets/${secretName}`)).toBeUndefined()
    // The ServiceAccount now carries it too, so later Pods get it from the ServiceAccount admission plugin as well.
    await eventually(async () => {
      const sa = await cluster.get<{ imagePullSecrets?: Array<{ name: string }> }>(`/api/v1/namespaces/${selected}/serviceaccounts/default`)
      expect((sa?.imagePullSecrets ?? []).map((entry) => entry.name)).toContain(secretName)
    })
    expect(pullSecretNames(await createPod(selected))).toEqual([secretName])
    // And the finalizer is on, for the deletion tests below.
    await eventually(async () => expect((await cluster.get<any>(`${ipsPath}/${ips}`))?.metadata.finalizers?.length ?? 0).toBeGreaterThan(0))
  })

  test("with every webhook replica down, Pod creation still succeeds (failurePolicy Ignore)", async () => {
    await stopFollower()
    const started = performance.now()
    const pod = await createPod(unselected, { imagePullSecrets: [{ name: "user-a" }] })
    console.log(`Pod create with the mutating webhook unreachable: ${(performance.now() - started).toFixed(0)} ms`)
    expect(pullSecretNames(pod)).toEqual(["user-a"])
  })
})

describe("the validating webhook never blocks cleanup", () => {
  test("with no replica up: labels change, spec edits are refused, and deletion completes while the controller runs", async () => {
    expect(replica).toBeUndefined()
    const name = `${runId}-del-a`
    await startFollower("follower-2")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecretBody(name, { namespaces: "*", docker }) })
    await stopFollower()
    controller ??= await runController(inject("kubeconfigPath"))
    await eventually(async () => expect((await cluster.get<any>(`${ipsPath}/${name}`))?.metadata.finalizers?.length ?? 0).toBeGreaterThan(0))

    // Metadata only: not sent to the webhook, so not blocked by its absence.
    const labelled = await kubectl(["label", "imagepullsecret", name, "team=a"])
    expect(labelled.stderr).toBe("")
    expect(labelled.status).toBe(0)
    // A spec edit is: with no replica to judge it, fail-closed refuses it.
    const edited = await kubectl(["patch", "imagepullsecret", name, "--type=merge", "-p", JSON.stringify({ spec: { namespaces: "a,b" } })])
    expect(edited.status).not.toBe(0)
    expect(edited.stderr).toContain("failed calling webhook")

    const started = performance.now()
    const deleted = await kubectl(["delete", "imagepullsecret", name, "--wait=true", "--timeout=120s"])
    expect(deleted.stderr).toBe("")
    expect(deleted.status).toBe(0)
    console.log(`kubectl delete ipss with no webhook replica up, controller running: ${(performance.now() - started).toFixed(0)} ms`)
    expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined()
  })

  test("with the controller down as well, deletion waits for it and completes when it comes back", async () => {
    expect(replica).toBeUndefined()
    const name = `${runId}-del-b`
    await startFollower("follower-3")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecretBody(name, { namespaces: "*", docker }) })
    controller ??= await runController(inject("kubeconfigPath"))
    await eventually(async () => expect((await cluster.get<any>(`${ipsPath}/${name}`))?.metadata.finalizers?.length ?? 0).toBeGreaterThan(0))
    // Every replica gone: no webhook, no controller.
    await stopFollower()
    await stopController()

    const requested = await kubectl(["delete", "imagepullsecret", name, "--wait=false"])
    expect(requested.status).toBe(0)
    const pending = await cluster.get<any>(`${ipsPath}/${name}`)
    expect(pending?.metadata.deletionTimestamp).toBeDefined()

    controller = await runController(inject("kubeconfigPath"))
    await eventually(async () => expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined())
  })

  test("while a replica is up, bad specs are still refused with their field paths, on create and on edit", async () => {
    await startFollower("follower-4")
    const bad = await kubectl(["apply", "-f", "-"], JSON.stringify(imagePullSecretBody(`${runId}-bad`, { namespaces: "Bad_Name", docker })))
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toContain("denied the request: spec.namespaces:")
    expect(bad.stderr).not.toContain(password)

    const good = `${runId}-good`
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecretBody(good, { namespaces: "*", docker }) })
    const edit = await kubectl(["patch", "imagepullsecret", good, "--type=merge", "-p", JSON.stringify({ spec: { serviceAccounts: "-dash" } })])
    expect(edit.status).not.toBe(0)
    expect(edit.stderr).toContain("spec.serviceAccounts:")
    expect((await kubectl(["delete", "imagepullsecret", good, "--wait=true", "--timeout=120s"])).status).toBe(0)
  })
})
