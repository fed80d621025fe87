// Owns the Prometheus Operator's CRDs for tests: ServiceMonitor and PrometheusRule, read from the pinned
// prometheus-operator Go module (downloaded once into Go's module cache), so the add-on's monitoring objects are
// validated against the schemas a real Prometheus Operator installs.
import { spawn } from "node:child_process"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const prometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator"
export const prometheusOperatorVersion = "v0.85.0"

export interface MonitoringCrdFiles {
  readonly serviceMonitors: string
  readonly prometheusRules: string
}

const goModDownload = (module: string, env: NodeJS.ProcessEnv) =>
  new Promise<string>((resolve, reject) => {
    // Outside any module (tmpdir), so no go.mod of ours is consulted or changed.
    const child = spawn("go", ["mod", "download", "-json", module], {
      cwd: tmpdir(),
      env: { ...env, GOWORK: "off", GOFLAGS: "-mod=mod" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.on("error", (error) => reject(new Error(`go mod download ${module}: ${error.message} (is Go on PATH?)`)))
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`go mod download ${module} failed (exit ${code}):\n${stderr}${stdout}`))
      const dir = (JSON.parse(stdout) as { readonly Dir?: string }).Dir
      if (dir === undefined) return reject(new Error(`go mod download ${module} named no directory:\n${stdout}`))
      resolve(dir)
    })
  })

/** The CRD files of the pinned prometheus-operator release. */
export const monitoringCrdFiles = async (env: NodeJS.ProcessEnv = process.env): Promise<MonitoringCrdFiles> => {
  const dir = await goModDownload(`${prometheusOperatorModule}@${prometheusOperatorVersion}`, env)
  const crds = join(dir, "example", "prometheus-operator-crd")
  return {
    serviceMonitors: join(crds, "monitoring.coreos.com_servicemonitors.yaml"),
    prometheusRules: join(crds, "monitoring.coreos.com_prometheusrules.yaml")
  }
}
