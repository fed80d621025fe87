// Owns the convergence benchmark's Go floor: a plain client-go program (../controlplane/benchfloor/) built once into
// the kit's cache with the control plane's own pinned module graph, and run for one round of the same writes.
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { buildIntoCache, controlPlaneVersions, kitCacheDir, wrapperModuleDir } from "./control-plane-binaries.ts"

const source = join(wrapperModuleDir, "benchfloor", "main.go")

/** `${kitCacheDir}/bench-floor/<k8s version>-<digest of main.go>/benchfloor`, built when missing. */
export const resolveBenchFloor = async (progress: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) => {
  const digest = createHash("sha256").update(readFileSync(source)).digest("hex").slice(0, 12)
  const cacheDir = join(kitCacheDir(), "bench-floor", `${controlPlaneVersions().kubernetes}-${digest}`)
  const binary = join(cacheDir, "benchfloor")
  if (existsSync(binary)) return binary
  await buildIntoCache({
    moduleDir: wrapperModuleDir,
    what: `client-go of Kubernetes ${controlPlaneVersions().kubernetes}`,
    binaries: [{ fileName: "benchfloor", goPackage: "./benchfloor", goOutputName: "benchfloor" }],
    cacheDir,
    missingGo: `Install Go >= 1.24 (https://go.dev/dl/) so the kit can build the benchmark's Go floor into ${cacheDir}.`
  }, process.env, progress)
  return binary
}

export interface BenchFloorRound {
  readonly seconds: number
  readonly requests: number
}

/** One round: create `secret` in every namespace named `prefix*` and add it to each of their ServiceAccounts. */
export const runBenchFloor = (
  binary: string,
  options: { readonly kubeconfig: string; readonly secret: string; readonly prefix: string; readonly concurrency: number }
) =>
  new Promise<BenchFloorRound>((resolve, reject) =>
    execFile(binary, [
      `--kubeconfig=${options.kubeconfig}`,
      `--secret=${options.secret}`,
      `--prefix=${options.prefix}`,
      `--concurrency=${options.concurrency}`
    ], (error, stdout, stderr) =>
      error !== null ? reject(new Error(`benchfloor failed: ${stderr || error.message}`)) : resolve(JSON.parse(stdout) as BenchFloorRound))
  )
