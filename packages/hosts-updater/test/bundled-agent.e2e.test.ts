// The agent as a pod of the DaemonSet runs it: the image's entrypoint on the bundle (the app directory holds
// nothing else, so nothing can fall back to TypeScript), the DaemonSet's NODE_OPTIONS (--jitless, so no
// WebAssembly either), and a mounted service account instead of a kubeconfig. The hosts file follows the ConfigMap,
// the Node records what was applied, /metrics is served over HTTPS to authorized callers only (the default), and the
// process stays within the seeds' 100Mi.
import { loopbackGet, processStatusMiB } from "@tcr-assistant/testkit/processes"
import { hostsUpdaterNodeOptions } from "@tcr-assistant/cli/manifests"
import { buildImageApp, imageEntrypoint } from "@tcr-assistant/testkit/image-app"
import { captureRunLog } from "@tcr-assistant/testkit/log-lines"
import { spawnTied, type TiedChild } from "@tcr-assistant/testkit/process-lifeline"
import { checkMetrics } from "@tcr-assistant/testkit/promtool"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, inject, test } from "vitest"
import { expectedHostsConfigHash, hostsAnnotations } from "../src/applied-state.ts"
import { readManagedBlock } from "../src/hosts-block.ts"
import {
  connect,
  createNamespace,
  createNode,
  deleteHosts,
  deleteNode,
  eventually,
  freePort,
  mountServiceAccount,
  nodeAnnotations,
  putHosts,
  readText,
  type TestCluster,
  uniqueName
} from "./support.ts"

let cluster: TestCluster
let kubeconfig: string
let dir: string
let app: string

beforeAll(async () => {
  kubeconfig = inject("kubeconfigPath")
  cluster = connect(kubeconfig)
  dir = mkdtempSync(join(tmpdir(), "hosts-bundled-e2e-"))
  app = join(dir, "app")
  mkdirSync(app)
  await buildImageApp(app)
})

afterAll(async () => {
  await cluster?.dispose()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

const blockOf = (path: string) => readManagedBlock(readText(path))?.entries ?? []
const residentMiB = (pid: number) => processStatusMiB(pid, "VmRSS")
const original = "127.0.0.1 localhost\n# the node's own entries\n192.168.1.5 nas.lan\n"


test("the bundled agent with the DaemonSet's NODE_OPTIONS and a service account keeps the file in line with the ConfigMap", async () => {
  const namespace = uniqueName("hosts-bundled")
  const node = uniqueName("node")
  await createNamespace(cluster, namespace)
  await createNode(cluster, node)
  const serviceAccountDir = join(dir, "serviceaccount")
  mkdirSync(serviceAccountDir)
  const pod = await mountServiceAccount(cluster, kubeconfig, namespace, "hosts-updater", serviceAccountDir)
  const hostsFile = join(dir, "hosts")
  writeFileSync(hostsFile, original)
  // As installed: the ConfigMap ships with the DaemonSet.
  const first = "10.0.0.1 reg.example.com reg-vpc.example.com\n10.0.0.2 other.example.com\n"
  await putHosts(cluster, namespace, first)
  const healthPort = await freePort()
  const metricsPort = await freePort()
  let stderr = ""
  let agent: TiedChild | undefined
  try {
    const [, ...entrypoint] = imageEntrypoint
    agent = spawnTied(
      process.execPath,
      [...entrypoint, "hosts-updater", `--hosts-file=${hostsFile}`, `--namespace=${namespace}`, `--health-port=${healthPort}`, `--metrics-port=${metricsPort}`, `--service-account-dir=${serviceAccountDir}`],
      { cwd: app, stdio: ["ignore", "pipe", "pipe"], env: { ...pod.env, NODE_NAME: node, NODE_OPTIONS: hostsUpdaterNodeOptions } }
    )
    // What the bundled agent logs goes to the run's log check, like the sources' agent's.
    captureRunLog("hosts-updater-bundled", agent.child)
    agent.child.stdout!.resume()
    agent.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const running = agent
    const alive = () => assert.strictEqual(running.child.exitCode, null, `the agent exited:\n${stderr}`)

    await eventually(() => {
      alive()
      assert.deepStrictEqual(blockOf(hostsFile), [
        { address: "10.0.0.1", names: ["reg.example.com", "reg-vpc.example.com"] },
        { address: "10.0.0.2", names: ["other.example.com"] }
      ])
    })
    assert.isTrue(readText(hostsFile).startsWith(original))
    await eventually(async () => assert.strictEqual((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status, 200))

    const second = "10.0.0.9 reg.example.com\n"
    await putHosts(cluster, namespace, second)
    await eventually(() => assert.deepStrictEqual(blockOf(hostsFile), [{ address: "10.0.0.9", names: ["reg.example.com"] }]))
    // The Node patch went through with the service account's token.
    await eventually(async () =>
      assert.strictEqual((await nodeAnnotations(cluster, node))[hostsAnnotations.configHash], expectedHostsConfigHash({ hosts: second }))
    )
    // Secure metrics by default: no token, 401; the pod's own token (cluster-admin here), the real output.
    assert.strictEqual((await loopbackGet({ port: metricsPort, path: "/metrics", secure: true })).status, 401)
    const scraped = await loopbackGet({ port: metricsPort, path: "/metrics", secure: true, token: readFileSync(join(serviceAccountDir, "token"), "utf8") })
    assert.strictEqual(scraped.status, 200)
    assert.include(scraped.body, "tcr_assistant_hosts_updater_ready 1")
    const check = await checkMetrics(scraped.body)
    assert.deepStrictEqual({ status: check.status, problems: `${check.stdout}${check.stderr}` }, { status: 0, problems: "" })
    assert.strictEqual((await fetch(`http://127.0.0.1:${healthPort}/metrics`)).status, 404)
    console.log(`bundled hosts-updater with secure metrics: ${residentMiB(running.child.pid!).toFixed(1)} MiB resident`)
    // The seeds' budget: 100Mi per node (about 77 MiB measured; `npm run bench:hosts-updater` prints the figures).
    assert.isBelow(residentMiB(running.child.pid!), 100)

    await deleteHosts(cluster, namespace)
    await eventually(() => assert.strictEqual(readText(hostsFile), original))
    alive()
  } finally {
    if (agent !== undefined && agent.child.exitCode === null) {
      agent.child.kill("SIGTERM")
      await agent.exited
    }
    await pod.remove()
    await deleteNode(cluster, node)
    await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}` }).catch(() => undefined)
  }
})
