// Prints the agent's footprint against a local control plane: resident memory, idle CPU, and how long a ConfigMap
// edit takes to reach the file. Usage: node packages/hosts-updater/bench/footprint.ts [node flags for the agent...]
import { KubeClient } from "@tcr-assistant/kube"
import { startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { spawnTied } from "@tcr-assistant/testkit/process-lifeline"
import { ManagedRuntime } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { readManagedBlock } from "../src/hosts-block.ts"

const nodeFlags = process.argv.slice(2)
const namespace = "tcr-assistant-system"
const nodeName = "bench-node"
const entries = 50
const edits = 20

const plane = await startControlPlane()
const dir = mkdtempSync(join(tmpdir(), "hosts-bench-"))
const runtime = ManagedRuntime.make(KubeClient.layer({ kubeconfig: plane.kubeconfigPath }))
const request = (req: Parameters<KubeClient["Service"]["request"]>[0]) =>
  runtime.runPromise(KubeClient.use((client) => client.request<any>(req)))

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024
/** utime + stime in clock ticks (100 per second on Linux). */
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return Number(fields[11]) + Number(fields[12])
}
const hostsText = (version: number) =>
  Array.from({ length: entries }, (_, i) => `10.${version % 250}.${i >> 8}.${i & 255} host${i}.reg.example.com`).join("\n")

try {
  await request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: namespace } } })
  await request({ method: "POST", path: "/api/v1/nodes", body: { metadata: { name: nodeName } } })
  const hostsFile = join(dir, "hosts")
  writeFileSync(hostsFile, "127.0.0.1 localhost\n")
  await request({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    body: { metadata: { name: "updater-config" }, data: { hosts: hostsText(0) } }
  })
  const agentScript = fileURLToPath(new URL("../test/fixtures/run-agent.ts", import.meta.url))
  const options = { hostsFile, kubeconfig: plane.kubeconfigPath, healthHost: "127.0.0.1", healthPort: 0 }
  const agent = spawnTied(process.execPath, [...nodeFlags, agentScript, JSON.stringify(options)], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, NODE_NAME: nodeName }
  })
  const pid = agent.child.pid!
  const startedAt = Date.now()
  while (readManagedBlock(readFileSync(hostsFile, "latin1"))?.entries.length !== entries) await sleep(10)
  const startup = Date.now() - startedAt
  await sleep(2_000)
  const rssStart = rssMiB(pid)

  const idleSeconds = 10
  const before = cpuTicks(pid)
  await sleep(idleSeconds * 1000)
  const idleMillicores = ((cpuTicks(pid) - before) * 10) / idleSeconds

  const latencies: Array<number> = []
  for (let version = 1; version <= edits; version++) {
    const current = await request({ method: "GET", path: `/api/v1/namespaces/${namespace}/configmaps/updater-config` })
    const sent = Date.now()
    await request({
      method: "PUT",
      path: `/api/v1/namespaces/${namespace}/configmaps/updater-config`,
      body: { ...current, data: { hosts: hostsText(version) } }
    })
    const expected = `10.${version % 250}.0.0 host0.reg.example.com`
    while (!readFileSync(hostsFile, "latin1").includes(expected)) await sleep(2)
    latencies.push(Date.now() - sent)
  }
  const rssAfter = rssMiB(pid)
  latencies.sort((a, b) => a - b)
  const median = latencies[Math.floor(latencies.length / 2)]!
  console.log(`agent node flags:           ${nodeFlags.join(" ") || "(none)"}`)
  console.log(`start to first apply:       ${startup} ms`)
  console.log(`resident memory, started:   ${rssStart.toFixed(0)} MiB`)
  console.log(`idle CPU over ${idleSeconds} s:          ${idleMillicores.toFixed(1)} millicores`)
  console.log(`edit to file (${edits} edits):   median ${median} ms, max ${latencies[latencies.length - 1]} ms`)
  console.log(`resident memory, after:     ${rssAfter.toFixed(0)} MiB`)
  agent.child.kill("SIGTERM")
  await agent.exited
} finally {
  await runtime.dispose()
  await plane.stop()
  rmSync(dir, { recursive: true, force: true })
}
