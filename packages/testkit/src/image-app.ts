// Owns the image's /app rebuilt in a scratch directory: the CLI bundled into main.mjs and its chunks by the command
// the Dockerfile's build stage runs (`npm run bundle`, packages/cli/src/bundle.ts), and nothing else: no sources, no
// node_modules. Tests run the image's exact entrypoint from it, which proves the bundle needs no other file.
import { spawn } from "node:child_process"
import { join } from "node:path"

export const repositoryRoot = join(import.meta.dirname, "..", "..", "..")

/** The image's entrypoint without its arguments, run from the app directory. */
export const imageEntrypoint = ["node", "main.mjs"] as const

/** Bundles the CLI into `appDir` (emptied first) as the image's build stage does. */
export const buildImageApp = (appDir: string): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const args = [join(repositoryRoot, "packages", "cli", "src", "bundle.ts"), appDir]
    const child = spawn(process.execPath, args, { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited with ${code}:\n${output}`)))
  })
