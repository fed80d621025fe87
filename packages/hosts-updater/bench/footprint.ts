// Prints the agent's footprint against a local control plane: resident memory, idle CPU, and how long a ConfigMap
// edit takes to reach the file. The agent runs as a pod of the DaemonSet runs it: `tcr-assistant hosts-updater`
// through the image's bundled entrypoint, with the DaemonSet's NODE_OPTIONS, authenticated by a mounted service
// account (the in-cluster path, which never loads @kubernetes/client-node).
// Usage: node packages/hosts-updater/bench/footprint.ts [--sources] [--node-options "..."] [--env K=V ...] [-- node flags...]
//   --sources         run packages/cli/src/main.ts on Node's type stripping instead of the bundle
//   --node-options    the agent's NODE_OPTIONS (default: the DaemonSet's)
//   --env K=V         more environment for the agent (repeatable), e.g. MALLOC_ARENA_MAX=1
//   after `--`        flags for the agent's command line, e.g. V8 flags that NODE_OPTIONS refuses (--lite-mode)
import { hostsUpdaterNodeOptions } from "@tcr-assistant/cli/manifests"
import { buildImageApp, imageEntrypoint, repositoryRoot } from "@tcr-assistant/testkit/image-app"
import { startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { spawnTied } from "@tcr-assistant/testkit/process-lifeline"
import { processStatusMiB } from "@tcr-assistant/testkit/processes"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { readManagedBlock } from "../src/hosts-block.ts"
import { connect, createNamespace, createNode, freePort, mountServiceAccount, putHosts } from "../test/support.ts"
import { setTimeout as sleep } from "node:timers/promises"

const { values, positionals } = parseArgs({
  options: {
    sources: { type: "boolean", default: false },
    "node-options": { type: "string", default: hostsUpdaterNodeOptions },
    env: { type: "string", multiple: true, default: [] }
  },
  allowPositionals: true
})
const nodeFlags = positionals
const nodeOptions = values["node-options"]
const namespace = "tcr-assistant-system"
const nodeName = "bench-node"
const entries = 50
const edits = 20

const plane = await startControlPlane()
const dir = mkdtempSync(join(tmpdir(), "hosts-bench-"))
const cluster = connect(plane.kubeconfigPath)

const extraEnv = Object.fromEntries(values.env.map((pair) => {
  const at = pair.indexOf("=")
  if (at <= 0) throw new Error(`--env wants K=V, not ${pair}`)
  return [pair.slice(0, at), pair.slice(at + 1)]
}))

/** Resident memory in MiB: all of it (VmRSS), and its anonymous part (heap, stacks: what the process itself owns). */
const residentMiB = (pid: number) => ({
  total: processStatusMiB(pid, "VmRSS"),
  anonymous: processStatusMiB(pid, "RssAnon"),
  file: processStatusMiB(pid, "RssFile")
})
const describeResident = ({ total, anonymous, file }: ReturnType<typeof residentMiB>) =>
  `${total.toFixed(0)} MiB (anonymous ${anonymous.toFixed(0)}, file-backed ${file.toFixed(0)}: the node binary's pages)`
/** utime + stime in clock ticks (100 per second on Linux). */
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return Number(fields[11]) + Number(fields[12])
}
const hostsText = (version: number) =>
  Array.from({ length: entries }, (_, i) => `10.${version % 250}.${i >> 8}.${i & 255} host${i}.reg.example.com`).join("\n")

try {
  await createNamespace(cluster, namespace)
  await createNode(cluster, nodeName)
  const hostsFile = join(dir, "hosts")
  writeFileSync(hostsFile, "127.0.0.1 localhost\n")
  await putHosts(cluster, namespace, hostsText(0))
  const serviceAccountDir = join(dir, "serviceaccount")
  mkdirSync(serviceAccountDir)
  const pod = await mountServiceAccount(cluster, plane.kubeconfigPath, namespace, "hosts-updater", serviceAccountDir)

  const appDir = join(dir, "app")
  mkdirSync(appDir)
  if (!values.sources) await buildImageApp(appDir)
  const [, ...entrypoint] = imageEntrypoint
  const program = values.sources ? [join(repositoryRoot, "packages", "cli", "src", "main.ts")] : entrypoint
  const args = ["hosts-updater", `--hosts-file=${hostsFile}`, `--namespace=${namespace}`, `--health-port=${await freePort()}`, `--metrics-port=${await freePort()}`, `--service-account-dir=${serviceAccountDir}`]
  const agent = spawnTied(process.execPath, [...nodeFlags, ...program, ...args], {
    cwd: values.sources ? repositoryRoot : appDir,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...pod.env, NODE_NAME: nodeName, NODE_OPTIONS: nodeOptions, ...extraEnv }
  })
  const pid = agent.child.pid!
  const startedAt = Date.now()
  while (readManagedBlock(readFileSync(hostsFile, "latin1"))?.entries.length !== entries) await sleep(10)
  const startup = Date.now() - startedAt
  await sleep(2_000)
  const rssStart = residentMiB(pid)

  const idleSeconds = 10
  const before = cpuTicks(pid)
  await sleep(idleSeconds * 1000)
  const idleMillicores = ((cpuTicks(pid) - before) * 10) / idleSeconds

  const latencies: Array<number> = []
  for (let version = 1; version <= edits; version++) {
    const sent = Date.now()
    await putHosts(cluster, namespace, hostsText(version))
    const expected = `10.${version % 250}.0.0 host0.reg.example.com`
    while (!readFileSync(hostsFile, "latin1").includes(expected)) await sleep(2)
    latencies.push(Date.now() - sent)
  }
  const rssAfter = residentMiB(pid)
  latencies.sort((a, b) => a - b)
  const median = latencies[Math.floor(latencies.length / 2)]!
  console.log(`agent program:              ${values.sources ? "TypeScript sources (type stripping)" : "the image's bundle"}, in-cluster auth`)
  console.log(`agent NODE_OPTIONS:         ${nodeOptions || "(none)"}`)
  console.log(`agent node flags:           ${nodeFlags.join(" ") || "(none)"}`)
  console.log(`agent extra environment:    ${values.env.join(" ") || "(none)"}`)
  console.log(`start to first apply:       ${startup} ms`)
  console.log(`resident memory, started:   ${describeResident(rssStart)}`)
  console.log(`idle CPU over ${idleSeconds} s:          ${idleMillicores.toFixed(1)} millicores`)
  console.log(`edit to file (${edits} edits):   median ${median} ms, max ${latencies[latencies.length - 1]} ms`)
  console.log(`resident memory, after:     ${describeResident(rssAfter)}`)
  agent.child.kill("SIGTERM")
  await agent.exited
  await pod.remove()
} finally {
  await cluster.dispose()
  await plane.stop()
  rmSync(dir, { recursive: true, force: true })
}
