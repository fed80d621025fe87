// No Pod misses its pull Secret, proven on a real node with the add-on installed as users install it (two controller
// replicas, --delete-stuck-pods turned on as a user would: by editing the Deployment's arguments):
// - a Namespace and a Deployment in one `kubectl apply -f`, twenty times in a row, end with Running pods;
// - the race with one replica stopped (`kill -STOP` of its processes, found through the Pod's cgroup): once
//   Kubernetes takes it out of the webhook Service, the other replica's mutation gives the Pod the Secret;
// - with every replica stopped, Pods are admitted without it (failurePolicy Ignore): after `kill -CONT`, the bare
//   Pod is reported (status, Event) and the Deployment's Pod is deleted by the controller and recreated with it;
// - with the controller Deployment scaled to zero, Pod creation still works and the Pod is reported once it is back,
//   and an ImagePullSecret deleted meanwhile finishes deleting when the controller returns.
// Every duration measured is printed at the end.
import { readdirSync, readFileSync, rmSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { addonNamespace, controllerDeployment, installAddonOnNode, keepAddonPodLogs } from "@tcr-assistant/testkit/addon-on-node"
import { writeBusyboxImage } from "@tcr-assistant/testkit/busybox-image"
import { type ControlPlane, startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { eventually } from "@tcr-assistant/testkit/eventually"
import { type RealNode, startNode } from "@tcr-assistant/testkit/node"
import { kubectl, kubectlOn, secondsSince } from "@tcr-assistant/testkit/processes"
import { type Registry, startRegistry } from "@tcr-assistant/testkit/registry"

const user = { username: "100012345678", password: "tcr-admission-node-token-4b7e" }
const ipsName = "node-registry"
const managedSecret = `tcr.ips${ipsName}`
const raceRounds = 20

let plane: ControlPlane
let registry: Registry
let node: RealNode
let imageRef: string
let scratch: string
const figures: Record<string, number | string> = {}

const { run, json } = kubectlOn(() => plane.kubeconfigPath)

interface Pod {
  readonly metadata: { readonly name: string; readonly uid: string; readonly ownerReferences?: ReadonlyArray<{ kind: string }> }
  readonly spec: { readonly imagePullSecrets?: ReadonlyArray<{ readonly name: string }> }
  readonly status: { readonly phase?: string; readonly containerStatuses?: ReadonlyArray<{ state?: { waiting?: { reason?: string } } }> }
}

const pullSecretNames = (pod: Pod) => (pod.spec.imagePullSecrets ?? []).map((entry) => entry.name)

const podsIn = async (namespace: string, selector?: string) =>
  (await json<{ items: ReadonlyArray<Pod> }>(["get", "pods", "-n", namespace, ...(selector !== undefined ? ["-l", selector] : [])])).items

const runningPod = (namespace: string, name: string) =>
  eventually(async () => {
    const pod = await json<Pod>(["get", "pod", "-n", namespace, name])
    if (pod.status.phase !== "Running") throw new Error(`${name}: ${JSON.stringify(pod.status)}`)
    return pod
  }, 180_000)

/**
 * A pod as a user writes it: no imagePullSecrets, the private image, pulled at every start (`Always`), so that the
 * node's image cache cannot hide a missing Secret.
 */
const userPod = (namespace: string, name: string, serviceAccountName?: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace },
  spec: {
    terminationGracePeriodSeconds: 1,
    ...(serviceAccountName !== undefined ? { serviceAccountName } : {}),
    containers: [{ name: "app", image: imageRef, imagePullPolicy: "Always" }]
  }
})

/** Its Pods pull at every start too (see userPod). */
const deployment = (namespace: string, name: string, replicas: number, serviceAccountName?: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        terminationGracePeriodSeconds: 1,
        ...(serviceAccountName !== undefined ? { serviceAccountName } : {}),
        containers: [{ name: "app", image: imageRef, imagePullPolicy: "Always" }]
      }
    }
  }
})

const list = (...items: ReadonlyArray<unknown>) => JSON.stringify({ apiVersion: "v1", kind: "List", items })

const controllerPods = async () =>
  (await podsIn(addonNamespace, "app.kubernetes.io/component=controller-manager")).filter((pod) => pod.status.phase === "Running")

const leaderPodName = async () =>
  ((await json<{ spec: { holderIdentity?: string } }>(["get", "lease", "-n", addonNamespace, controllerDeployment])).spec
    .holderIdentity ?? "").split("_")[0]!

const findDirectory = (root: string, name: string): string | undefined => {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    if (entry.name === name) return join(root, name)
    const found = findDirectory(join(root, entry.name), name)
    if (found !== undefined) return found
  }
  return undefined
}

const processesUnder = (dir: string): ReadonlyArray<number> => [
  ...readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter((line) => line !== "").map(Number),
  ...readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).flatMap((entry) => processesUnder(join(dir, entry.name)))
]

