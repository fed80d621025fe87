// Owns the image's /app layout rebuilt in a scratch directory: every workspace's package.json, the compiled dist/ of
// each runtime package (the build stage's `tsc -p tsconfig.build.json`, written here rather than into the working
// tree, so that concurrent runs never read a half-written file) and no sources, with node_modules linked to the
// repository's. Tests run the image's exact entrypoint from it, which proves the compiled programs need no .ts file.
import { spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs"
import { join } from "node:path"

export const repositoryRoot = join(import.meta.dirname, "..", "..", "..")

/** The image's entrypoint without its arguments, run from the app directory. */
export const compiledEntrypoint = ["node", "--conditions=compiled", "packages/cli/dist/main.js"] as const

const workspaces = (): ReadonlyArray<string> =>
  (JSON.parse(readFileSync(join(repositoryRoot, "package.json"), "utf8")) as { workspaces: Array<string> }).workspaces

/** The packages the image runs compiled: those with a tsconfig.build.json, e.g. `packages/kube`. */
export const runtimePackages = (): ReadonlyArray<string> =>
  workspaces().filter((workspace) => existsSync(join(repositoryRoot, workspace, "tsconfig.build.json")))

const run = (command: string, args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${[command, ...args].join(" ")} exited with ${code}:\n${output}`))
    )
  })

/**
 * Fills `appDir` (existing and empty) with the image's layout and compiles the runtime packages into it. Node
 * resolves third-party packages through the links to the repository's node_modules, and the workspace packages
 * through `node_modules/@tcr-assistant/*` links to `appDir/packages/*`, as npm installs them in the image.
 */
export const buildCompiledApp = async (appDir: string): Promise<void> => {
  const tsc = join(repositoryRoot, "node_modules", "typescript", "bin", "tsc")
  for (const workspace of runtimePackages()) {
    await run(process.execPath, [tsc, "-p", join(workspace, "tsconfig.build.json"), "--outDir", join(appDir, workspace, "dist")])
  }
  copyFileSync(join(repositoryRoot, "package.json"), join(appDir, "package.json"))
  for (const workspace of workspaces()) {
    mkdirSync(join(appDir, workspace), { recursive: true })
    copyFileSync(join(repositoryRoot, workspace, "package.json"), join(appDir, workspace, "package.json"))
  }
  const modules = join(appDir, "node_modules")
  mkdirSync(join(modules, "@tcr-assistant"), { recursive: true })
  for (const entry of readdirSync(join(repositoryRoot, "node_modules"))) {
    if (entry === "@tcr-assistant" || entry.startsWith(".")) continue
    symlinkSync(join(repositoryRoot, "node_modules", entry), join(modules, entry))
  }
  for (const workspace of workspaces()) {
    const name = (JSON.parse(readFileSync(join(repositoryRoot, workspace, "package.json"), "utf8")) as { name: string }).name
    symlinkSync(join("..", "..", workspace), join(modules, name))
  }
}
