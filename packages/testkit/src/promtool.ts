// Owns promtool, Prometheus's own checker, for tests: built once from the pinned Go module in ../promtool/ into
// the kit's cache (the same build machinery as the control plane), and run on text a test hands it.
import { spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { buildIntoCache, kitCacheDir } from "./control-plane-binaries.ts"

/** The wrapper Go module whose go.mod pins the Prometheus version. */
export const promtoolModuleDir = fileURLToPath(new URL("../promtool/", import.meta.url))

/** The pinned github.com/prometheus/prometheus module version, e.g. v0.316.0. */
export const promtoolVersion = (moduleDir: string = promtoolModuleDir): string => {
  const match = /^\s*(?:require\s+)?github\.com\/prometheus\/prometheus\s+(v\S+)/m.exec(readFileSync(join(moduleDir, "go.mod"), "utf8"))
  if (match?.[1] === undefined) throw new Error(`github.com/prometheus/prometheus is not required in ${moduleDir}go.mod`)
  return match[1]
}

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export interface ResolvePromtoolOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly progress?: (line: string) => void
}

/** The promtool binary: $TEST_ASSET_PROMTOOL, else `${kitCacheDir}/promtool/<version>/promtool`, built when missing. */
export const resolvePromtool = async (options: ResolvePromtoolOptions = {}): Promise<string> => {
  const env = options.env ?? process.env
  const fromEnv = env["TEST_ASSET_PROMTOOL"]
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!isExecutable(fromEnv)) throw new Error(`TEST_ASSET_PROMTOOL=${fromEnv} is not an executable file`)
    return fromEnv
  }
  const version = promtoolVersion()
  const cacheDir = join(kitCacheDir(env), "promtool", version)
  const binary = join(cacheDir, "promtool")
  if (isExecutable(binary)) return binary
  await buildIntoCache({
    moduleDir: promtoolModuleDir,
    what: `Prometheus module ${version}`,
    binaries: [{ fileName: "promtool", goPackage: "github.com/prometheus/prometheus/cmd/promtool", goOutputName: "promtool" }],
    cacheDir,
    // Service discovery (every cloud's SDK) is most of the build and no check or rule test uses it.
    tags: ["remove_all_sd"],
    missingGo: `Install Go >= 1.26 (https://go.dev/dl/) so the kit can build promtool into ${cacheDir}, or set TEST_ASSET_PROMTOOL.`
  }, env, options.progress ?? ((line) => process.stderr.write(`${line}\n`)))
  return binary
}

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
