// End-to-end tests of the test kit's real node and private registry: a Ready Node on a private control plane, pods
// on its pod network pulling a private image over TLS with the right credentials and failing with 401 without, the
// registry's name known to the node only through its hosts file, `kubectl logs` through the apiserver's egress, and
// nothing of the node left behind — after stop() and after SIGKILL of the process that started it.
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { writeBusyboxImage } from "../src/busybox-image.ts"
import { startControlPlane, type ControlPlane } from "../src/control-plane.ts"
import { kubeletSysctls, startNode, type RealNode } from "../src/node.ts"
import { spawnTied } from "../src/process-lifeline.ts"
import { kubectl } from "../src/processes.ts"
import { startRegistry, type Registry } from "../src/registry.ts"
import { eventually, processGone } from "./process-state.ts"

const user = { username: "demo-puller", password: "pull-secret-value-7f3a" }

const sysctlValues = () => Object.fromEntries(kubeletSysctls.map((path) => [path,
  readFileSync(join("/proc/sys", path), "utf8").trim()]))

/** Every process on the machine whose command line names `text`. */
const processesNaming = (text: string) =>
  readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
    try {
      return !processGone(Number(pid)) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text)
    } catch {
      return false
    }
  })

interface PodView {
  readonly phase?: string
  readonly waiting?: string
  readonly waitingMessage?: string
}

const podView = async (plane: ControlPlane, namespace: string, name: string): Promise<PodView> => {
  const result = await kubectl(plane.kubeconfigPath, ["get", "pod", "-n", namespace, name, "-o", "json"])
  if (result.status !== 0) throw new Error(result.stderr)
  const pod = JSON.parse(result.stdout) as { status?: { phase?: string; containerStatuses?: Array<{
    state?: { waiting?: { reason?: string; message?: string } } }> } }
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting
  return {
    ...(pod.status?.phase !== undefined ? { phase: pod.status.phase } : {}),
    ...(waiting?.reason !== undefined ? { waiting: waiting.reason } : {}),
    ...(waiting?.message !== undefined ? { waitingMessage: waiting.message } : {})
  }
}

const createPod = async (plane: ControlPlane, node: RealNode, namespace: string, name: string, image: string,
  pullSecret?: string) => {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: {
      nodeName: node.name,
      // Always: a negative control must really ask the registry, not reuse what an earlier pod left on the node.
      containers: [{ name: "app", image, imagePullPolicy: "Always" }],
      ...(pullSecret !== undefined ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
      terminationGracePeriodSeconds: 1
    }
  }
  const result = await kubectl(plane.kubeconfigPath, ["create", "-f", "-"], JSON.stringify(pod))
  if (result.status !== 0) throw new Error(result.stderr)
}

const waitForPod = (plane: ControlPlane, namespace: string, name: string, done: (view: PodView) => boolean) =>
  eventually(`pod ${namespace}/${name}`, async () => {
    const view = await podView(plane, namespace, name)
    return done(view) ? view : undefined
  })