/** The machine's PIDs of every process of the Pod (its containers and sandbox), from its cgroup on the node. */
const podProcesses = (uid: string): ReadonlyArray<number> => {
  const tree = node.cgroupTrees.find((candidate) => candidate.includes("/pids/")) ?? node.cgroupTrees.find((candidate) => candidate.includes("/memory/"))!
  const dir = findDirectory(tree, `pod${uid}`)
  if (dir === undefined) throw new Error(`no cgroup for pod ${uid}`)
  return processesUnder(dir)
}

const signal = (pids: ReadonlyArray<number>, name: "SIGSTOP" | "SIGCONT") => {
  for (const pid of pids) {
    try {
      process.kill(pid, name)
    } catch {
      // Gone meanwhile (the kubelet restarts a container whose liveness probe failed): nothing to resume.
    }
  }
}

const podsMissing = async () =>
  (await json<{ status?: { podsMissingSecret?: { count: number; pods: ReadonlyArray<{ namespace: string; name: string }> } } }>(
    ["get", "imagepullsecret", ipsName]
  )).status?.podsMissingSecret

const missingEvent = (namespace: string, pod: string) =>
  eventually(async () => {
    const events = await json<{ items: ReadonlyArray<{ message: string; type: string }> }>(
      ["get", "events", "-n", namespace, "--field-selector", `involvedObject.name=${pod},reason=MissingPullSecret`]
    )
    if (events.items.length !== 1) throw new Error(`${events.items.length} events`)
    return events.items[0]!
  }, 120_000)

/** Ready addresses of the webhook Service, as the apiserver's endpoint routing sees them. */
const readyWebhookPods = async () => {
  const slices = await json<{ items: ReadonlyArray<{ endpoints?: ReadonlyArray<{ conditions?: { ready?: boolean }; targetRef?: { name: string } }> }> }>(
    ["get", "endpointslices", "-n", addonNamespace, "-l", "kubernetes.io/service-name=tcr-assistant-webhook-service"]
  )
  return slices.items.flatMap((slice) => slice.endpoints ?? []).filter((endpoint) => endpoint.conditions?.ready === true)
    .map((endpoint) => endpoint.targetRef?.name ?? "")
}

const scaleController = async (replicas: number) => {
  const started = Date.now()
  await run(["scale", "deployment", controllerDeployment, "-n", addonNamespace, `--replicas=${replicas}`])
  await eventually(async () => {
    const pods = await podsIn(addonNamespace, "app.kubernetes.io/component=controller-manager")
    const ready = await readyWebhookPods()
    if (replicas === 0 ? pods.length > 0 : ready.length < replicas) throw new Error(`${pods.length} pods, ${ready.length} ready`)
  }, 300_000)
  return secondsSince(started)
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "admission-node-e2e-"))
  const started = Date.now()
  plane = await startControlPlane({ workloads: true })
  registry = await startRegistry({ user })
  const image = await writeBusyboxImage(scratch, { name: `${registry.domain}/team/app:1`, cmd: ["/bin/sh", "-c", "echo pulled; exec sleep 3600"] })
  imageRef = await registry.push(image.layoutDir, image.tag, "team/app")
  node = await startNode(plane, { machinePorts: [registry.port] })
  node.trustRegistry(registry.host, registry.caCertPem)
  const installStarted = Date.now()
  await installAddonOnNode(plane, node)
  figures["install (s)"] = secondsSince(installStarted)
  // The registry's name resolves to the machine's port only through hosts-updater's block.
  await run(["patch", "configmap", "updater-config", "-n", addonNamespace, "--type=merge", "-p",
    JSON.stringify({ data: { hosts: `${node.machineAddress} ${registry.domain}\n` } })])
  // A user turns the deletion on by adding the flag to the controller's arguments; the rollout replaces both replicas.
  const flagStarted = Date.now()
  await run(["patch", "deployment", controllerDeployment, "-n", addonNamespace, "--type=json", "-p",
    JSON.stringify([{ op: "add", path: "/spec/template/spec/containers/0/args/-", value: "--delete-stuck-pods" }])])
  const rollout = await kubectl(plane.kubeconfigPath, ["rollout", "status", "-n", addonNamespace, `deployment/${controllerDeployment}`, "--timeout=300s"])
  assert.strictEqual(rollout.status, 0, rollout.stderr)
  await eventually(async () => {
    if ((await readyWebhookPods()).length !== 2) throw new Error("webhook endpoints not ready")
  }, 120_000)
  figures["--delete-stuck-pods rollout (s)"] = secondsSince(flagStarted)
  await eventually(() => {
    if (!readFileSync(node.hostsFile, "utf8").includes(`${node.machineAddress} ${registry.domain}`)) throw new Error("no hosts entry yet")
  }, 120_000)
  await run(["apply", "--server-side", "-f", "-"], JSON.stringify({
    apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name: ipsName },
    spec: { namespaces: "*", serviceAccounts: "*", docker: { server: registry.host, ...user } }
  }))
  figures["whole setup (s)"] = secondsSince(started)
}, 1_800_000)

