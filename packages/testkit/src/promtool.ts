// Owns promtool, Prometheus's own checker, for tests: built once from the pinned Go module in ../promtool/ into
// the kit's cache (the same build machinery as the control plane), and run on text a test hands it.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type GoTool, goToolVersion, resolveGoTool, type ResolveGoToolOptions } from "./go-tool.ts"

/** The wrapper Go module whose go.mod pins the Prometheus version. */
export const promtoolModuleDir = fileURLToPath(new URL("../promtool/", import.meta.url))

const promtool: GoTool = {
  name: "promtool",
  envVar: "TEST_ASSET_PROMTOOL",
  moduleDir: promtoolModuleDir,
  module: "github.com/prometheus/prometheus",
  goPackage: "github.com/prometheus/prometheus/cmd/promtool",
  // Service discovery (every cloud's SDK) is most of the build and no check or rule test uses it.
  tags: ["remove_all_sd"],
  missingGo: "Install Go >= 1.26 (https://go.dev/dl/) so the kit can build promtool"
}

/** The pinned github.com/prometheus/prometheus module version, e.g. v0.316.0. */
export const promtoolVersion = (moduleDir: string = promtoolModuleDir): string => goToolVersion({ ...promtool, moduleDir })

export type ResolvePromtoolOptions = ResolveGoToolOptions

/** The promtool binary: $TEST_ASSET_PROMTOOL, else `${kitCacheDir}/promtool/<version>/promtool`, built when missing. */
export const resolvePromtool = (options: ResolvePromtoolOptions = {}): Promise<string> => resolveGoTool(promtool, options)

export interface PromtoolResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run promtool with `args` in `cwd`, feeding `input` on stdin. */
export const runPromtool = async (
  args: ReadonlyArray<string>,
  input: string,
  options: ResolvePromtoolOptions & { readonly cwd?: string } = {}
): Promise<PromtoolResult> => {
  const binary = await resolvePromtool(options)
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(input)
  })
}

/** `promtool check metrics`: parses the text exposition and lints names, units and help (exit 0 only when clean). */
export const checkMetrics = (exposition: string, options: ResolvePromtoolOptions = {}) =>
  runPromtool(["check", "metrics"], exposition, options)

/**
 * `promtool test rules`: `files` (file name -> content) are written to a scratch directory, the rule files among them
 * named by the test file's `rule_files`, and `testFile` names the unit-test file to run.
 */
export const testRules = async (files: Readonly<Record<string, string>>, testFile: string, options: ResolvePromtoolOptions = {}) => {
  const dir = mkdtempSync(join(tmpdir(), "tcr-promtool-"))
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
    return await runPromtool(["test", "rules", testFile], "", { ...options, cwd: dir })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `promtool check rules` on one rule file's content: syntax, PromQL and templates. */
export const checkRules = async (rules: string, options: ResolvePromtoolOptions = {}) => {
  const dir = mkdtempSync(join(tmpdir(), "tcr-promtool-"))
  try {
    writeFileSync(join(dir, "rules.yaml"), rules)
    return await runPromtool(["check", "rules", "rules.yaml"], "", { ...options, cwd: dir })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
