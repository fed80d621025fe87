#!/usr/bin/env node
// The `tcr-assistant` command as npm links it (also as `kubectl-tcr_assistant`, so that `kubectl tcr-assistant`
// works): runs the CLI on Node.js 24 or later. This file must itself run on older Node.js, because a kubectl plugin
// or a shell finds whatever `node` is first on PATH; when that one is too old, the CLI runs on the Node.js the
// project installs (the `node` npm package) instead, and otherwise says what to install.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const minimumMajor = 24
const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..")
const sources = join(packageDir, "src", "main.ts")
const compiled = join(packageDir, "dist", "main.js")

/** A checkout runs the TypeScript sources (Node strips the types); a build without them runs dist/. */
const program = existsSync(sources)
  ? { args: [sources] }
  : { args: ["--conditions=compiled", compiled] }

/** The project's own Node.js: node_modules/node/bin/node in this package's directory or any above it. */
const projectNode = () => {
  for (let dir = packageDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", "node", "bin", "node")
    if (existsSync(candidate)) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

const major = Number(process.versions.node.split(".")[0])
const runtime = major >= minimumMajor ? process.execPath : projectNode()
if (runtime === undefined) {
  process.stderr.write(
    `error: tcr-assistant needs Node.js ${minimumMajor} or later, and this is Node.js ${process.versions.node}\n` +
      `next: install Node.js ${minimumMajor}+ (https://nodejs.org/), or run \`npm ci\` in the tcr-assistant ` +
      "repository, which brings its own\n"
  )
  process.exit(2)
} else {
  const child = spawn(runtime, [...program.args, ...process.argv.slice(2)], { stdio: "inherit" })
  // The child gets the terminal's signals itself; forward the ones sent to this process alone.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("error", (error) => {
    process.stderr.write(`error: could not start ${runtime}: ${error.message}\n`)
    process.exit(2)
  })
  child.on("exit", (code, signal) => {
    if (signal !== null) {
      // End the same way, without the forwarding listener in the way.
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    }
    else process.exit(code ?? 1)
  })
}
