// The Dockerfile's structure, checked fast and without building it (the test kit's addon-image e2e test builds and
// runs the real image): the build stage compiles what the runtime stage copies, the exact command its entrypoint runs works for both subcommands from the image's layout
// (package manifests and compiled dist/ folders, no sources), the dependency stage copies every workspace's
// package.json and installs production dependencies only, and the image's user matches the manifests.
import { buildCompiledApp, compiledEntrypoint, runtimePackages } from "@tcr-assistant/testkit/compiled-app"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
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

const packageJson = (path: string) => JSON.parse(readFileSync(join(repository, path, "package.json"), "utf8"))

test("the build stage compiles every runtime package, and the runtime stage copies their dist/ and no sources", () => {
  const build = stages.find((stage) => / AS build$/i.test(stage.from))!
  expect(build.instructions).toContain("RUN npm run build")
  expect(packageJson(".").scripts.build).toBe("npm run build --workspaces --if-present")
  const packages = runtimePackages()
  expect(packages).toEqual(["packages/api", "packages/kube", "packages/tcr", "packages/controller", "packages/hosts-updater", "packages/cli"])
  for (const workspace of packages) {
    // What buildCompiledApp runs too, with the output directed elsewhere.
    expect(packageJson(workspace).scripts.build, workspace).toBe("rm -rf dist && tsc -p tsconfig.build.json")
    // Only the image asks for the compiled condition; everything else (tsc, vitest, npm scripts) gets the sources.
    expect(packageJson(workspace).exports, workspace).toEqual({
      ".": { compiled: "./dist/index.js", default: "./src/index.ts" },
      "./*": { compiled: "./dist/*.js", default: "./src/*.ts" }
    })
  }
  const copies = finalStage.instructions.filter((line) => line.startsWith("COPY "))
  expect(copies).toEqual([
    "COPY --from=dependencies /app /app",
    ...packages.map((workspace) => `COPY --from=build /app/${workspace}/dist ${workspace}/dist`)
  ])
  // The dependencies stage, which the runtime stage copies whole, holds no sources.
  for (const line of stages[0]!.instructions.filter((line) => line.startsWith("COPY "))) expect(line).toMatch(/^COPY (\S*package(-lock)?\.json )+\S+$/)
})

test("the entrypoint runs the compiled CLI: `controller` and `hosts-updater` work as its arguments", async () => {
  const [entrypoint] = instruction("ENTRYPOINT")
  const command = JSON.parse(entrypoint!.slice("ENTRYPOINT".length)) as Array<string>
  expect(command).toEqual([...compiledEntrypoint])
  const app = mkdtempSync(join(tmpdir(), "tcr-image-app-"))
  try {
    await buildCompiledApp(app)
    expect(existsSync(join(app, "packages", "cli", "src"))).toBe(false)
    for (const subcommand of ["controller", "hosts-updater"]) {
      // The same relative path from the same working directory: /app in the image, its copy here.
      const result = spawnSync(process.execPath, [...command.slice(1), subcommand, "--help"], { cwd: app, encoding: "utf8" })
      expect(result.status, result.stderr).toBe(0)
      expect(result.stdout).toContain(`tcr-assistant ${subcommand}`)
    }
  } finally {
    rmSync(app, { recursive: true, force: true })
  }
  expect(instruction("WORKDIR")).toEqual(["WORKDIR /app"])
})

test("multi-stage, production dependencies only, every workspace's package.json present for npm ci", () => {
  expect(stages.length).toBeGreaterThanOrEqual(2)
  for (const stage of [stages[0]!, finalStage]) expect(stage.from).toMatch(/^FROM node:24[-.\w]*( AS \w+)?$/i)
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
  // The build stage compiles from these, into dist/ folders of its own.
  for (const pattern of ["tsconfig.base.json", "tsconfig.build.json", "*.json"]) expect(ignored).not.toContain(pattern)
  expect(ignored).toContain("**/dist")
})
