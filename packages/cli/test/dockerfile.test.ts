// The Dockerfile's structure, checked fast and without building it (the test kit's addon-image e2e test builds and
// runs the real image): the build stage installs every workspace's dependencies and bundles the CLI, the runtime stage
// copies only the bundle, the exact command its entrypoint runs works for every command the image serves from a copy
// of that bundle (no sources, no node_modules, no warning), and the image's user matches the manifests.
import { buildImageApp, imageEntrypoint } from "@tcr-assistant/testkit/image-app"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
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

test("the build stage installs every workspace's dependencies and bundles the CLI; the runtime stage copies the bundle only", () => {
  expect(stages).toHaveLength(2)
  for (const stage of stages) expect(stage.from).toMatch(/^FROM node:24[-.\w]*( AS \w+)?$/i)
  const [build] = stages
  expect(build!.from).toMatch(/ AS build$/i)
  expect(build!.instructions.find((line) => line.startsWith("RUN npm ci"))).toContain("--ignore-scripts")
  const workspaces = (packageJson(".") as { workspaces: Array<string> }).workspaces
  const copied = build!.instructions.filter((line) => line.startsWith("COPY ")).join("\n")
  for (const workspace of workspaces) expect(copied, workspace).toContain(`${workspace}/package.json`)
  expect(copied).toContain("package-lock.json")
  expect(build!.instructions).toContain("RUN npm run bundle -- /app/bundle")
  expect(packageJson(".").scripts.bundle).toBe("node packages/cli/src/bundle.ts")
  expect(finalStage.instructions.filter((line) => line.startsWith("COPY "))).toEqual(["COPY --from=build /app/bundle /app"])
  expect(finalStage.instructions.some((line) => line.startsWith("RUN "))).toBe(false)
})

test("the entrypoint runs the bundled CLI from a directory holding nothing else: every command the image serves works", async () => {
  const [entrypoint] = instruction("ENTRYPOINT")
  const command = JSON.parse(entrypoint!.slice("ENTRYPOINT".length)) as Array<string>
  expect(command).toEqual([...imageEntrypoint])
  const app = mkdtempSync(join(tmpdir(), "tcr-image-app-"))
  try {
    await buildImageApp(app)
    expect(readdirSync(app).sort()).toEqual(["chunks", "main.mjs"])
    expect(readdirSync(join(app, "chunks")).filter((file) => !file.endsWith(".mjs"))).toEqual([])
    // The commands the manifests, the chart's hook Jobs and the quick start run in the image.
    for (const subcommand of [["controller"], ["hosts-updater"], ["helm-hook", "upgrade-crd"], ["status"]]) {
      // The same relative path from the same working directory: /app in the image, its copy here.
      const result = spawnSync(process.execPath, [...command.slice(1), ...subcommand, "--help"], { cwd: app, encoding: "utf8" })
      expect(result.status, result.stderr).toBe(0)
      expect(result.stdout).toContain(`tcr-assistant ${subcommand.join(" ")}`)
      expect(result.stderr).toBe("")
    }
    // Every chunk loads, the TCR SDK's fetch among them, without Node's warning about its own punycode module.
    const loaded = spawnSync(process.execPath, ["--input-type=module", "-e",
      `const dir = ${JSON.stringify(join(app, "chunks"))}; for (const file of (await import("node:fs")).readdirSync(dir)) await import(dir + "/" + file)`],
      { cwd: app, encoding: "utf8" })
    expect(loaded.status, loaded.stderr).toBe(0)
    expect(loaded.stderr).not.toMatch(/DeprecationWarning/)
  } finally {
    rmSync(app, { recursive: true, force: true })
  }
  expect(instruction("WORKDIR")).toEqual(["WORKDIR /app"])
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
  // The build stage bundles these sources.
  expect(ignored.some((pattern) => pattern === "packages/*/src" || pattern === "packages/cli/src")).toBe(false)
  expect(ignored).toContain("**/dist")
})
