// Owns the control plane shared by one vitest run: started once before any test file, with our CRD installed,
// its kubeconfig path handed to tests through `inject("kubeconfigPath")`, and stopped when the run ends, which then
// checks every log line the run's programs printed (log-lines.ts).
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import type { TestProject } from "vitest/node"
import { applyManifestFile, crdManifestPath } from "./apply-manifests.ts"
import { kitCacheDir } from "./control-plane-binaries.ts"
import { startControlPlane } from "./control-plane.ts"
import { describeLogFailures, runLogDirVariable, runLogFailures } from "./log-lines.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin kubeconfig of the run's shared control plane, with the ImagePullSecret CRD installed. */
    kubeconfigPath: string
  }
}

export default async function setup(project: TestProject) {
  // The controller's and hosts-updater's logs of this run are kept here (keepRunLog) and checked when it ends.
  const runLogDir = join(kitCacheDir(), "e2e-logs", `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}`)
  mkdirSync(runLogDir, { recursive: true })
  process.env[runLogDirVariable] = runLogDir
  const plane = await startControlPlane()
  try {
    // The testkit's own tests fail when the CRD is missing; other tests may not need it.
    if (existsSync(crdManifestPath)) await applyManifestFile(plane.kubeconfigPath, crdManifestPath)
  } catch (error) {
    await plane.stop()
    throw error
  }
  project.provide("kubeconfigPath", plane.kubeconfigPath)
  return async () => {
    await plane.stop()
    const failures = runLogFailures(runLogDir)
    if (failures.length > 0) {
      throw new Error(`lines our programs printed in this run are not JSON log objects (logs kept in ${runLogDir}):\n${describeLogFailures(failures)}`)
    }
  }
}
