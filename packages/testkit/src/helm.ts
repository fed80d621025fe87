// Owns helm, the chart tool, for tests: built once from the pinned Go module in ../helm/ into the kit's cache (the
// same build machinery as the control plane and promtool), and run with a kubeconfig and arguments a test hands it.
import { spawn } from "node:child_process"
import { accessSync, constants, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { buildIntoCache, kitCacheDir } from "./control-plane-binaries.ts"

/** The wrapper Go module whose go.mod pins the helm version. */
export const helmModuleDir = fileURLToPath(new URL("../helm/", import.meta.url))

/** The pinned helm.sh/helm/v3 module version, e.g. v3.22.0. */
export const helmVersion = (moduleDir: string = helmModuleDir): string => {
  const match = /^\s*(?:require\s+)?helm\.sh\/helm\/v3\s+(v\S+)/m.exec(readFileSync(join(moduleDir, "go.mod"), "utf8"))
  if (match?.[1] === undefined) throw new Error(`helm.sh/helm/v3 is not required in ${moduleDir}go.mod`)
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

export interface ResolveHelmOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly progress?: (line: string) => void
}

/** The helm binary: $TEST_ASSET_HELM, else `${kitCacheDir}/helm/<version>/helm`, built when missing. */
export const resolveHelm = async (options: ResolveHelmOptions = {}): Promise<string> => {
  const env = options.env ?? process.env
  const fromEnv = env["TEST_ASSET_HELM"]
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!isExecutable(fromEnv)) throw new Error(`TEST_ASSET_HELM=${fromEnv} is not an executable file`)
    return fromEnv
  }
  const version = helmVersion()
  const cacheDir = join(kitCacheDir(env), "helm", version)
  const binary = join(cacheDir, "helm")
  if (isExecutable(binary)) return binary
  await buildIntoCache({
    moduleDir: helmModuleDir,
    what: `helm ${version}`,
    binaries: [{ fileName: "helm", goPackage: "helm.sh/helm/v3/cmd/helm", goOutputName: "helm" }],
    cacheDir,
    ldflags: `-X helm.sh/helm/v3/internal/version.version=${version}`,
    missingGo: `Install Go >= 1.26 (https://go.dev/dl/) so the kit can build helm into ${cacheDir}, or set TEST_ASSET_HELM.`
  }, env, options.progress ?? ((line) => process.stderr.write(`${line}\n`)))
  return binary
}

export interface HelmResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunHelmOptions extends ResolveHelmOptions {
  /** The kubeconfig helm talks to; commands that never reach a cluster (lint, template) leave it out. */
  readonly kubeconfig?: string
  readonly cwd?: string
}

/**
 * Runs helm with `args`. Its state (repositories, plugins, cache) lives in a directory of its own under the kit's
 * cache, so no user's ~/.config/helm is read or written.
 */
export const runHelm = async (args: ReadonlyArray<string>, options: RunHelmOptions = {}): Promise<HelmResult> => {
  const binary = await resolveHelm(options)
  const env = options.env ?? process.env
  const home = join(kitCacheDir(env), "helm", "home")
  const helmEnv: NodeJS.ProcessEnv = {
    PATH: env["PATH"] ?? "",
    HOME: home,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
    ...(options.kubeconfig === undefined ? {} : { KUBECONFIG: options.kubeconfig })
  }
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: helmEnv,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }) })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (status) => resolve({ status, stdout, stderr }))
  })
}