describe("a real node with a private registry", () => {
  let plane: ControlPlane
  let registry: Registry
  let node: RealNode
  let imageRef: string
  let sysctlsBefore: Record<string, string>
  let machineHosts: string
  let machineNetwork: string
  let scratch: string

  beforeAll(async () => {
    sysctlsBefore = sysctlValues()
    machineHosts = readFileSync("/etc/hosts", "utf8")
    machineNetwork = execFileSync("ip", ["-o", "address"], { encoding: "utf8" })
    scratch = mkdtempSync(join(tmpdir(), "node-e2e-"))
    plane = await startControlPlane({ workloads: true })
    registry = await startRegistry({ user })
    const image = await writeBusyboxImage(scratch, { name: `${registry.domain}/team/app:1`,
      cmd: ["/bin/sh", "-c", "echo hello from the private image; exec sleep 3600"] })
    imageRef = await registry.push(image.layoutDir, image.tag, "team/app")
    node = await startNode(plane, { machinePorts: [registry.port] })
    node.trustRegistry(registry.host, registry.caCertPem)
  })

  afterAll(async () => {
    await node?.stop()
    await registry?.stop()
    await plane?.stop()
    rmSync(scratch, { recursive: true, force: true })
  })

  it("registers a Ready node, changing none of the machine's kernel tunables, /etc or network", async () => {
    const result = await kubectl(plane.kubeconfigPath, ["get", "node", node.name, "-o",
      "jsonpath={.status.conditions[?(@.type=='Ready')].status} {.status.addresses[0].address} {.spec.taints}"])
    assert.strictEqual(result.stdout.trim(), `True ${node.address}`)
    assert.deepStrictEqual(sysctlValues(), sysctlsBefore)
    assert.strictEqual(readFileSync("/etc/hosts", "utf8"), machineHosts)
    // The node's interfaces and addresses (its bridge, the pods' veths) are all in its own network namespace.
    assert.strictEqual(execFileSync("ip", ["-o", "address"], { encoding: "utf8" }), machineNetwork)
    // The kubelet did set them, on its private copies.
    assert.notDeepEqual(Object.fromEntries(kubeletSysctls.map((path) => [path,
      readFileSync(join(node.dir, "sysctl", path.replaceAll("/", ".")), "utf8").trim()])), sysctlsBefore)
  })

  it("cannot resolve the registry's domain until the node's hosts file names it", async () => {
    const secret = await kubectl(plane.kubeconfigPath, ["create", "secret", "docker-registry", "early-pull",
      `--docker-server=${registry.host}`, `--docker-username=${user.username}`, `--docker-password=${user.password}`])
    assert.strictEqual(secret.status, 0, secret.stderr)
    await createPod(plane, node, "default", "unresolved", imageRef, "early-pull")
    const view = await waitForPod(plane, "default", "unresolved", (pod) =>
      pod.waiting === "ErrImagePull" || pod.waiting === "ImagePullBackOff")
    assert.match(view.waitingMessage ?? "", /lookup demo\.tencentcloudcr\.com|no such host/)
  })

  it("pulls the private image with the credentials, and gets 401 without them", async () => {
    writeFileSync(node.hostsFile, `${readFileSync(node.hostsFile, "utf8")}${node.machineAddress} ${registry.domain}\n`)
    const secret = await kubectl(plane.kubeconfigPath, ["create", "secret", "docker-registry", "pull",
      `--docker-server=${registry.host}`, `--docker-username=${user.username}`, `--docker-password=${user.password}`])
    assert.strictEqual(secret.status, 0, secret.stderr)
    await createPod(plane, node, "default", "with-secret", imageRef, "pull")
    await waitForPod(plane, "default", "with-secret", (pod) => pod.phase === "Running")
    // On the pod network: an address of the node's bridge, not the node's own.
    const podIp = await kubectl(plane.kubeconfigPath, ["get", "pod", "with-secret", "-o", "jsonpath={.status.podIP}"])
    assert.match(podIp.stdout, /^10\.244\.0\.\d+$/)
    const logs = await eventually("the pod's log", async () => {
      const result = await kubectl(plane.kubeconfigPath, ["logs", "-n", "default", "with-secret"])
      return result.stdout.includes("hello") ? result.stdout : undefined
    })
    assert.include(logs, "hello from the private image")
    assert.include(registry.log(), "authorized request")

    await createPod(plane, node, "default", "without-secret", imageRef)
    const denied = await waitForPod(plane, "default", "without-secret", (pod) =>
      pod.waiting === "ErrImagePull" || pod.waiting === "ImagePullBackOff")
    assert.match(denied.waitingMessage ?? "", /401 Unauthorized|authorization failed|no basic auth credentials/i)
    assert.include(registry.log(), "basic authentication challenge")
  })

  it("leaves no process, cgroup or directory behind when stopped", async () => {
    const initPid = node.initPid()
    assert.isDefined(initPid)
    assert.isNotEmpty(processesNaming(node.dir))
    await node.stop()
    assert.isTrue(processGone(initPid!))
    assert.deepStrictEqual(processesNaming(node.dir), [])
    for (const tree of node.cgroupTrees) assert.isFalse(existsSync(tree), tree)
    assert.isFalse(existsSync(node.dir))
    const nodes = await kubectl(plane.kubeconfigPath, ["get", "node", node.name, "--ignore-not-found", "-o", "name"])
    assert.strictEqual(nodes.stdout.trim(), "")
    assert.deepStrictEqual(sysctlValues(), sysctlsBefore)
  })
})

describe("a real node whose parent is killed with SIGKILL", () => {
  const fixture = fileURLToPath(new URL("./fixtures/hold-node.ts", import.meta.url))

  it("takes containerd, the kubelet and the pods down and removes its cgroups and directories", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "node-orphan-"))
    const output = join(scratch, "node.json")
    try {
      const parent = spawnTied(process.execPath, [fixture, output], { stdio: ["ignore", "ignore", "inherit"] })
      const started = await eventually("the fixture's node", () => {
        if (parent.child.exitCode !== null) throw new Error(`fixture exited with ${parent.child.exitCode}`)
        return existsSync(output)
          ? (JSON.parse(readFileSync(output, "utf8")) as { initPid: number; cgroupTrees: Array<string>; dir: string;
            planeDir: string })
          : undefined
      }, 300_000)
      assert.isFalse(processGone(started.initPid))
      assert.isNotEmpty(processesNaming(started.dir))
      parent.child.kill("SIGKILL")
      await parent.exited
      await eventually("the node's processes to die", () => (processGone(started.initPid) &&
        processesNaming(started.dir).length === 0 ? true : undefined))
      await eventually("the cgroups and directories to be removed", () =>
        started.cgroupTrees.every((tree) => !existsSync(tree)) && !existsSync(started.dir) &&
          !existsSync(started.planeDir) ? true : undefined)
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})
