// How the long-running programs end on a fatal error, as a log collector sees it: every line they print is one JSON
// object, the failure is one record with its message, tag and cause chain, without a stack trace unless
// --log-level debug, and the exit code is non-zero.
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, expect, test } from "vitest"

const cli = join(import.meta.dirname, "..", "..", "..", "node_modules", ".bin", "tcr-assistant")
const dir = mkdtempSync(join(tmpdir(), "tcr-fatal-"))
const kubeconfig = join(dir, "kubeconfig")
let busy: Server
let busyPort = 0

beforeAll(async () => {
  // An apiserver that is not there: the programs start anyway and keep retrying it; the port clash ends them.
  writeFileSync(kubeconfig, [
    "apiVersion: v1", "kind: Config", "current-context: c",
    "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
    "users: [{name: u, user: {token: not-a-secret}}]",
    "contexts: [{name: c, context: {cluster: c, user: u}}]"
  ].join("\n"))
  busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, "0.0.0.0", resolve))
  busyPort = (busy.address() as { port: number }).port
})

afterAll(async () => {
  await new Promise((resolve) => busy.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

const run = (args: ReadonlyArray<string>) => {
  const result = spawnSync(cli, args, { encoding: "utf8", env: { ...process.env, NODE_NAME: "n1" }, timeout: 300_000 })
  const lines = result.stdout.split("\n").filter((line) => line !== "")
  return { ...result, records: lines.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

const programs = {
  "hosts-updater": ["hosts-updater", "--kubeconfig", kubeconfig, "--hosts-file", join(dir, "hosts"), "--metrics-port", "0"],
  controller: ["controller", "--kubeconfig", kubeconfig, "--webhook=false", "--leader-elect=false", "--metrics-port", "0"]
} as const

for (const [program, args] of Object.entries(programs)) {
  test(`${program}: a fatal error is one JSON line with message, tag and cause chain, and no stack`, () => {
    const result = run([...args, "--health-port", String(busyPort)])
    expect(result.status, result.stderr).toBe(1)
    expect(result.stderr).toBe("")
    const fatal = result.records.filter((record) => record.msg === "stopped by a fatal error")
    expect(fatal).toHaveLength(1)
    expect(fatal[0]).toMatchObject({ level: "error", errorTag: "HealthServerError" })
    expect(fatal[0]!.error).toContain(String(busyPort))
    expect(fatal[0]).not.toHaveProperty("stack")
    expect(result.stdout).not.toContain("    at ")
  })
}

test("at --log-level debug the fatal record carries the stack", () => {
  const result = run([...programs["hosts-updater"], "--health-port", String(busyPort), "--log-level", "debug"])
  expect(result.status, result.stderr).toBe(1)
  const fatal = result.records.find((record) => record.msg === "stopped by a fatal error")
  expect(fatal?.errorTag).toBe("HealthServerError")
  expect(String(fatal?.stack)).toContain("HealthServerError")
})

for (const [program, args] of Object.entries(programs)) {
  test(`${program} --log-format text: a port that cannot be served is a plain error line, no stack trace`, () => {
    const result = spawnSync(cli, [...args.filter((arg, index) => arg !== "--metrics-port" && args[index - 1] !== "--metrics-port"), "--health-port", "0", "--metrics-port", String(busyPort), "--log-format", "text"], {
      encoding: "utf8",
      env: { ...process.env, NODE_NAME: "n1" },
      timeout: 300_000
    })
    expect(result.status, result.stderr).toBe(1)
    const output = `${result.stdout}${result.stderr}`
    expect(output).toContain(String(busyPort))
    expect(output).toMatch(/EADDRINUSE/)
    expect(output).not.toContain("    at ")
  })
}
