// The `tcr-assistant` command as users get it from `npm ci`: the bin npm links, the same file as a kubectl plugin,
// on whatever `node` comes first on PATH (this machine's own may be older than the CLI needs), with the CLI's exit
// codes and signals passed through.
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { afterAll, expect, test } from "vitest"

const repository = join(import.meta.dirname, "..", "..", "..")
const launcher = join(repository, "packages", "cli", "bin", "tcr-assistant.js")
const linked = (name: string) => join(repository, "node_modules", ".bin", name)

/** PATH without the project's node_modules/.bin, as a user's shell or kubectl has it. */
const userPath = (process.env["PATH"] ?? "").split(delimiter).filter((dir) => !dir.includes("node_modules")).join(delimiter)
const pluginDir = mkdtempSync(join(tmpdir(), "tcr-plugin-"))
symlinkSync(linked("kubectl-tcr_assistant"), join(pluginDir, "kubectl-tcr_assistant"))
afterAll(() => rmSync(pluginDir, { recursive: true, force: true }))

const run = (command: string, args: ReadonlyArray<string>, path = userPath) =>
  spawnSync(command, args, { cwd: tmpdir(), encoding: "utf8", env: { ...process.env, PATH: path } })

const version = JSON.parse(readFileSync(join(repository, "packages", "cli", "package.json"), "utf8")).version as string

test("npm ci links both command names to the launcher", () => {
  for (const name of ["tcr-assistant", "kubectl-tcr_assistant"]) expect(realpathSync(linked(name))).toBe(launcher)
})

test("the command runs from any directory with the first node on PATH, whatever its version", () => {
  const result = run(linked("tcr-assistant"), ["--version"])
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain(version)
})

test("kubectl finds it as a plugin: `kubectl tcr-assistant`", () => {
  const path = [pluginDir, userPath].join(delimiter)
  const listed = run("kubectl", ["plugin", "list"], path)
  expect(listed.stdout).toContain(join(pluginDir, "kubectl-tcr_assistant"))
  const result = run("kubectl", ["tcr-assistant", "render"], path)
  expect(result.status, result.stderr).toBe(0)
  expect(result.stdout).toContain("kind: CustomResourceDefinition")
  expect(result.stdout).toContain("name: imagepullsecrets.tcr.tencentcloudcr.com")
})

test("the CLI's exit code comes through: a usage error exits 2", () => {
  const result = run(linked("tcr-assistant"), ["install", "--no-such-flag"])
  expect(result.status).toBe(2)
  expect(result.stderr + result.stdout).toContain("--no-such-flag")
})

/** An agent that keeps retrying an apiserver that is not there: it runs until it is told to stop. */
const startAgent = (dir: string, extraArgs: ReadonlyArray<string> = []) => {
  const kubeconfig = join(dir, "kubeconfig")
  writeFileSync(kubeconfig, [
    "apiVersion: v1", "kind: Config", "current-context: c",
    "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
    "users: [{name: u, user: {token: not-a-secret}}]",
    "contexts: [{name: c, context: {cluster: c, user: u}}]"
  ].join("\n"))
  const child = spawn(linked("tcr-assistant"), [
    "hosts-updater", "--kubeconfig", kubeconfig, "--hosts-file", join(dir, "hosts"), "--node-name", "n1", "--health-port", "0", "--metrics-port", "0",
    ...extraArgs
  ], { env: { ...process.env, PATH: userPath }, stdio: ["ignore", "pipe", "pipe"] })
  const output = { stdout: "", stderr: "" }
  // Resolves once the agent itself runs and has logged its first failed list.
  const logged = new Promise<void>((resolve) => {
    for (const name of ["stdout", "stderr"] as const) {
      child[name].on("data", (chunk) => {
        output[name] += String(chunk)
        if (output.stdout.includes("watch restarting") && output.stdout.endsWith("\n")) resolve()
      })
    }
  })
  const exited = new Promise<[number | null, string | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])))
  return { child, output, logged, exited }
}

const withDir = async (body: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), "tcr-command-"))
  try {
    await body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test("SIGTERM to the command reaches the program it runs, and both end", () =>
  withDir(async (dir) => {
    const agent = startAgent(dir)
    try {
      await agent.logged
      const program = spawnSync("pgrep", ["-P", String(agent.child.pid)], { encoding: "utf8" }).stdout.trim()
      expect(program, "the launcher runs the CLI as its child").not.toBe("")
      agent.child.kill("SIGTERM")
      const [code, signal] = await agent.exited
      // The CLI ends an interrupted program with 130; the launcher ends the same way.
      expect({ code, signal }, agent.output.stderr).toEqual({ code: 130, signal: null })
      expect(spawnSync("kill", ["-0", program]).status, "the CLI's process is gone").not.toBe(0)
    } finally {
      agent.child.kill("SIGKILL")
    }
  }))

test("hosts-updater logs one JSON object per line by default, and text with --log-format text", () =>
  withDir(async (dir) => {
    for (const format of ["json", "text"] as const) {
      const agent = startAgent(dir, format === "json" ? [] : ["--log-format", "text"])
      try {
        await agent.logged
      } finally {
        agent.child.kill("SIGTERM")
        await agent.exited
      }
      const lines = agent.output.stdout.split("\n").filter((line) => line !== "")
      if (format === "json") {
        for (const line of lines) {
          const record = JSON.parse(line) as Record<string, unknown>
          expect(Object.keys(record).slice(0, 3), line).toEqual(["time", "level", "msg"])
        }
        expect(lines.map((line) => JSON.parse(line).msg)).toContain("starting hosts-updater")
      } else {
        expect(lines.some((line) => line.startsWith("{")), agent.output.stdout).toBe(false)
        expect(agent.output.stdout).toContain("starting hosts-updater")
      }
    }
  }))