afterAll(async () => {
  console.log(`admission-on-node figures: ${JSON.stringify(figures)}`)
  if (plane !== undefined) await keepAddonPodLogs(plane)
  await node?.stop()
  await registry?.stop()
  await plane?.stop()
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
})

describe("no Pod misses its pull Secret, on a real node", () => {
  it(`runs a Deployment applied in one kubectl apply with its new Namespace, ${raceRounds} times in a row`, async () => {
    const durations: Array<number> = []
    for (let round = 1; round <= raceRounds; round++) {
      const namespace = `apply-${round}`
      const applied = Date.now()
      await run(["apply", "-f", "-"], list({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, deployment(namespace, "web", 2)))
      await eventually(async () => {
        const ready = await run(["get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}"])
        if (ready !== "2") throw new Error(`${namespace}: ready ${ready}`)
      }, 180_000)
      durations.push(secondsSince(applied))
      for (const pod of await podsIn(namespace)) assert.include(pullSecretNames(pod), managedSecret, `${namespace}/${pod.metadata.name}`)
    }
    const sorted = [...durations].sort((a, b) => a - b)
    figures[`apply Namespace+Deployment to 2 Running: median of ${raceRounds} (s)`] = sorted[Math.floor(sorted.length / 2)]!
    figures[`apply Namespace+Deployment to 2 Running: max of ${raceRounds} (s)`] = sorted.at(-1)!
  })

  it("with the leader stopped, once Kubernetes routes around it, the other replica gives a new ServiceAccount's Pod the Secret", async () => {
    await run(["create", "namespace", "stop-one"])
    await eventually(() => run(["get", "secret", "-n", "stop-one", managedSecret]), 120_000)
    const leader = await leaderPodName()
    const pods = await controllerPods()
    const frozen = pods.find((pod) => pod.metadata.name === leader)!
    assert.isDefined(frozen, `leader ${leader} among ${pods.map((pod) => pod.metadata.name).join(", ")}`)
    const pids = podProcesses(frozen.metadata.uid)
    const stopped = Date.now()
    signal(pids, "SIGSTOP")
    try {
      // Until its readiness probe fails three times, the apiserver may still pick the stopped replica: a Pod created
      // then waits out the 2 s timeout and is admitted without the Secret (the next test's case).
      await eventually(async () => {
        const ready = await readyWebhookPods()
        if (ready.includes(frozen.metadata.name)) throw new Error(`still routed to ${frozen.metadata.name}`)
      }, 120_000)
      figures["stopped replica out of the webhook Service after (s)"] = secondsSince(stopped)
      const created = Date.now()
      await run(["apply", "-f", "-"], list(
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "builder", namespace: "stop-one" } },
        userPod("stop-one", "app", "builder")
      ))
      figures["one replica stopped: Pod create answered after (s)"] = secondsSince(created)
      const pod = await json<Pod>(["get", "pod", "-n", "stop-one", "app"])
      assert.include(pullSecretNames(pod), managedSecret)
    } finally {
      signal(pids, "SIGCONT")
    }
    const resumed = Date.now()
    await runningPod("stop-one", "app")
    figures["one replica stopped: Pod Running after resume (s)"] = secondsSince(resumed)
  })

  it("with every replica stopped, Pods are admitted without the Secret; after resuming, the bare Pod is reported and the Deployment's Pod recreated Running", async () => {
    await run(["create", "namespace", "stop-all"])
    await eventually(() => run(["get", "secret", "-n", "stop-all", managedSecret]), 120_000)
    await eventually(async () => {
      if ((await readyWebhookPods()).length !== 2) throw new Error("both replicas not ready yet")
    }, 300_000)
    const pids = (await controllerPods()).flatMap((pod) => podProcesses(pod.metadata.uid))
    signal(pids, "SIGSTOP")
    let createSeconds = 0
    let webBefore: Pod | undefined
    try {
      const created = Date.now()
      await run(["apply", "-f", "-"], list(
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "builder", namespace: "stop-all" } },
        userPod("stop-all", "bare", "builder"),
        deployment("stop-all", "web", 1, "builder")
      ))
      createSeconds = secondsSince(created)
      // The ReplicaSet's Pod is admitted while both replicas are still stopped.
      webBefore = await eventually(async () => {
        const [pod] = await podsIn("stop-all", "app=web")
        if (pod === undefined) throw new Error("no web pod yet")
        return pod
      }, 60_000)
    } finally {
      signal(pids, "SIGCONT")
    }
    figures["every replica stopped: apply of ServiceAccount, Pod and Deployment answered after (s)"] = createSeconds
    const resumed = Date.now()
    assert.notInclude(pullSecretNames(webBefore!), managedSecret)
    assert.notInclude(pullSecretNames(await json<Pod>(["get", "pod", "-n", "stop-all", "bare"])), managedSecret)

    const event = await missingEvent("stop-all", "bare")
    assert.strictEqual(event.type, "Warning")
    assert.include(event.message, "delete and recreate it")
    figures["every replica stopped: bare Pod's Event after resume (s)"] = secondsSince(resumed)
    await eventually(async () => {
      const missing = await podsMissing()
      if (!(missing?.pods ?? []).some((pod) => pod.namespace === "stop-all" && pod.name === "bare")) throw new Error(JSON.stringify(missing))
    }, 120_000)
    // The Deployment's Pod fails to pull (401), is deleted by the controller, and its replacement has the Secret.
    const web = await eventually(async () => {
      const pods = (await podsIn("stop-all", "app=web")).filter((pod) => pod.metadata.uid !== webBefore!.metadata.uid)
      const running = pods.find((pod) => pod.status.phase === "Running")
      if (running === undefined) throw new Error(JSON.stringify(pods.map((pod) => pod.status)))
      return running
    }, 300_000)
    assert.include(pullSecretNames(web), managedSecret)
    figures["every replica stopped: Deployment's Pod recreated Running after resume (s)"] = secondsSince(resumed)
    const deleted = await json<{ items: ReadonlyArray<unknown> }>(
      ["get", "events", "-n", "stop-all", "--field-selector", `involvedObject.name=${webBefore!.metadata.name},reason=DeletedMissingPullSecret`])
    assert.lengthOf(deleted.items, 1)
    // The bare Pod stays: no controller would bring it back.
    assert.strictEqual((await json<Pod>(["get", "pod", "-n", "stop-all", "bare"])).metadata.name, "bare")
  })

  it("with the controller scaled to zero, Pods are still created and reported later, and a deleted ImagePullSecret finishes deleting", async () => {
    await run(["create", "namespace", "scaled-down"])
    await eventually(() => run(["get", "secret", "-n", "scaled-down", managedSecret]), 120_000)
    await run(["apply", "--server-side", "-f", "-"], JSON.stringify({
      apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name: "leaving" },
      spec: { namespaces: "scaled-down", serviceAccounts: "*", docker: { server: registry.host, ...user } }
    }))
    await eventually(() => run(["get", "secret", "-n", "scaled-down", "tcr.ipsleaving"]), 120_000)
    figures["scale controller to 0 (s)"] = await scaleController(0)

    const created = Date.now()
    await run(["apply", "-f", "-"], list(
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "builder", namespace: "scaled-down" } },
      userPod("scaled-down", "app", "builder")
    ))
    figures["no replica: Pod create answered after (s)"] = secondsSince(created)
    assert.notInclude(pullSecretNames(await json<Pod>(["get", "pod", "-n", "scaled-down", "app"])), managedSecret)

    const deleteStarted = Date.now()
    await run(["delete", "imagepullsecret", "leaving", "--wait=false"])
    figures["no replica: kubectl delete ipss answered after (s)"] = secondsSince(deleteStarted)
    const waiting = await json<{ metadata: { deletionTimestamp?: string; finalizers?: ReadonlyArray<string> } }>(["get", "imagepullsecret", "leaving"])
    assert.isDefined(waiting.metadata.deletionTimestamp)
    assert.isNotEmpty(waiting.metadata.finalizers ?? [])

    figures["scale controller to 2 (s)"] = await scaleController(2)
    const back = Date.now()
    await eventually(async () => {
      const result = await kubectl(plane.kubeconfigPath, ["get", "imagepullsecret", "leaving"])
      if (result.status === 0) throw new Error("still there")
    }, 180_000)
    await eventually(async () => {
      const result = await kubectl(plane.kubeconfigPath, ["get", "secret", "-n", "scaled-down", "tcr.ipsleaving"])
      if (result.status === 0) throw new Error("its Secret is still there")
    }, 60_000)
    figures["ImagePullSecret deleted after the controller came back (s)"] = secondsSince(back)
    const event = await missingEvent("scaled-down", "app")
    assert.include(event.message, managedSecret)
    await eventually(async () => {
      const missing = await podsMissing()
      if (!(missing?.pods ?? []).some((pod) => pod.namespace === "scaled-down" && pod.name === "app")) throw new Error(JSON.stringify(missing))
    }, 120_000)
    figures["no replica: Pod reported after the controller came back (s)"] = secondsSince(back)
    figures["pods missing the Secret at the end"] = (await podsMissing())?.count ?? 0
  })
})
