// Owns finding the Kubernetes binaries (etcd, kube-apiserver, kube-controller-manager; for a real node also
// kube-scheduler and kubelet): from the user's environment, or from a per-version cache outside git that is filled
// once with `go build` from the wrapper Go module (the build machinery, shared with the kit's other Go tools such as
// promtool).
import { spawnSync } from "node:child_process"
import { accessSync, constants, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync,
  writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { spawnTied } from "./process-lifeline.ts"
import { setTimeout as sleep } from "node:timers/promises"

export interface ControlPlaneBinaries {
  readonly etcd: string
  readonly kubeApiServer: string
  readonly kubeControllerManager: string
  /** Only when asked for with `node: true`: the node's agent and the scheduler, from the same Kubernetes version. */
  readonly kubelet?: string
  readonly kubeScheduler?: string
}

export interface ControlPlaneVersions {
  /** e.g. "v1.34.4" */
  readonly kubernetes: string
  /** e.g. "v3.6.4" */
  readonly etcd: string
}

export interface ResolveBinariesOptions {
  /** Defaults to process.env. */
  readonly env?: NodeJS.ProcessEnv
  /** Where progress lines of a build go; defaults to stderr. */
  readonly progress?: (line: string) => void
  /** Also find (or build) the kubelet and kube-scheduler, for a cluster with a real node. */
  readonly node?: boolean
}

export class ControlPlaneBinariesError extends Error {
  override readonly name = "ControlPlaneBinariesError"
}

/** The wrapper Go module whose go.mod pins the versions. */
export const wrapperModuleDir = fileURLToPath(new URL("../controlplane/", import.meta.url))

type BinaryKey = keyof ControlPlaneBinaries

interface BinarySpec {
  readonly key: BinaryKey
  readonly fileName: string
  readonly envVar: string
  readonly goPackage: string
  /** The name `go build -o dir/` gives the binary: the last element of the package path. */
  readonly goOutputName: string
  /** Only needed by a real node. */
  readonly forNode?: boolean
}

const binarySpecs: ReadonlyArray<BinarySpec> = [
  { key: "etcd", fileName: "etcd", envVar: "TEST_ASSET_ETCD", goPackage: "go.etcd.io/etcd/server/v3",
    goOutputName: "server" },
  { key: "kubeApiServer", fileName: "kube-apiserver", envVar: "TEST_ASSET_KUBE_APISERVER",
    goPackage: "k8s.io/kubernetes/cmd/kube-apiserver", goOutputName: "kube-apiserver" },
  { key: "kubeControllerManager", fileName: "kube-controller-manager",
    envVar: "TEST_ASSET_KUBE_CONTROLLER_MANAGER", goPackage: "k8s.io/kubernetes/cmd/kube-controller-manager",
    goOutputName: "kube-controller-manager" },
  { key: "kubeScheduler", fileName: "kube-scheduler", envVar: "TEST_ASSET_KUBE_SCHEDULER",
    goPackage: "k8s.io/kubernetes/cmd/kube-scheduler", goOutputName: "kube-scheduler", forNode: true },
  { key: "kubelet", fileName: "kubelet", envVar: "TEST_ASSET_KUBELET", goPackage: "k8s.io/kubernetes/cmd/kubelet",
    goOutputName: "kubelet", forNode: true }
]

/** Reads the pinned Kubernetes and etcd versions from the wrapper module's go.mod. */
export const controlPlaneVersions = (moduleDir: string = wrapperModuleDir): ControlPlaneVersions => {
  const goMod = readFileSync(join(moduleDir, "go.mod"), "utf8")
  const version = (modulePath: string) => {
    const escaped = modulePath.replace(/[.]/g, "\\.")
    const match = new RegExp(`^\\s*${escaped}\\s+(v\\S+)`, "m").exec(goMod)
    if (match?.[1] === undefined) throw new ControlPlaneBinariesError(`${modulePath} is not required in ${moduleDir}go.mod`)
    return match[1]
  }
  return { kubernetes: version("k8s.io/kubernetes"), etcd: version("go.etcd.io/etcd/server/v3") }
}

/** `${XDG_CACHE_HOME:-~/.cache}/tcr-assistant/`: where everything the kit builds or downloads is kept, outside git. */
export const kitCacheDir = (env: NodeJS.ProcessEnv = process.env) => {
  const cacheHome = env["XDG_CACHE_HOME"] !== undefined && env["XDG_CACHE_HOME"] !== ""
    ? env["XDG_CACHE_HOME"]
    : join(homedir(), ".cache")
  return join(cacheHome, "tcr-assistant")
}

/** `${XDG_CACHE_HOME:-~/.cache}/tcr-assistant/control-plane/<k8s>-etcd<etcd>/` */
export const binaryCacheDir = (versions: ControlPlaneVersions, env: NodeJS.ProcessEnv = process.env) =>
  join(kitCacheDir(env), "control-plane", `${versions.kubernetes}-etcd${versions.etcd.replace(/^v/, "")}`)

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const nonEmpty = (value: string | undefined) => (value !== undefined && value !== "" ? value : undefined)

const installHint = (versions: ControlPlaneVersions, cacheDir: string) =>
  [
    `The local control plane needs etcd ${versions.etcd}, kube-apiserver and kube-controller-manager ` +
    `${versions.kubernetes}. Either:`,
    `  - install Go >= 1.24 (https://go.dev/dl/) and put \`go\` on PATH; the first run then builds the three ` +
    `binaries into ${cacheDir} (several minutes, once), or`,
    "  - set TEST_ASSET_ETCD, TEST_ASSET_KUBE_APISERVER and TEST_ASSET_KUBE_CONTROLLER_MANAGER to existing " +
    "binaries, or KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver and kube-controller-manager",
    "    (envtest's asset directories have no kube-controller-manager: set TEST_ASSET_KUBE_CONTROLLER_MANAGER too," +
    " or install Go to build just that one)."
  ].join("\n")

const goCommand = (env: NodeJS.ProcessEnv) => {
  const result = spawnSync("go", ["env", "GOVERSION"], { env, encoding: "utf8" })
  if (result.error !== undefined || result.status !== 0) return undefined
  return result.stdout.trim()
}

/**
 * Finds each binary, in order: its TEST_ASSET_* variable, then $KUBEBUILDER_ASSETS/<name>, then the version cache.
 * Builds the ones missing from the cache (once per machine; concurrent callers wait for one build).
 */
export const resolveControlPlaneBinaries = async (options: ResolveBinariesOptions = {}): Promise<ControlPlaneBinaries> => {
  const env = options.env ?? process.env
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`))
  const versions = controlPlaneVersions()
  const cacheDir = binaryCacheDir(versions, env)
  const found: Partial<Record<BinaryKey, string>> = {}
  const missing: Array<BinarySpec> = []
  const wanted = binarySpecs.filter((spec) => spec.forNode !== true || options.node === true)
  for (const spec of wanted) {
    const fromEnv = nonEmpty(env[spec.envVar])
    if (fromEnv !== undefined) {
      if (!isExecutable(fromEnv)) {
        throw new ControlPlaneBinariesError(`${spec.envVar}=${fromEnv} is not an executable file`)
      }
      found[spec.key] = fromEnv
      continue
    }
    const assets = nonEmpty(env["KUBEBUILDER_ASSETS"])
    if (assets !== undefined && isExecutable(join(assets, spec.fileName))) {
      found[spec.key] = join(assets, spec.fileName)
      continue
    }
    const cached = join(cacheDir, spec.fileName)
    if (isExecutable(cached)) found[spec.key] = cached
    else missing.push(spec)
  }
  if (missing.length > 0) {
    await buildIntoCache({
      moduleDir: wrapperModuleDir,
      what: `Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}`,
      binaries: missing,
      cacheDir,
      ldflags: kubernetesLdflags(versions),
      missingGo: installHint(versions, cacheDir)
    }, env, progress)
    for (const spec of missing) found[spec.key] = join(cacheDir, spec.fileName)
  }
  return {
    etcd: found.etcd!,
    kubeApiServer: found.kubeApiServer!,
    kubeControllerManager: found.kubeControllerManager!,
    ...(found.kubelet !== undefined ? { kubelet: found.kubelet } : {}),
    ...(found.kubeScheduler !== undefined ? { kubeScheduler: found.kubeScheduler } : {})
  }
}


const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

// A lock file holding the builder's pid. A lock whose owner is dead is stale and broken; at worst two builders
// then race, which wastes time but not correctness, since each one renames finished binaries into place.
/** Waits for and takes the lock file of a build the kit runs once per machine; returns its release. */
export const acquireBuildLock = async (lockPath: string, progress: (line: string) => void,
  what = "the control plane") => {
  let announced = false
  let unreadableSeen = false
  for (;;) {
    try {
      const fd = openSync(lockPath, "wx")
      writeFileSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => rmSync(lockPath, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    const owner = Number.parseInt(readFileSafe(lockPath), 10)
    if (Number.isNaN(owner)) {
      // Empty: its owner may be writing it right now, so only break it when it stays empty for a while.
      if (unreadableSeen) rmSync(lockPath, { force: true })
      unreadableSeen = !unreadableSeen
    } else if (!processAlive(owner)) {
      rmSync(lockPath, { force: true })
      continue
    } else if (!announced) {
      progress(`tcr-assistant testkit: waiting for another build of ${what} (pid ${owner}) to finish`)
      announced = true
    }
    await sleep(1000)
  }
}

const readFileSafe = (path: string) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return ""
  }
}

const tail = (text: string, lines: number) => text.trimEnd().split("\n").slice(-lines).join("\n")

const kubernetesLdflags = (versions: ControlPlaneVersions) =>
  [
    `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
    `-X k8s.io/component-base/version.gitMajor=${versions.kubernetes.replace(/^v(\d+)\..*$/, "$1")}`,
    `-X k8s.io/component-base/version.gitMinor=${versions.kubernetes.replace(/^v\d+\.(\d+)\..*$/, "$1")}`,
    "-X k8s.io/component-base/version.gitTreeState=clean"
  ].join(" ")

