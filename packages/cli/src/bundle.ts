// Owns the program the image runs: the `tcr-assistant` CLI with every dependency bundled and minified (rolldown)
// into `main.mjs`, plus chunks that load only when a command needs them (the controller, the TCR API, install...).
// Measured against the per-package compiled JavaScript it replaced, loading the controller's modules took a third of
// the time and half the heap: V8 keeps every module's source text, and effect's modules are mostly documentation.
//
//   node packages/cli/src/bundle.ts OUT_DIR        (npm run bundle -- OUT_DIR; the Dockerfile's build stage)
import { mkdirSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { build, type InputOptions } from "rolldown"
import { repositoryRoot } from "./repository.ts"

/** The CLI's source entry point; every workspace package resolves to its sources (no export condition). */
export const cliEntry = join(repositoryRoot, "packages", "cli", "src", "main.ts")
/** The bundle's entry file, run as `node main.mjs <command>` from the directory it was written to. */
export const bundleEntryFile = "main.mjs"

/**
 * What every bundle of the CLI shares (this one and `npm run package`'s single executable). Node warns about its
 * own `punycode` module whenever code outside node_modules loads it, which bundled code is: node-fetch's URL parser
 * (under the TCR SDK) gets the npm package of the same API instead.
 */
export const bundleInputOptions = (): InputOptions => ({
  platform: "node",
  logLevel: "warn",
  resolve: { alias: { punycode: createRequire(import.meta.url).resolve("punycode/punycode.js") } },
  onLog: (level, log, handler) => {
    // A module both imported and dynamically imported stays in its importer's chunk: expected, and not a problem.
    if (log.code === "INEFFECTIVE_DYNAMIC_IMPORT") return
    handler(level, log)
  }
})

/**
 * Writes `main.mjs` and its chunks into `outDir` (emptied first). `extraEntries` (name -> source file) are bundled
 * alongside, sharing the chunks: the benchmark's controller worker runs the same code as the image this way.
 */
export const bundleCli = async (outDir: string, extraEntries: Readonly<Record<string, string>> = {}): Promise<void> => {
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  await build({
    ...bundleInputOptions(),
    input: { main: cliEntry, ...extraEntries },
    output: {
      dir: outDir,
      format: "esm",
      minify: true,
      entryFileNames: "[name].mjs",
      chunkFileNames: "chunks/[name]-[hash].mjs"
    }
  })
}

if (process.argv[1] === import.meta.filename) {
  const outDir = process.argv[2]
  if (outDir === undefined) {
    console.error("usage: node packages/cli/src/bundle.ts OUT_DIR")
    process.exit(2)
  }
  const started = Date.now()
  bundleCli(outDir).then(
    () => console.log(`bundled ${cliEntry} into ${join(outDir, bundleEntryFile)} (${((Date.now() - started) / 1000).toFixed(1)} s)`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error)
      process.exit(1)
    }
  )
}
