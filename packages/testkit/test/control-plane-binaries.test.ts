// Tests how the kit finds or builds its binaries, with a stand-in `go` so nothing real is compiled.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, assert, describe, it } from "vitest"
import {
  binaryCacheDir,
  ControlPlaneBinariesError,
  controlPlaneVersions,
  resolveControlPlaneBinaries
} from "../src/control-plane-binaries.ts"

const scratchDirs: Array<string> = []
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), "testkit-binaries-"))
  scratchDirs.push(dir)
  return dir
}

afterEach(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const executable = (path: string, content = "#!/bin/sh\nexit 0\n") => {
  writeFileSync(path, content)
  chmodSync(path, 0o755)
  return path
}

// A `go` that answers `go env GOVERSION`, logs each build, and writes one small file per package named like
// real `go build -o dir/` output (etcd's package builds as "server").
const fakeGo = (dir: string, options: { readonly fail?: boolean } = {}) => {
  const bin = join(dir, "bin")
  mkdirSync(bin)
  executable(join(bin, "go"), `#!/bin/sh
if [ "$1" = env ]; then echo go1.99-fake; exit 0; fi
echo "build $$" >> "${join(dir, "builds.log")}"
${options.fail === true ? 'echo "compile error: something broke" >&2; exit 2' : ""}
[ "$1" = build ] || { echo "unexpected go command: $*" >&2; exit 1; }
shift
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift 2;;
    -*) shift 2;;
    *) name=$(basename "$1"); [ "$1" = go.etcd.io/etcd/server/v3 ] && name=server
       sleep 0.3; printf '#!/bin/sh\\necho %s\\n' "$name" > "$out$name"; chmod +x "$out$name"; shift;;
  esac
done
`)
  return bin
}

const baseEnv = (dir: string, path: string) => ({ PATH: path, HOME: dir, XDG_CACHE_HOME: join(dir, "cache") })

describe("controlPlaneVersions", () => {
  it("reads the pinned versions from the wrapper module", () => {
    const versions = controlPlaneVersions()
    assert.match(versions.kubernetes, /^v1\.\d+\.\d+$/)
    assert.match(versions.etcd, /^v3\.\d+\.\d+$/)
  })

  it("keys the cache directory by both versions under XDG_CACHE_HOME", () => {
    assert.strictEqual(
      binaryCacheDir({ kubernetes: "v1.34.4", etcd: "v3.6.4" }, { XDG_CACHE_HOME: "/x" }),
      "/x/tcr-assistant/control-plane/v1.34.4-etcd3.6.4"
    )
  })
})

describe("resolveControlPlaneBinaries", () => {
  it("prefers TEST_ASSET_* variables, then KUBEBUILDER_ASSETS, without building", async () => {
    const dir = scratch()
    const assets = join(dir, "assets")
    mkdirSync(assets)
    executable(join(assets, "etcd"))
    executable(join(assets, "kube-apiserver"))
    const controllerManager = executable(join(dir, "my-kube-controller-manager"))
    const binaries = await resolveControlPlaneBinaries({
      env: { ...baseEnv(dir, "/nonexistent"), KUBEBUILDER_ASSETS: assets,
        TEST_ASSET_KUBE_CONTROLLER_MANAGER: controllerManager },
      progress: () => {}
    })
    assert.deepStrictEqual(binaries, {
      etcd: join(assets, "etcd"),
      kubeApiServer: join(assets, "kube-apiserver"),
      kubeControllerManager: controllerManager
    })
  })

  it("rejects a TEST_ASSET_* variable that names no executable", async () => {
    const dir = scratch()
    const error = await resolveControlPlaneBinaries({
      env: { ...baseEnv(dir, "/nonexistent"), TEST_ASSET_ETCD: join(dir, "missing") },
      progress: () => {}
    }).catch((cause: unknown) => cause)
    assert.instanceOf(error, ControlPlaneBinariesError)
    assert.match((error as Error).message, /TEST_ASSET_ETCD=.*missing is not an executable/)
  })

  it("says what to install when neither Go nor binaries exist", async () => {
    const dir = scratch()
    const error = await resolveControlPlaneBinaries({ env: baseEnv(dir, "/nonexistent"), progress: () => {} })
      .catch((cause: unknown) => cause)
    assert.instanceOf(error, ControlPlaneBinariesError)
    const message = (error as Error).message
    assert.match(message, /Go was not found on PATH/)
    assert.match(message, /install Go >= 1\.24/)
    for (const variable of ["TEST_ASSET_ETCD", "TEST_ASSET_KUBE_APISERVER", "TEST_ASSET_KUBE_CONTROLLER_MANAGER",
      "KUBEBUILDER_ASSETS"]) {
      assert.include(message, variable)
    }
  })

  it("builds missing binaries once into the cache, even for concurrent callers, and reuses them", async () => {
    const dir = scratch()
    const env = baseEnv(dir, `${fakeGo(dir)}:/usr/bin:/bin`)
    const progress: Array<string> = []
    const [first, second] = await Promise.all([
      resolveControlPlaneBinaries({ env, progress: (line) => progress.push(line) }),
      resolveControlPlaneBinaries({ env, progress: (line) => progress.push(line) })
    ])
    assert.deepStrictEqual(first, second)
    const cacheDir = binaryCacheDir(controlPlaneVersions(), env)
    assert.deepStrictEqual(first, {
      etcd: join(cacheDir, "etcd"),
      kubeApiServer: join(cacheDir, "kube-apiserver"),
      kubeControllerManager: join(cacheDir, "kube-controller-manager")
    })
    assert.strictEqual(readFileSync(join(dir, "builds.log"), "utf8").trim().split("\n").length, 1)
    assert.isTrue(progress.some((line) => /building etcd, kube-apiserver, kube-controller-manager/.test(line)))
    assert.deepStrictEqual(readdirSync(cacheDir).sort(), ["build.log", "etcd", "kube-apiserver",
      "kube-controller-manager"])
    await resolveControlPlaneBinaries({ env, progress: () => {} })
    assert.strictEqual(readFileSync(join(dir, "builds.log"), "utf8").trim().split("\n").length, 1)
  })

  it("builds only what the environment does not provide", async () => {
    const dir = scratch()
    const etcd = executable(join(dir, "etcd"))
    const apiServer = executable(join(dir, "kube-apiserver"))
    const env = { ...baseEnv(dir, `${fakeGo(dir)}:/usr/bin:/bin`), TEST_ASSET_ETCD: etcd,
      TEST_ASSET_KUBE_APISERVER: apiServer }
    const binaries = await resolveControlPlaneBinaries({ env, progress: () => {} })
    const cacheDir = binaryCacheDir(controlPlaneVersions(), env)
    assert.strictEqual(binaries.kubeControllerManager, join(cacheDir, "kube-controller-manager"))
    assert.isFalse(existsSync(join(cacheDir, "etcd")))
  })

  it("reports a failed build with the end of its log and leaves no binary or lock behind", async () => {
    const dir = scratch()
    const env = baseEnv(dir, `${fakeGo(dir, { fail: true })}:/usr/bin:/bin`)
    const error = await resolveControlPlaneBinaries({ env, progress: () => {} }).catch((cause: unknown) => cause)
    assert.instanceOf(error, ControlPlaneBinariesError)
    assert.match((error as Error).message, /exit code 2/)
    assert.match((error as Error).message, /compile error: something broke/)
    const cacheDir = binaryCacheDir(controlPlaneVersions(), env)
    assert.deepStrictEqual(readdirSync(cacheDir), ["build.log"])
  })

  it("breaks a lock left by a builder that died", async () => {
    const dir = scratch()
    const env = baseEnv(dir, `${fakeGo(dir)}:/usr/bin:/bin`)
    const cacheDir = binaryCacheDir(controlPlaneVersions(), env)
    mkdirSync(cacheDir, { recursive: true })
    // A pid far above any real one on this machine stands for a builder that no longer exists.
    writeFileSync(join(cacheDir, ".build.lock"), "2147483646\n")
    const binaries = await resolveControlPlaneBinaries({ env, progress: () => {} })
    assert.isTrue(existsSync(binaries.etcd))
    assert.isFalse(existsSync(join(cacheDir, ".build.lock")))
  })
})
