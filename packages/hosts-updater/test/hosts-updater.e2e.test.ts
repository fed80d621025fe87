// The hosts-updater agent against the local control plane: the file follows the ConfigMap, the Node records what
// was applied, an unreachable apiserver keeps the last good file, kill -9 leaves the file whole, and the C
// library's resolver sees the entries.
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { spawnTied } from "@tcr-assistant/testkit/process-lifeline"
import { checkMetrics } from "@tcr-assistant/testkit/promtool"
import type { Duration } from "effect"
import { afterAll, assert, beforeAll, describe, inject, test } from "vitest"
import { expectedHostsConfigHash, hostsAnnotations } from "../src/applied-state.ts"
import { mergeManagedBlock, readManagedBlock } from "../src/hosts-block.ts"
import type { HostsConfig } from "../src/hosts-config.ts"
import type { ResolvedHostsUpdaterOptions } from "../src/main.ts"
import {
  apiserverUrl,
  connect,
  createNamespace,
  createNode,
  deleteHosts,
  deleteNode,
  eventually,
  freePort,
  nodeAnnotations,
  nodeEvents,
  putHosts,
  readText,
  runAgent,
  spawnAgent,
  startProxy,
  uniqueName,
  writeKubeconfigThrough,
  type TestCluster
} from "./support.ts"
import { setTimeout as sleep } from "node:timers/promises"

let cluster: TestCluster
let kubeconfig: string
let dir: string

beforeAll(() => {
  kubeconfig = inject("kubeconfigPath")
  cluster = connect(kubeconfig)
  dir = mkdtempSync(join(tmpdir(), "hosts-e2e-"))
})

