// The product's promise, on a real node: the add-on's image built from the Dockerfile and manifests/ applied as
// users apply them, two controller replicas and hosts-updater running as pods, and a pod in a selected namespace
// pulling a private image over "the private network" (a name only hosts-updater's block resolves) with no
// imagePullSecrets in its YAML — while a pod in a namespace that is not selected gets 401. Then credential rotation,
// a leader handover, and `tcr-assistant uninstall` removing everything it made and nothing else.
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { addonNamespace, type InstalledAddon, installAddonOnNode, keepAddonPodLogs } from "@tcr-assistant/testkit/addon-on-node"
import { writeBusyboxImage } from "@tcr-assistant/testkit/busybox-image"
import { type ControlPlane, startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { eventually } from "@tcr-assistant/testkit/eventually"
import { type RealNode, startNode } from "@tcr-assistant/testkit/node"
import { kubectl, kubectlOn, secondsSince } from "@tcr-assistant/testkit/processes"
import { type Registry, startRegistry } from "@tcr-assistant/testkit/registry"
import { setTimeout as sleep } from "node:timers/promises"

const user = { username: "100012345678", password: "tcr-long-term-token-value-9c1e" }
const ipsName = "team-a-registry"
const managedSecret = `tcr.ips${ipsName}`
const cli = fileURLToPath(new URL("../bin/tcr-assistant.js", import.meta.url))
const usersHostsLine = "10.9.8.7 build-cache.internal # the user's own line"

let plane: ControlPlane
let registry: Registry
let node: RealNode
let addon: InstalledAddon
let imageRef: string
let scratch: string
/** The node's hosts file as it was before the add-on came: uninstall must leave exactly this. */
let hostsBefore: string
/** Figures printed at the end (the README quotes them): seconds and MiB, and which pod took the Lease over. */
const figures: Record<string, number | string> = {}

const { run, json } = kubectlOn(() => plane.kubeconfigPath)


interface PodState {
  readonly phase?: string
  readonly waiting?: { readonly reason?: string; readonly message?: string }
}

const podState = async (namespace: string, name: string): Promise<PodState> => {
  const pod = await json<{ status?: { phase?: string; containerStatuses?: Array<{ state?: { waiting?: PodState["waiting"] } }> } }>(
    ["get", "pod", "-n", namespace, name])
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting
  return { ...(pod.status?.phase !== undefined ? { phase: pod.status.phase } : {}),
    ...(waiting !== undefined ? { waiting } : {}) }
}

/** Waits until the pod's image pull has failed, and returns the pod's state with the failure's message. */
const pullRefused = (namespace: string, name: string) =>
  eventually(async () => {
    const current = await podState(namespace, name)
    if (current.waiting?.reason !== "ErrImagePull" && current.waiting?.reason !== "ImagePullBackOff") {
      throw new Error(JSON.stringify(current))
    }
    return current
  }, 180_000)

/** A pod as a user writes it: no imagePullSecrets, no node. */
const userPod = (namespace: string, name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [{ name: "app", image: imageRef, imagePullPolicy: "Always" }]
  }
})

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "real-node-e2e-"))
  const started = Date.now()
  plane = await startControlPlane({ workloads: true })
  registry = await startRegistry({ user })
  const image = await writeBusyboxImage(scratch, { name: `${registry.domain}/team-a/app:1`,
    cmd: ["/bin/sh", "-c", "echo pulled over the private network; exec sleep 3600"] })
  imageRef = await registry.push(image.layoutDir, image.tag, "team-a/app")
  const nodeStarted = Date.now()
  node = await startNode(plane, { machinePorts: [registry.port] })
  figures["node start to Ready (s)"] = secondsSince(nodeStarted)
  node.trustRegistry(registry.host, registry.caCertPem)
  writeFileSync(node.hostsFile, `${readFileSync(node.hostsFile, "utf8")}${usersHostsLine}\n`)
  hostsBefore = readFileSync(node.hostsFile, "utf8")
  const installStarted = Date.now()
  addon = await installAddonOnNode(plane, node)
  figures["image build or reuse, import, apply, rollout (s)"] = secondsSince(installStarted)
  figures["whole setup (s)"] = secondsSince(started)
})

