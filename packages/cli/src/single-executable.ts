// Owns `npm run package`: the `tcr-assistant` command as one file for machines without Node.js, a Node.js single
// executable application (https://nodejs.org/api/single-executable-applications.html) written to dist/. The CLI
// and every dependency are bundled into one CommonJS script (rolldown), which Node turns into a preparation blob
// and postject injects into a copy of the Node.js 24 binary this script runs on.
import { execFileSync } from "node:child_process"
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { build } from "rolldown"
import { bundleInputOptions, cliEntry } from "./bundle.ts"
import { repositoryRoot } from "./repository.ts"

const outputDir = join(repositoryRoot, "dist")
const workDir = join(outputDir, "single-executable")
const executable = join(outputDir, "tcr-assistant")
/** The fuse every Node.js binary carries; postject flips it so that Node runs the injected blob. */
const seaFuse = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"

const step = (what: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${what}`)

const main = async () => {
  rmSync(workDir, { recursive: true, force: true })
  mkdirSync(workDir, { recursive: true })

  step("bundling packages/cli/src/main.ts and its dependencies into one CommonJS script")
  const bundle = join(workDir, "main.cjs")
  await build({
    ...bundleInputOptions(),
    input: cliEntry,
    output: { file: bundle, format: "cjs", inlineDynamicImports: true, minify: true }
  })

  step("writing the preparation blob")
  const config = join(workDir, "sea-config.json")
  const blob = join(workDir, "sea-prep.blob")
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true }))
  execFileSync(process.execPath, ["--experimental-sea-config", config], { stdio: "inherit" })

  step(`injecting it into a copy of ${process.execPath} (Node.js ${process.version})`)
  rmSync(executable, { force: true })
  copyFileSync(process.execPath, executable)
  chmodSync(executable, 0o755)
  execFileSync(join(repositoryRoot, "node_modules", ".bin", "postject"), [executable, "NODE_SEA_BLOB", blob, "--sentinel-fuse", seaFuse], {
    stdio: ["ignore", "ignore", "pipe"] // its warnings about ELF note sections are noise; a failure throws with them
  })
  rmSync(workDir, { recursive: true, force: true })
  step(`wrote ${executable} (${(statSync(executable).size / 1024 / 1024).toFixed(0)} MiB)`)
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