afterAll(async () => {
  await cluster?.dispose()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

/** A namespace and a Node of its own for each test, removed afterwards. */
const environment = async () => {
  const namespace = uniqueName("hosts")
  const node = uniqueName("node")
  await createNamespace(cluster, namespace)
  await createNode(cluster, node)
  const hostsFile = join(dir, `${node}.hosts`)
  return {
    namespace,
    node,
    hostsFile,
    cleanup: async () => {
      await deleteNode(cluster, node)
      await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}` }).catch(() => undefined)
    }
  }
}

const options = async (env: { namespace: string; node: string; hostsFile: string }, resyncEvery: Duration.Input = "300 millis") => {
  const resolved: ResolvedHostsUpdaterOptions = {
    hostsFile: env.hostsFile,
    nodeName: env.node,
    namespace: env.namespace,
    configMapName: "updater-config",
    resyncEvery,
    healthHost: "127.0.0.1",
    healthPort: await freePort(),
    metrics: { secure: false, host: "127.0.0.1", port: 0 }
  }
  return resolved
}

const entriesOf = (text: string): HostsConfig["entries"] =>
  text.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#")).map((line) => {
    const [address, ...names] = line.trim().split(/\s+/)
    return { address: address!, names }
  })

const blockOf = (path: string) => readManagedBlock(readText(path))?.entries ?? []

const get = async (port: number, path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: response.status, body: await response.text() }
}

const original = "127.0.0.1 localhost\r\n# the user's own entries\r\n\r\n192.168.1.5 nas.lan"

describe("hosts-updater", () => {
  test("started with no ConfigMap, a block left from an earlier install goes at once, not at the next resync", async () => {
    const env = await environment()
    const left = mergeManagedBlock(original, { entries: [{ address: "10.0.0.9", names: ["old.tencentcloudcr.com"] }] }).content
    writeFileSync(env.hostsFile, left)
    // A resync far beyond the test's patience: only the apply after the first list can remove the block.
    const agent = runAgent(await options(env, "1 hour"), kubeconfig)
    try {
      await eventually(() => assert.strictEqual(readText(env.hostsFile), original), 30_000)
    } finally {
      await agent.stop()
      await env.cleanup()
    }
  })

  test("the file follows the ConfigMap: create, edit, invalid, hand edits, empty, delete", async () => {
    const env = await environment()
    writeFileSync(env.hostsFile, original)
    const resolved = await options(env)
    const agent = runAgent(resolved, kubeconfig)
    try {
      // No ConfigMap yet: once ready, the agent has applied the empty config and left the file alone.
      await eventually(async () => assert.strictEqual((await get(resolved.healthPort, "/readyz")).status, 200))
      assert.strictEqual(readText(env.hostsFile), original)
      await eventually(async () =>
        assert.strictEqual((await nodeAnnotations(cluster, env.node))[hostsAnnotations.configHash], expectedHostsConfigHash(undefined))
      )

      const first = "# private endpoints\n10.0.0.1 reg.example.com reg-vpc.example.com\n"
      let started = Date.now()
      await putHosts(cluster, env.namespace, first)
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(first)))
      const createLatency = Date.now() - started
      assert.isTrue(readText(env.hostsFile).startsWith(original + "\r\n"))
      await eventually(async () => {
        const annotations = await nodeAnnotations(cluster, env.node)
        assert.strictEqual(annotations[hostsAnnotations.configHash], expectedHostsConfigHash({ hosts: first }))
        assert.strictEqual(annotations[hostsAnnotations.entries], "1")
        assert.match(annotations[hostsAnnotations.appliedAt] ?? "", /^\d{4}-\d\d-\d\dT/)
      })

      const second = "10.0.0.2 reg.example.com\n2001:db8::5 reg.example.com\n"
      started = Date.now()
      await putHosts(cluster, env.namespace, second)
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(second)))
      const editLatency = Date.now() - started
      console.info(`ConfigMap to file: ${createLatency} ms after create, ${editLatency} ms after an edit`)
      const good = readText(env.hostsFile)

      // Invalid: nothing is written, the Node says why, and an Event is recorded.
      await putHosts(cluster, env.namespace, "10.0.0.300 reg.example.com\n10.0.0.3 bad_name\n")
      await eventually(async () => {
        const error = (await nodeAnnotations(cluster, env.node))[hostsAnnotations.error] ?? ""
        assert.include(error, "line 1: \"10.0.0.300\" is not a valid IPv4 address")
        assert.include(error, "line 2: hostname \"bad_name\"")
      })
      await eventually(async () => {
        const events = await nodeEvents(cluster, env.node)
        assert.isTrue(events.some((event) => event.reason === "HostsConfigInvalid" && event.type === "Warning"))
      })
      assert.strictEqual(readText(env.hostsFile), good)
      assert.include((await get(resolved.healthPort, "/metrics")).body, "tcr_assistant_hosts_updater_config_valid 0")
      assert.strictEqual((await get(resolved.healthPort, "/readyz")).status, 200)

      await putHosts(cluster, env.namespace, second)
      await eventually(async () => assert.notProperty(await nodeAnnotations(cluster, env.node), hostsAnnotations.error))

      // Hand edits: a name listed by hand is reported; a block edited by hand is put back.
      writeFileSync(env.hostsFile, "10.9.9.9 reg.example.com\n" + readText(env.hostsFile).replace("10.0.0.2", "10.6.6.6"))
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(second)))
      await eventually(async () => {
        const events = await nodeEvents(cluster, env.node)
        const reported = events.find((event) => event.reason === "HostsNameListedByHand")
        assert.include(reported?.message ?? "", "line 1 lists reg.example.com as 10.9.9.9")
      })
      writeFileSync(env.hostsFile, readText(env.hostsFile).replace("10.9.9.9 reg.example.com\n", ""))

      // An empty config, then a deleted ConfigMap, remove the block and give back the user's file exactly.
      await putHosts(cluster, env.namespace, "# nothing for now\n")
      await eventually(() => assert.strictEqual(readText(env.hostsFile), original))
      await putHosts(cluster, env.namespace, first)
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(first)))
      await deleteHosts(cluster, env.namespace)
      await eventually(() => assert.strictEqual(readText(env.hostsFile), original))
      await eventually(async () =>
        assert.strictEqual((await nodeAnnotations(cluster, env.node))[hostsAnnotations.configHash], expectedHostsConfigHash(undefined))
      )

      const metrics = (await get(resolved.healthPort, "/metrics")).body
      assert.match(metrics, /tcr_assistant_hosts_updater_applies_total\{outcome="written"\} [1-9]/)
      assert.match(metrics, /tcr_assistant_hosts_updater_applies_total\{outcome="invalid"\} [1-9]/)
      assert.include(metrics, "tcr_assistant_hosts_updater_ready 1")
      assert.match(metrics, /^tcr_assistant_watch_last_event_timestamp_seconds\{informer="updater-config"\} \d/m)
      assert.match(metrics, /^tcr_assistant_build_info\{version="[^"]+",program="hosts-updater",nodejs_version="v\d+[^"]*"\} 1$/m)
      assert.match(metrics, /^process_start_time_seconds \d/m)
      // Prometheus's own parser and linter accept the agent's real output.
      const check = await checkMetrics(metrics)
      assert.deepStrictEqual({ status: check.status, problems: `${check.stdout}${check.stderr}` }, { status: 0, problems: "" })
      assert.strictEqual((await get(resolved.healthPort, "/healthz")).status, 200)
    } finally {
      await agent.stop()
      await env.cleanup()
    }
  })

  test("a file that cannot be written is reported on the Node, makes the agent unready, and is retried", async () => {
    const env = await environment()
    const missingDir = join(dir, `${env.node}-not-yet`)
    const hostsFile = join(missingDir, "hosts")
    const resolved = await options({ ...env, hostsFile })
    const agent = runAgent(resolved, kubeconfig)
    try {
      await putHosts(cluster, env.namespace, "10.0.0.1 reg.example.com\n")
      await eventually(async () => {
        const events = await nodeEvents(cluster, env.node)
        assert.isTrue(events.some((event) => event.reason === "HostsFileWriteFailed"))
        assert.include((await nodeAnnotations(cluster, env.node))[hostsAnnotations.error] ?? "", "ENOENT")
      })
      const readyz = await get(resolved.healthPort, "/readyz")
      assert.strictEqual(readyz.status, 503)
      assert.include(readyz.body, `not ready: the last write of ${hostsFile} failed`)
      mkdirSync(missingDir)
      await eventually(() => assert.deepStrictEqual(blockOf(hostsFile), [{ address: "10.0.0.1", names: ["reg.example.com"] }]))
      await eventually(async () => assert.notProperty(await nodeAnnotations(cluster, env.node), hostsAnnotations.error))
      await eventually(async () => assert.strictEqual((await get(resolved.healthPort, "/readyz")).status, 200))
    } finally {
      await agent.stop()
      await env.cleanup()
    }
  })

  test("an unreachable apiserver keeps the last good file, and the agent catches up when it returns", async () => {
    const env = await environment()
    writeFileSync(env.hostsFile, original)
    const proxy = await startProxy(apiserverUrl(kubeconfig))
    const throughProxy = join(dir, `${env.node}.kubeconfig`)
    writeKubeconfigThrough(kubeconfig, proxy.port, throughProxy)
    const resolved = await options(env, "100 millis")
    let agent = runAgent(resolved, throughProxy)
    try {
      const a = "10.0.0.1 reg.example.com\n"
      await putHosts(cluster, env.namespace, a)
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(a)))
      const good = readText(env.hostsFile)

      await proxy.cut()
      const b = "10.0.0.2 reg.example.com\n"
      await putHosts(cluster, env.namespace, b)
      // Many resyncs pass while the apiserver is away; the file must not change (in particular, not empty).
      await sleep(2_000)
      assert.strictEqual(readText(env.hostsFile), good)
      await proxy.restore()
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(b)))

      // Starting while the apiserver is away: the file is left exactly as it is until the first list.
      await agent.stop()
      await proxy.cut()
      await deleteHosts(cluster, env.namespace)
      const kept = readText(env.hostsFile)
      agent = runAgent(resolved, throughProxy)
      await sleep(2_000)
      assert.strictEqual(readText(env.hostsFile), kept)
      assert.strictEqual((await get(resolved.healthPort, "/readyz")).status, 503)
      await proxy.restore()
      await eventually(() => assert.strictEqual(readText(env.hostsFile), original))
    } finally {
      await agent.stop()
      await proxy.close()
      await env.cleanup()
    }
  })

  test("kill -9 in a burst of ConfigMap edits leaves the file whole, and a restart converges", async () => {
    const env = await environment()
    writeFileSync(env.hostsFile, original)
    const healthPort = await freePort()
    const agentOptions = {
      hostsFile: env.hostsFile,
      namespace: env.namespace,
      kubeconfig,
      healthHost: "127.0.0.1",
      healthPort,
      resyncEvery: "1 second"
    } as const
    // Configs of very different sizes, so that a torn file could not pass for a whole one.
    const configs = Array.from({ length: 40 }, (_, i) =>
      Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => `10.${i}.${j >> 8}.${j & 255} host${j}.burst${i}.example.com`).join("\n")
    )
    let agent = spawnAgent(agentOptions, { NODE_NAME: env.node })
    try {
      await putHosts(cluster, env.namespace, configs[0])
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(configs[0]!)))
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.child.pid}/status`, "utf8"))?.[1])
      console.info(`agent resident memory after applying ${entriesOf(configs[0]!).length} entries: ${Math.round(rss / 1024)} MiB`)

      const killAt = 8 + Math.floor(Math.random() * 20)
      for (let i = 1; i < configs.length; i++) {
        await putHosts(cluster, env.namespace, configs[i])
        if (i === killAt) agent.child.kill("SIGKILL")
      }
      assert.strictEqual((await agent.exited).signal, "SIGKILL")
      const afterKill = readText(env.hostsFile)
      assert.strictEqual(mergeManagedBlock(afterKill, { entries: [] }).content, original)
      const block = readManagedBlock(afterKill)?.entries
      assert.isTrue(
        configs.slice(0, killAt + 1).some((config) => JSON.stringify(entriesOf(config)) === JSON.stringify(block)),
        "the block after the kill is none of the configs sent before it"
      )

      agent = spawnAgent(agentOptions, { NODE_NAME: env.node })
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), entriesOf(configs[configs.length - 1]!)))
      assert.deepStrictEqual(readdirSync(dir).filter((name) => name.endsWith(".tmp")), [])
    } finally {
      agent.child.kill("SIGKILL")
      await agent.exited
      await env.cleanup()
    }
  })

  test("the C library resolver returns the configured address, also when /etc/hosts is a bind-mounted file", async () => {
    const env = await environment()
    const name = `reg-${env.node}.tencentcloudcr.example`
    writeFileSync(env.hostsFile, readFileSync("/etc/hosts"))
    const resolved = await options(env)
    const agent = runAgent(resolved, kubeconfig)
    const resolveIn = (hostsFile: string) =>
      spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c",
        `mount --bind "$1" /etc/hosts && getent hosts "$2"`, "sh", hostsFile, name], { encoding: "utf8" })
    try {
      await putHosts(cluster, env.namespace, `10.77.0.9 ${name}\n`)
      await eventually(() => assert.deepStrictEqual(blockOf(env.hostsFile), [{ address: "10.77.0.9", names: [name] }]))
      const found = resolveIn(env.hostsFile)
      assert.strictEqual(found.status, 0, found.stderr)
      assert.match(found.stdout, new RegExp(`^10\\.77\\.0\\.9\\s+${name.replaceAll(".", "\\.")}\\s*$`))
    } finally {
      await agent.stop()
    }

    // The agent itself inside a mount namespace where /etc/hosts is a bind-mounted file, as in a container: rename
    // over it fails with EBUSY and the agent rewrites it in place; the resolver in that namespace follows edits.
    const mounted = join(dir, `${env.node}.mounted-hosts`)
    writeFileSync(mounted, readFileSync("/etc/hosts"))
    const healthPort = await freePort()
    const script = `mount --bind "$1" /etc/hosts && exec "$2" "$3" "$4"`
    const inside = spawnTied("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", mounted, process.execPath,
      fileURLToPath(new URL("./fixtures/run-agent.ts", import.meta.url)),
      JSON.stringify({ hostsFile: "/etc/hosts", namespace: env.namespace, kubeconfig, healthHost: "127.0.0.1", healthPort, resyncEvery: "300 millis" })
    ], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NODE_NAME: env.node } })
    const resolveInside = () =>
      spawnSync("nsenter", ["--mount", `--target=${inside.child.pid}`, "getent", "hosts", name], { encoding: "utf8" })
    try {
      await eventually(() => assert.match(resolveInside().stdout, /^10\.77\.0\.9\s/))
      await putHosts(cluster, env.namespace, `10.77.0.10 ${name}\n`)
      await eventually(() => assert.match(resolveInside().stdout, /^10\.77\.0\.10\s/))
      assert.include(readText(mounted), `10.77.0.10 ${name}`)
      const hostEntry = spawnSync("getent", ["hosts", name], { encoding: "utf8" })
      assert.strictEqual(hostEntry.stdout, "", "the machine's own /etc/hosts must not have changed")
    } finally {
      inside.child.kill("SIGKILL")
      await inside.exited
      await env.cleanup()
    }
  })
})
