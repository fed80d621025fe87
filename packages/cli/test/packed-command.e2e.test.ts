// The command as a user without a clone gets it: `npm pack` in the repository (prepack compiles every runtime
// package), then `npm install -g --offline` of the tarball into a fresh prefix with an empty npm cache, so that
// everything it runs must come from the tarball itself. The installed command then runs from outside the repository,
// with only Node.js 24 on PATH: --version, render, install --dry-run against the TCR API double and the shared
// control plane, and the same binary as a kubectl plugin.
import { startTcrDouble, type TcrDouble } from "@tcr-assistant/testkit/tcr-double"
import { demoInstanceId, demoRegion, seedDemoInstance } from "@tcr-assistant/testkit/tcr-double-sample"
import { execFile, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, expect, inject, test } from "vitest"

const repository = join(import.meta.dirname, "..", "..", "..")
const version = JSON.parse(readFileSync(join(repository, "package.json"), "utf8")).version as string
const dir = mkdtempSync(join(tmpdir(), "tcr-packed-"))
const prefix = join(dir, "prefix")
const bin = join(prefix, "bin")
/** A user's PATH: Node.js 24 (this test's own) and the system's tools, nothing of the repository. */
const userPath = [dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(":")
const figures: Record<string, number> = {}
let double: TcrDouble

const timed = async (name: string, body: () => Promise<void>) => {
  const started = Date.now()
  await body()
  figures[name] = Date.now() - started
}

/**
 * Runs npm with the project's Node.js, whatever node is first on the caller's PATH, and without the npm_* settings
 * of the npm that started this test run.
 */
const npm = (args: ReadonlyArray<string>, cwd: string) =>
  new Promise<void>((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)))
    env["PATH"] = `${dirname(process.execPath)}:${process.env["PATH"]}`
    execFile("npm", [...args], { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) =>
      error === null ? resolve() : reject(new Error(`npm ${args.join(" ")}: ${error.message}\n${stderr}`)))
  })

beforeAll(async () => {
  double = await startTcrDouble()
  seedDemoInstance(double)
  mkdirSync(join(dir, "pack"))
  await timed("npm pack", () => npm(["pack", "--pack-destination", join(dir, "pack")], repository))
  const [tarball] = readdirSync(join(dir, "pack"))
  expect(tarball).toBe(`tcr-assistant-${version}.tgz`)
  await timed("npm install -g --offline", () =>
    npm(["install", "-g", "--offline", "--no-audit", "--no-fund", "--cache", join(dir, "empty-cache"), "--prefix", prefix, join(dir, "pack", tarball!)], dir))
})

afterAll(async () => {
  console.log("figures (ms):", JSON.stringify(figures))
  await double?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Runs a command to its end without blocking this process, which serves the TCR API double. */
const run = (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, { cwd: dir, env: { HOME: dir, PATH: `${bin}:${userPath}`, ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    child.on("close", (status) => resolve({ status, stdout, stderr }))
  })

test("the installed command prints its version, from any directory", async () => {
  const result = await run(join(bin, "tcr-assistant"), ["--version"])
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain(version)
})

test("it ships compiled JavaScript only: no TypeScript sources or tests of ours", () => {
  const ours = join(prefix, "lib", "node_modules", "tcr-assistant", "node_modules", "@tcr-assistant")
  const files = readdirSync(ours, { recursive: true, encoding: "utf8" })
  expect(files.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([])
  expect(readdirSync(ours).sort()).toEqual(["api", "cli", "controller", "hosts-updater", "kube", "tcr"])
})

test("render prints every manifest", async () => {
  const result = await run(join(bin, "tcr-assistant"), ["render"])
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain("name: imagepullsecrets.tcr.tencentcloudcr.com")
  expect(result.stdout).toContain("kind: DaemonSet")
})

test("install --dry-run plans against the TCR API double and the cluster, and changes nothing", async () => {
  const calls = double.calls().length
  const result = await run(
    join(bin, "tcr-assistant"),
    ["install", "--region", demoRegion, "--instance-id", demoInstanceId, "--cluster-id", "cls-packed", "--dry-run", "-o", "json"],
    {
      KUBECONFIG: inject("kubeconfigPath"),
      TCR_API_ENDPOINT: double.endpoint,
      TENCENTCLOUD_SECRET_ID: double.secretId,
      TENCENTCLOUD_SECRET_KEY: double.secretKey
    }
  )
  expect(result.status, result.stderr).toBe(0)
  const plan = JSON.parse(result.stdout)
  expect(plan).toMatchObject({ dryRun: true, instance: { id: demoInstanceId }, token: { action: "create" } })
  expect(plan.privateResolution).toMatchObject({ enabled: true, mode: "auto", vpcId: "vpc-demo0001" })
  expect(result.stderr).toContain("dry run: nothing was changed")
  const actions = double.calls().slice(calls).map((call) => call.action)
  expect(actions).toContain("DescribeInternalEndpointDnsStatus")
  expect(actions).not.toContain("CreateInstanceToken")
  expect(result.stdout + result.stderr).not.toContain(double.secretKey)
})

test("kubectl finds the installed command as a plugin", async () => {
  expect((await run("kubectl", ["plugin", "list"])).stdout).toContain(join(bin, "kubectl-tcr_assistant"))
  const result = await run("kubectl", ["tcr-assistant", "--version"])
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain(version)
})
