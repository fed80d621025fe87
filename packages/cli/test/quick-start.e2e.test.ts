// The README's offline quick start, exactly as written there: the bash block after the `quick-start:offline` marker
// is extracted from README.md and run in the repository, as a user pasting it would (with a PATH that holds no
// project tools, and none of the variables the block sets), and what it prints and leaves behind is checked.
import { spawn, spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { delimiter, join } from "node:path"
import { afterAll, expect, test } from "vitest"

const repository = join(import.meta.dirname, "..", "..", "..")
const marker = "<!-- quick-start:offline"

/** The first ```bash block after the marker. */
export const quickStartBlock = (readme: string): string => {
  const start = readme.indexOf(marker)
  if (start < 0) throw new Error("README.md has no quick-start:offline marker")
  const fenced = /```bash\n([\s\S]*?)```/.exec(readme.slice(start))
  if (fenced === null) throw new Error("no ```bash block follows the quick-start:offline marker")
  return fenced[1]!
}

/** The environment of a user's shell: no project tools on PATH, no cluster or Tencent Cloud settings, no proxies. */
const userEnvironment = (): NodeJS.ProcessEnv => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) =>
      !/^(https?|no|all)_proxy$/i.test(key) && !key.startsWith("TENCENTCLOUD_") && key !== "KUBECONFIG" &&
      key !== "TCR_API_ENDPOINT" && !key.startsWith("npm_") && !key.startsWith("VITEST")
    )
  )
  env["PATH"] = (process.env["PATH"] ?? "").split(delimiter).filter((dir) => !dir.includes("node_modules")).join(delimiter)
  return env
}

let group: number | undefined
afterAll(() => {
  // Whatever the block left running when it failed: its whole process group.
  if (group !== undefined) {
    try {
      process.kill(-group, "SIGKILL")
    } catch {
      // already gone
    }
  }
})

const isGroupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

test("the README's offline quick start runs as written: dry run, install --wait, status, rotate-token, uninstall", async () => {
  const block = quickStartBlock(readFileSync(join(repository, "README.md"), "utf8"))
  const started = Date.now()
  const child = spawn("bash", ["-e", "-o", "pipefail", "-c", block], {
    cwd: repository,
    env: userEnvironment(),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"]
  })
  group = child.pid
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => (stdout += String(chunk)))
  child.stderr.on("data", (chunk) => (stderr += String(chunk)))
  const code = await new Promise<number | null>((resolve) => child.on("exit", (exitCode) => resolve(exitCode)))
  console.log(`quick start: ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const demo = join(repository, ".cache", "demo")
  expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0)

  // install --dry-run: the plan, nothing changed
  expect(stderr).toContain("TCR instance tcr-demo0001 (demo, ap-guangzhou) for cluster cls-demo0001:")
  expect(stderr).toContain("dry run: nothing was changed")
  // --private-resolution auto: the sample VPC's private DNS resolves the -vpc domain, not the default one
  expect(stderr).toContain("demo-vpc.tencentcloudcr.com: no hosts entry (TCR's private DNS resolves it in vpc-demo0001")
  expect(stderr).toContain("demo.tencentcloudcr.com: hosts entry on every node (TCR's private DNS does not resolve it in vpc-demo0001")
  // install --wait
  expect(stderr).toContain("creating a long-term token for tcr-demo0001")
  expect(stderr).toContain("every ImagePullSecret is Ready")
  // status, and the Secrets the controller distributed
  expect(stdout).toMatch(/demo\.tencentcloudcr\.com: Ready; Secrets \d+\/\d+/)
  expect(stdout).toMatch(/demo-vpc\.tencentcloudcr\.com: Ready; Secrets \d+\/\d+/)
  expect(stdout).toMatch(/^default\s+tcr\.ipsdemo\.tencentcloudcr\.com\s+kubernetes\.io\/dockerconfigjson/m)
  // rotate-token: every copy switched, then the first token deleted
  expect(stderr).toMatch(/^rotated: token \S+ \(expires \S+\) replaces \S+$/m)
  // uninstall --revoke-token
  expect(stderr).toMatch(/^revoked token \S+$/m)
  expect(stderr).toContain("uninstalled")

  // The double logged every call; the key it printed for the user never reached the commands' output.
  const doubleLog = readFileSync(join(demo, "tcr-double.log"), "utf8")
  const secretKey = /TENCENTCLOUD_SECRET_KEY='([^']+)'/.exec(doubleLog)?.[1]
  expect(secretKey).toBeDefined()
  expect(stdout + stderr).not.toContain(secretKey!)
  expect(doubleLog).toMatch(/CreateInstanceToken ap-guangzhou ok/)
  expect(doubleLog).toMatch(/DeleteInstanceToken ap-guangzhou ok/)
  // Everything it started was stopped by its last line, and cleaned up after itself.
  const left = spawnSync("ps", ["-o", "pid,stat,args", "-g", String(child.pid)], { encoding: "utf8" }).stdout
  expect(isGroupAlive(child.pid!), left).toBe(false)
  expect(existsSync(join(demo, "kubeconfig"))).toBe(false)
  expect(existsSync(join(demo, "tcr.env"))).toBe(false)
})
