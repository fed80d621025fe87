// Owns the control plane shared by one vitest run: started once before any test file, with our CRD installed,
// its kubeconfig path handed to tests through `inject("kubeconfigPath")`, and stopped when the run ends.
import { existsSync } from "node:fs"
import type { TestProject } from "vitest/node"
import { applyManifestFile, crdManifestPath } from "./apply-manifests.ts"
import { startControlPlane } from "./control-plane.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin kubeconfig of the run's shared control plane, with the ImagePullSecret CRD installed. */
    kubeconfigPath: string
  }
}

export default async function setup(project: TestProject) {
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
  }
}
