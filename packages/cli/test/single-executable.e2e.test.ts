// The single-file executable `npm run package` writes to dist/, tested as the file it is: run with no Node.js on
// PATH and from outside the repository, it prints its version, renders the manifests, and plans an install against
// the TCR API double and the shared control plane.
import { startTcrDouble, type TcrDouble } from "@tcr-assistant/testkit/tcr-double"
import { demoInstanceId, demoRegion, seedDemoInstance } from "@tcr-assistant/testkit/tcr-double-sample"
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, expect, inject, test } from "vitest"

const repository = join(import.meta.dirname, "..", "..", "..")
const executable = join(repository, "dist", "tcr-assistant")
const version = JSON.parse(readFileSync(join(repository, "package.json"), "utf8")).version as string
const dir = mkdtempSync(join(tmpdir(), "tcr-sea-"))
/** No node and nothing of the repository: only the system's tools. */
const systemPath = "/usr/bin:/bin"
let double: TcrDouble
let buildMillis = 0

beforeAll(async () => {
  double = await startTcrDouble()
  seedDemoInstance(double)
  const started = Date.now()
  await new Promise<void>((resolve, reject) =>
    execFile("npm", ["run", "package"], {
      cwd: repository,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env["PATH"]}` }
    }, (error, _stdout, stderr) => (error === null ? resolve() : reject(new Error(`npm run package: ${stderr}`))))
  )
  buildMillis = Date.now() - started
})

afterAll(async () => {
  console.log(`npm run package: ${buildMillis} ms, ${(statSync(executable).size / 1024 / 1024).toFixed(0)} MiB`)
  await double?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the executable without blocking this process, which serves the TCR API double. */
const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(executable, args, { cwd: dir, env: { HOME: dir, PATH: systemPath, ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    child.on("close", (status) => resolve({ status, stdout, stderr }))
  })

test("the file prints its version", async () => {
  const result = await run(["--version"])
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain(version)
  expect(result.stderr).toBe("")
})

test("render prints every manifest, the same as the command run from the sources", async () => {
  const result = await run(["render"])
  expect(result.status, result.stderr).toBe(0)
  const fromSources = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [join(repository, "packages", "cli", "src", "main.ts"), "render"], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
      error === null ? resolve(stdout) : reject(error))
  )
  expect(result.stdout).toBe(fromSources)
  expect(result.stdout).toContain("name: imagepullsecrets.tcr.tencentcloudcr.com")
})

test("install --dry-run plans against the TCR API double and the cluster", async () => {
  const result = await run(
    ["install", "--region", demoRegion, "--instance-id", demoInstanceId, "--cluster-id", "cls-sea", "--dry-run", "-o", "json"],
    {
      KUBECONFIG: inject("kubeconfigPath"),
      TCR_API_ENDPOINT: double.endpoint,
      TENCENTCLOUD_SECRET_ID: double.secretId,
      TENCENTCLOUD_SECRET_KEY: double.secretKey
    }
  )
  expect(result.status, result.stderr).toBe(0)
  expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, instance: { id: demoInstanceId }, token: { action: "create" } })
  expect(result.stderr).toContain("dry run: nothing was changed")
  expect(result.stdout + result.stderr).not.toContain(double.secretKey)
})
