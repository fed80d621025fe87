// The image cannot be built here (no registry), so this checks what can be: the exact command its entrypoint runs
// works for both subcommands from the image's working-directory layout, the dependency stage copies every
// workspace's package.json and installs production dependencies only, and the image's user matches the manifests.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, test } from "vitest"
import { parseAllDocuments } from "yaml"
import { renderInstallYaml } from "../src/manifests.ts"

const repository = join(import.meta.dirname, "..", "..", "..")
const dockerfile = readFileSync(join(repository, "Dockerfile"), "utf8")

/** Instructions with continuation lines joined, comments dropped, grouped by stage. */
const stages = (() => {
  const lines = dockerfile.replace(/\\\n/g, " ").split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
  const result: Array<{ from: string; instructions: Array<string> }> = []
  for (const line of lines) {
    if (/^FROM /i.test(line)) result.push({ from: line, instructions: [] })
    else result.at(-1)?.instructions.push(line)
  }
  return result
})()
const finalStage = stages.at(-1)!
const instruction = (name: string) => finalStage.instructions.filter((line) => line.toUpperCase().startsWith(`${name} `))

test("the entrypoint runs the CLI: `controller` and `hosts-updater` work as its arguments", () => {
  const [entrypoint] = instruction("ENTRYPOINT")
  const command = JSON.parse(entrypoint!.slice("ENTRYPOINT".length)) as Array<string>
  expect(command).toEqual(["node", "packages/cli/src/main.ts"])
  for (const subcommand of ["controller", "hosts-updater"]) {
    // The same relative path from the same working directory (/app holds the repository's layout).
    const result = spawnSync(process.execPath, [...command.slice(1), subcommand, "--help"], { cwd: repository, encoding: "utf8" })
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain(`tcr-assistant ${subcommand}`)
  }
  expect(instruction("WORKDIR")).toEqual(["WORKDIR /app"])
})

test("multi-stage, production dependencies only, every workspace's package.json present for npm ci", () => {
  expect(stages.length).toBeGreaterThanOrEqual(2)
  for (const stage of stages) expect(stage.from).toMatch(/^FROM node:24[-.\w]*( AS \w+)?$/i)
  const dependencies = stages[0]!
  const install = dependencies.instructions.find((line) => line.startsWith("RUN npm ci"))
  expect(install).toContain("--omit=dev")
  const workspaces = (JSON.parse(readFileSync(join(repository, "package.json"), "utf8")) as { workspaces: Array<string> }).workspaces
  const copied = dependencies.instructions.filter((line) => line.startsWith("COPY ")).join("\n")
  for (const workspace of workspaces) expect(copied, workspace).toContain(`${workspace}/package.json`)
  expect(copied).toContain("package-lock.json")
  expect(finalStage.instructions.some((line) => line.startsWith("RUN npm"))).toBe(false)
})

test("the image runs as the non-root user the controller's pod declares", () => {
  const [user] = instruction("USER")
  const uid = Number(user!.slice("USER ".length).split(":")[0])
  expect(uid).toBeGreaterThan(0)
  const deployment = parseAllDocuments(renderInstallYaml()).map((document) => document.toJS()).find((object) => object?.kind === "Deployment")
  expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid })
})

test(".dockerignore keeps dependencies, tests and the repository's history out of the build context", () => {
  const ignored = readFileSync(join(repository, ".dockerignore"), "utf8").split("\n").map((line) => line.trim())
  for (const pattern of ["**/node_modules", ".git", "**/test"]) expect(ignored).toContain(pattern)
  // The dependency stage copies these, so they must stay in the context.
  expect(ignored).not.toContain("package-lock.json")
  expect(ignored.some((pattern) => pattern === "packages" || pattern === "packages/*/package.json")).toBe(false)
})
