// Owns the test tools that are Go modules (promtool, helm): each is pinned by a small wrapper module's go.mod, built
// once into the kit's cache with the control plane's build machinery, or taken from $TEST_ASSET_<NAME>.
import { accessSync, constants, readFileSync } from "node:fs"
import { join } from "node:path"
import { buildIntoCache, kitCacheDir } from "./control-plane-binaries.ts"

export const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export interface GoTool {
  /** The binary's file name, e.g. "helm"; also its cache directory's name. */
  readonly name: string
  /** The environment variable that may name a prebuilt binary instead, e.g. TEST_ASSET_HELM. */
  readonly envVar: string
  /** The wrapper module whose go.mod pins the version. */
  readonly moduleDir: string
  /** The Go module whose version go.mod pins, e.g. helm.sh/helm/v3. */
  readonly module: string
  readonly goPackage: string
  readonly tags?: ReadonlyArray<string>
  /** -ldflags for a version, e.g. to stamp it into the binary. */
  readonly ldflags?: (version: string) => string
  /** What to tell a user without Go (the cache directory and the variable are added). */
  readonly missingGo: string
}

export interface ResolveGoToolOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly progress?: (line: string) => void
}

/** The version of `tool.module` that the wrapper module's go.mod requires, e.g. v3.22.0. */
export const goToolVersion = (tool: Pick<GoTool, "moduleDir" | "module">): string => {
  const escaped = tool.module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(readFileSync(join(tool.moduleDir, "go.mod"), "utf8"))
  if (match?.[1] === undefined) throw new Error(`${tool.module} is not required in ${join(tool.moduleDir, "go.mod")}`)
  return match[1]
}

/** The tool's binary: $<envVar>, else `${kitCacheDir}/<name>/<version>/<name>`, built when missing. */
export const resolveGoTool = async (tool: GoTool, options: ResolveGoToolOptions = {}): Promise<string> => {
  const env = options.env ?? process.env
  const fromEnv = env[tool.envVar]
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!isExecutable(fromEnv)) throw new Error(`${tool.envVar}=${fromEnv} is not an executable file`)
    return fromEnv
  }
  const version = goToolVersion(tool)
  const cacheDir = join(kitCacheDir(env), tool.name, version)
  const binary = join(cacheDir, tool.name)
  if (isExecutable(binary)) return binary
  await buildIntoCache({
    moduleDir: tool.moduleDir,
    what: `${tool.name} ${version}`,
    binaries: [{ fileName: tool.name, goPackage: tool.goPackage, goOutputName: tool.name }],
    cacheDir,
    ...(tool.tags === undefined ? {} : { tags: tool.tags }),
    ...(tool.ldflags === undefined ? {} : { ldflags: tool.ldflags(version) }),
    missingGo: `${tool.missingGo} into ${cacheDir}, or set ${tool.envVar}.`
  }, env, options.progress ?? ((line) => process.stderr.write(`${line}\n`)))
  return binary
}