/** One `go build` of binaries from a wrapper module whose go.mod pins their versions, into a cache directory. */
export interface GoModuleBuild {
  readonly moduleDir: string
  /** For progress lines, e.g. "promtool v0.316.0". */
  readonly what: string
  readonly binaries: ReadonlyArray<{ readonly fileName: string; readonly goPackage: string; readonly goOutputName: string }>
  readonly cacheDir: string
  readonly ldflags?: string | undefined
  /** Build tags, e.g. to leave out what the tests never use. */
  readonly tags?: ReadonlyArray<string> | undefined
  /** What to tell the user when Go is not installed. */
  readonly missingGo: string
}

/**
 * Builds the binaries missing from `cacheDir` (once per machine: concurrent callers wait on a lock file for one
 * build, and finished binaries are renamed into place, so a half-built one is never used).
 */
export const buildIntoCache = async (
  build: GoModuleBuild,
  env: NodeJS.ProcessEnv,
  progress: (line: string) => void
) => {
  const { cacheDir } = build
  const goVersion = goCommand(env)
  if (goVersion === undefined) {
    throw new ControlPlaneBinariesError(`Go was not found on PATH.\n${build.missingGo}`)
  }
  mkdirSync(cacheDir, { recursive: true })
  const release = await acquireBuildLock(join(cacheDir, ".build.lock"), progress, build.what)
  try {
    const stillMissing = build.binaries.filter((spec) => !existsSync(join(cacheDir, spec.fileName)))
    if (stillMissing.length === 0) return
    const names = stillMissing.map((spec) => spec.fileName).join(", ")
    progress(
      `tcr-assistant testkit: building ${names} (${build.what}) with ${goVersion} into ${cacheDir}. ` +
        "This happens once per machine and takes several minutes."
    )
    const started = Date.now()
    const outputDir = join(cacheDir, `.build-${process.pid}-${started}`)
    mkdirSync(outputDir, { recursive: true })
    const logPath = join(cacheDir, "build.log")
    const logFd = openSync(logPath, "w")
    const proc = spawnTied("go", ["build", ...(build.ldflags === undefined ? [] : ["-ldflags", build.ldflags]),
      ...(build.tags === undefined || build.tags.length === 0 ? [] : ["-tags", build.tags.join(",")]), "-o", `${outputDir}/`,
      ...stillMissing.map((spec) => spec.goPackage)], {
      cwd: build.moduleDir,
      env: { ...env, GOWORK: "off", GOFLAGS: [env["GOFLAGS"] ?? "", "-mod=readonly"].join(" ").trim() },
      stdio: ["ignore", logFd, logFd]
    })
    closeSync(logFd)
    const ticker = setInterval(() => {
      progress(`tcr-assistant testkit: still building ${names} (${Math.round((Date.now() - started) / 1000)}s)`)
    }, 30_000)
    const { code, signal } = await proc.exited.finally(() => clearInterval(ticker))
    if (code !== 0) {
      rmSync(outputDir, { recursive: true, force: true })
      throw new ControlPlaneBinariesError(
        `go build of ${names} failed (${signal ?? `exit code ${code}`}); full log in ${logPath}:\n` +
          tail(readFileSafe(logPath), 30)
      )
    }
    for (const spec of stillMissing) renameSync(join(outputDir, spec.goOutputName), join(cacheDir, spec.fileName))
    rmSync(outputDir, { recursive: true, force: true })
    progress(`tcr-assistant testkit: built ${names} in ${Math.round((Date.now() - started) / 1000)}s`)
  } finally {
    release()
  }
}
