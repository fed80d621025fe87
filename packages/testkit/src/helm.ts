// Owns helm, the chart tool, for tests: built once from the pinned Go module in ../helm/ into the kit's cache (the
// same build machinery as the control plane and promtool), and run with a kubeconfig and arguments a test hands it.
import { spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { kitCacheDir } from "./control-plane-binaries.ts"
import { type GoTool, goToolVersion, resolveGoTool, type ResolveGoToolOptions } from "./go-tool.ts"

/** The wrapper Go module whose go.mod pins the helm version. */
export const helmModuleDir = fileURLToPath(new URL("../helm/", import.meta.url))

const helm: GoTool = {
  name: "helm",
  envVar: "TEST_ASSET_HELM",
  moduleDir: helmModuleDir,
  module: "helm.sh/helm/v3",
  goPackage: "helm.sh/helm/v3/cmd/helm",
  ldflags: (version) => `-X helm.sh/helm/v3/internal/version.version=${version}`,
  missingGo: "Install Go >= 1.26 (https://go.dev/dl/) so the kit can build helm"
}

/** The pinned helm.sh/helm/v3 module version, e.g. v3.22.0. */
export const helmVersion = (moduleDir: string = helmModuleDir): string => goToolVersion({ ...helm, moduleDir })

export type ResolveHelmOptions = ResolveGoToolOptions

/** The helm binary: $TEST_ASSET_HELM, else `${kitCacheDir}/helm/<version>/helm`, built when missing. */
export const resolveHelm = (options: ResolveHelmOptions = {}): Promise<string> => resolveGoTool(helm, options)

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