afterAll(async () => {
  console.log(`real-node figures: ${JSON.stringify(figures)}`)
  if (plane !== undefined) await keepAddonPodLogs(plane)
  await node?.stop()
  await registry?.stop()
  await plane?.stop()
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
})

describe("the add-on installed on a real node", () => {
  it("runs the controller and hosts-updater as pods of the image built from the Dockerfile", async () => {
    const pods = await json<{ items: Array<{ metadata: { name: string; uid: string; labels: Record<string, string> };
      spec: { nodeName?: string;
      containers: Array<{ image: string }> }; status: { phase?: string; containerStatuses?: Array<{ imageID: string;
        ready: boolean }> } }> }>(["get", "pods", "-n", addonNamespace])
    assert.lengthOf(pods.items, 3)
    addonPods = pods.items.map((pod) => ({ name: pod.metadata.name, uid: pod.metadata.uid,
      component: pod.metadata.labels["app.kubernetes.io/component"] ?? "" }))
    for (const pod of pods.items) {
      assert.strictEqual(pod.spec.nodeName, node.name)
      assert.strictEqual(pod.spec.containers[0]!.image, "tcr-assistant:0.1.0")
      assert.strictEqual(pod.status.phase, "Running")
      assert.isTrue(pod.status.containerStatuses?.[0]?.ready)
    }
    // The pods run the image the kit built and imported, not some other image of that name.
    const index = JSON.parse(readFileSync(join(addon.image.ociLayout, "index.json"), "utf8")) as {
      manifests: Array<{ digest: string }> }
    const manifest = JSON.parse(readFileSync(join(addon.image.ociLayout, "blobs", "sha256",
      index.manifests[0]!.digest.replace("sha256:", "")), "utf8")) as { config: { digest: string } }
    const built = [index.manifests[0]!.digest, manifest.config.digest]
    for (const pod of pods.items) {
      const imageId = pod.status.containerStatuses?.[0]?.imageID ?? ""
      assert.isTrue(built.some((digest) => imageId.endsWith(digest)), `${imageId} is not one of ${built.join(", ")}`)
    }
    const images = execFileSync("ctr", ["--address", node.containerdSocket, "-n", "k8s.io", "images", "ls", "-q"],
      { encoding: "utf8" })
    assert.include(images, addon.image.reference)
  })

  it("reaches the validating webhook through its Service: with failurePolicy Fail, a create is admitted only if the call succeeds", async () => {
    const configurations = await json<{ items: Array<{ webhooks: Array<{ failurePolicy: string;
      clientConfig: { service?: { name: string } } }> }> }>(
      ["get", "validatingwebhookconfiguration", "-l", "app.kubernetes.io/name=tcr-assistant"])
    const webhook = configurations.items[0]!
    assert.strictEqual(webhook.webhooks[0]!.failurePolicy, "Fail")
    assert.strictEqual(webhook.webhooks[0]!.clientConfig.service?.name, "tcr-assistant-webhook-service")
    const valid = { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name: "dry-run" },
      spec: { namespaces: "*", serviceAccounts: "*", docker: { server: registry.host, username: "u", password: "p" } } }
    const admitted = await kubectl(plane.kubeconfigPath, ["create", "--dry-run=server", "-f", "-"], JSON.stringify(valid))
    assert.strictEqual(admitted.status, 0, admitted.stderr)
    const bad = { ...valid, spec: { ...valid.spec, docker: { ...valid.spec.docker, server: "https://x.example.com/p" } } }
    const refused = await kubectl(plane.kubeconfigPath, ["create", "--dry-run=server", "-f", "-"], JSON.stringify(bad))
    assert.notStrictEqual(refused.status, 0)
    assert.match(refused.stderr, /spec\.docker\.server/)
  })

  it("lets every watch of the add-on's pods through its RBAC: no pod's log has a watch restarting on a refusal", async () => {
    // A watch the generated RBAC does not allow (such as the field-selected watch of one webhook configuration that a
    // ClusterRole restricted by resourceNames must permit) fails only in the log, with a 403 and a backoff.
    for (const pod of addonPods) {
      const refused = (await run(["logs", "-n", addonNamespace, pod.name])).split("\n")
        .filter((line) => line.includes("watch restarting") && line.includes("KubeRejected"))
      assert.deepEqual(refused, [], `${pod.name}: a watch was refused`)
    }
  })

  it("writes the registry's private address into the node's hosts file from updater-config, keeping the user's lines", async () => {
    await run(["patch", "configmap", "updater-config", "-n", addonNamespace, "--type=merge", "-p",
      JSON.stringify({ data: { hosts: `${node.machineAddress} ${registry.domain}\n` } })])
    const hosts = await eventually(() => {
      const text = readFileSync(node.hostsFile, "utf8")
      if (!text.split("\n").some((line) => line.split(/\s+/).join(" ") === `${node.machineAddress} ${registry.domain}`)) {
        throw new Error("no entry yet")
      }
      return text
    }, 120_000)
    assert.include(hosts, usersHostsLine)
  })

  it("lets a pod in a selected namespace pull the private image with no imagePullSecrets in its YAML", async () => {
    await run(["create", "namespace", "team-a"])
    await run(["create", "namespace", "team-b"])
    const ips = { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name: ipsName },
      spec: { namespaces: `team-a,team-c,${raceNamespaces.join(",")}`, serviceAccounts: "*", docker: { server: registry.host, ...user } } }
    await run(["create", "-f", "-"], JSON.stringify(ips))
    // The ServiceAccount path first: once it is patched, a pod gets the entry from it even without the Pod mutation
    // (admission-on-node.e2e proves the mutation and the races around it).
    await eventually(async () => {
      const account = await json<{ imagePullSecrets?: Array<{ name: string }> }>(
        ["get", "serviceaccount", "default", "-n", "team-a"])
      if (!(account.imagePullSecrets ?? []).some((ref) => ref.name === managedSecret)) throw new Error("not yet")
    }, 120_000)
    const created = Date.now()
    await run(["create", "-f", "-"], JSON.stringify(userPod("team-a", "app")))
    await eventually(async () => {
      const state = await podState("team-a", "app")
      if (state.phase !== "Running") throw new Error(JSON.stringify(state))
    }, 180_000)
    figures["pod create to Running, private pull (s)"] = secondsSince(created)
    const logs = await eventually(async () => {
      const text = await run(["logs", "-n", "team-a", "app"])
      if (!text.includes("pulled")) throw new Error("no log yet")
      return text
    })
    assert.include(logs, "pulled over the private network")
    assert.include(registry.log(), "authorized request")
  })

  it("leaves a pod in a namespace that is not selected without credentials: 401", async () => {
    await run(["create", "-f", "-"], JSON.stringify(userPod("team-b", "app")))
    const state = await pullRefused("team-b", "app")
    assert.match(state.waiting?.message ?? "", /401 Unauthorized|authorization failed|no basic auth credentials/i)
  })

  it("sends pulls where updater-config says: another address there, and the node pulls from that address", async () => {
    const hostsLine = (address: string) => JSON.stringify({ data: { hosts: `${address} ${registry.domain}\n` } })
    // An address of the node's network where no registry listens: the next pull must go there, and fail.
    const nowhere = "10.244.255.253"
    const pointAt = async (address: string) => {
      await run(["patch", "configmap", "updater-config", "-n", addonNamespace, "--type=merge", "-p", hostsLine(address)])
      await eventually(() => {
        if (!readFileSync(node.hostsFile, "utf8").includes(`${address} ${registry.domain}`)) throw new Error("not yet")
      }, 120_000)
    }
    try {
      await pointAt(nowhere)
      // containerd keeps idle connections per host name: a restart of the registry drops them, so the next pull
      // resolves the name again instead of reusing a connection to the old address. And Go's resolver rereads the
      // hosts file at most every 5 seconds: wait that out, or the pull may still use the address read before.
      await registry.setUser(user)
      await sleep(goHostsCacheMillis + 1000)
      await run(["create", "-f", "-"], JSON.stringify(userPod("team-a", "misdirected")))
      const state = await pullRefused("team-a", "misdirected")
      assert.include(state.waiting?.message ?? "", nowhere)
    } finally {
      await pointAt(node.machineAddress)
    }
    await run(["create", "-f", "-"], JSON.stringify(userPod("team-a", "redirected")))
    await eventually(async () => {
      const current = await podState("team-a", "redirected")
      if (current.phase !== "Running") throw new Error(JSON.stringify(current))
    }, 180_000)
    await run(["delete", "pod", "-n", "team-a", "misdirected", "redirected", "--wait=true"])
  })

  it("keeps the add-on's pods within their memory limits, as their cgroups count it (what kubectl top shows)", () => {
    const memoryTree = node.cgroupTrees.find((tree) => tree.includes("/memory/"))!
    const limits: Record<string, number> = { "controller-manager": 512, "hosts-updater": 256 }
    for (const pod of addonPods) {
      const podDir = findDirectory(memoryTree, `pod${pod.uid}`)
      assert.isDefined(podDir, `no memory cgroup for pod ${pod.name}`)
      const usage = Number(readFileSync(join(podDir!, "memory.usage_in_bytes"), "utf8"))
      const inactive = Number(/^total_inactive_file (\d+)$/m.exec(readFileSync(join(podDir!, "memory.stat"), "utf8"))?.[1])
      const workingSetMiB = Math.round((usage - inactive) / 1024 / 102.4) / 10
      figures[`${pod.name} working set (MiB)`] = workingSetMiB
      assert.isAbove(workingSetMiB, 0)
      assert.isBelow(workingSetMiB, limits[pod.component]!)
    }
  })

  it("rotates the credential: the old password gets 401, and after the CR's change a new pod pulls with the new one", async () => {
    const rotated = { ...user, password: "tcr-long-term-token-rotated-51d0" }
    await registry.setUser(rotated)
    await run(["create", "-f", "-"], JSON.stringify(userPod("team-a", "before-rotation")))
    const refused = await pullRefused("team-a", "before-rotation")
    assert.match(refused.waiting?.message ?? "", /401 Unauthorized|authorization failed/i)
    await run(["patch", "imagepullsecret", ipsName, "--type=merge", "-p",
      JSON.stringify({ spec: { docker: { password: rotated.password } } })])
    await eventually(async () => {
      const secret = await json<{ data: Record<string, string> }>(["get", "secret", "-n", "team-a", managedSecret])
      const config = Buffer.from(secret.data[".dockerconfigjson"] ?? "", "base64").toString("utf8")
      if (!config.includes(Buffer.from(`${rotated.username}:${rotated.password}`).toString("base64"))) {
        throw new Error("not rotated yet")
      }
    }, 120_000)
    await run(["create", "-f", "-"], JSON.stringify(userPod("team-a", "after-rotation")))
    await eventually(async () => {
      const state = await podState("team-a", "after-rotation")
      if (state.phase !== "Running") throw new Error(JSON.stringify(state))
    }, 180_000)
    await run(["delete", "pod", "-n", "team-a", "before-rotation", "after-rotation", "--wait=true"])
  })

  it("hands the lease to a live replica when the leader's pod is killed, which then serves new namespaces", async () => {
    const lease = () => json<{ spec: { holderIdentity?: string } }>(["get", "lease", "-n", addonNamespace,
      "tcr-assistant-controller-manager"])
    // The identity is `<hostname>_<uuid>`, and a pod's hostname is its name.
    const leaderPod = ((await lease()).spec.holderIdentity ?? "").split("_")[0]!
    const replicas = (await run(["get", "pods", "-n", addonNamespace, "-l",
      "app.kubernetes.io/component=controller-manager", "-o", "jsonpath={.items[*].metadata.name}"])).split(" ")
    assert.lengthOf(replicas, 2)
    assert.include(replicas, leaderPod)
    const follower = replicas.find((pod) => pod !== leaderPod)!
    await run(["delete", "pod", "-n", addonNamespace, leaderPod, "--grace-period=0", "--force"])
    const next = await eventually(async () => {
      const holder = ((await lease()).spec.holderIdentity ?? "").split("_")[0]!
      if (holder === "" || holder === leaderPod) throw new Error(`lease still held by ${holder}`)
      return holder
    }, 180_000)
    // The killed leader releases the Lease as it stops, so the first replica to try takes it: the follower at its
    // next retry, or the ReplicaSet's replacement pod if that starts first (the bundled controller is up in well
    // under the 2 s retry period). Either way the holder is a replica that runs, and it is not the killed pod. The
    // replacement's container can take the Lease before the kubelet has reported the pod Running (CI saw that once),
    // so its phase is awaited, not read once.
    assert.notStrictEqual(next, leaderPod)
    await eventually(async () => {
      const running = (await run(["get", "pods", "-n", addonNamespace, "-l",
        "app.kubernetes.io/component=controller-manager", "--field-selector=status.phase=Running",
        "-o", "jsonpath={.items[*].metadata.name}"])).split(" ")
      if (!running.includes(next)) throw new Error(`the holder ${next} is not among the Running replicas ${running}`)
    }, 60_000)
    figures["lease taken over by"] = next === follower ? "the follower" : "the replacement pod"
    await run(["create", "namespace", "team-c"])
    await eventually(async () => {
      await run(["get", "secret", "-n", "team-c", managedSecret])
    }, 120_000)
  })

  it("runs a Deployment applied in one kubectl apply with its new Namespace: the Pod mutation closes the race", async () => {
    for (const namespace of raceNamespaces) {
      const deployment = {
        apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace },
        spec: { replicas: 2, selector: { matchLabels: { app: "web" } }, template: {
          metadata: { labels: { app: "web" } },
          spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "web", image: imageRef }] } } }
      }
      const stream = JSON.stringify({ apiVersion: "v1", kind: "List",
        items: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, deployment] })
      const applied = Date.now()
      await run(["apply", "-f", "-"], stream)
      await eventually(async () => {
        const ready = await run(["get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}"])
        if (ready !== "2") throw new Error(`ready: ${ready}`)
      }, 180_000)
      figures[`${namespace}: Namespace + Deployment applied to 2 pods Running (s)`] = secondsSince(applied)
      const pods = await json<{ items: Array<{ spec: { imagePullSecrets?: Array<{ name: string }> } }> }>(
        ["get", "pods", "-n", namespace])
      for (const pod of pods.items) assert.deepInclude(pod.spec.imagePullSecrets ?? [], { name: managedSecret })
    }
  })

  it("is removed by `tcr-assistant uninstall`, with the user's hosts lines and objects kept", async () => {
    await run(["delete", "pod", "-n", "team-a", "app", "--wait=true"])
    // The add-on's pods go with the uninstall: what they logged is kept for the run's log check first.
    await keepAddonPodLogs(plane)
    const result = await runCli(["uninstall", "--kubeconfig", plane.kubeconfigPath,
      "--include-other-image-pull-secrets"])
    assert.strictEqual(result.status, 0, result.output)
    assert.notInclude(result.output, user.password)
    const namespaces = await run(["get", "namespaces", "-o", "name"])
    assert.notInclude(namespaces, `namespace/${addonNamespace}`)
    assert.include(namespaces, "namespace/team-a")
    const secrets = await run(["get", "secrets", "-n", "team-a", "-o", "name"])
    assert.notInclude(secrets, managedSecret)
    assert.strictEqual(readFileSync(node.hostsFile, "utf8"), hostsBefore)
  })
})

/** How long Go's resolver (containerd's) trusts its last read of /etc/hosts (net/hosts.go, cacheMaxAge). */
const goHostsCacheMillis = 5000

const raceNamespaces = ["race-1", "race-2", "race-3", "race-4", "race-5"]

let addonPods: ReadonlyArray<{ readonly name: string; readonly uid: string; readonly component: string }> = []

const findDirectory = (root: string, name: string): string | undefined => {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    if (entry.name === name) return join(root, name)
    const found = findDirectory(join(root, entry.name), name)
    if (found !== undefined) return found
  }
  return undefined
}

/** The command as users run it, on the Node that runs the tests. */
const runCli = (args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("close", (status) => resolve({ status, output }))
  })
