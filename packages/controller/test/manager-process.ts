// Test support: controller-manager child processes (fixtures/controller-manager-entry.ts) tied to the test process,
// with their JSON log lines collected and their probe and metrics endpoints at hand.
import { loopbackGet } from "@tcr-assistant/testkit/processes"
import { parsePrometheus } from "@tcr-assistant/kube/prometheus"
import { spawnTied, type TiedChild } from "@tcr-assistant/testkit/process-lifeline"
import { eventually } from "@tcr-assistant/testkit/eventually"
import { captureRunLog } from "@tcr-assistant/testkit/log-lines"
import { fileURLToPath } from "node:url"
import type { ControllerManagerOptions } from "../src/main.ts"

const entry = fileURLToPath(new URL("./fixtures/controller-manager-entry.ts", import.meta.url))

export interface ManagerProcess {
  readonly name: string
  readonly tied: TiedChild
  /** Everything the process printed on stdout and stderr so far. */
  readonly output: () => string
  /** Its JSON log records (lines that are not JSON are skipped). */
  readonly logs: () => ReadonlyArray<Record<string, any>>
  /** Port of /healthz, /readyz and (unless served securely) /metrics, once it logged it. */
  readonly healthPort: () => Promise<number>
  /** Port of the secure /metrics server (`metrics.secure`), once it logged it. */
  readonly metricsPort: () => Promise<number>
  readonly get: (path: string) => Promise<{ readonly status: number; readonly body: string }>
  /** Its /metrics exposition as served (unless served securely). */
  readonly scrape: () => Promise<string>
  readonly metrics: () => Promise<ReadonlyMap<string, number>>
  readonly exited: () => boolean
}

const httpGet = (port: number, path: string) => loopbackGet({ port, path })

export const startManagerProcess = (name: string, options: ControllerManagerOptions): ManagerProcess => {
  const tied = spawnTied(process.execPath, [entry, JSON.stringify({ health: { host: "127.0.0.1", port: 0 }, ...options })], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env }
  })
  captureRunLog("controller", tied.child)
  let output = ""
  tied.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  tied.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  let exited = false
  void tied.exited.then(() => (exited = true))
  const logs = () =>
    output.split("\n").flatMap((line) => {
      try {
        const record = JSON.parse(line)
        return typeof record === "object" && record !== null ? [record] : []
      } catch {
        return []
      }
    })
  const loggedPort = (what: string, message: RegExp) =>
    eventually(() => {
      if (exited) throw new Error(`${name} exited before serving ${what}:\n${output}`)
      const record = logs().find((entry) => message.test(String(entry.msg)))
      if (record === undefined) throw new Error(`${name} has not logged its ${what} port yet:\n${output}`)
      return record.port as number
    }, 120_000)
  const healthPort = () => loggedPort("health", /^serving \/healthz(,| and) \/readyz/)
  const metricsPort = () => loggedPort("secure metrics", /^serving \/metrics over HTTPS/)
  const get = async (path: string) => httpGet(await healthPort(), path)
  const scrape = async () => (await get("/metrics")).body
  return {
    name,
    tied,
    output: () => output,
    logs,
    healthPort,
    metricsPort,
    get,
    scrape,
    metrics: async () => parsePrometheus(await scrape()),
    exited: () => exited
  }
}
