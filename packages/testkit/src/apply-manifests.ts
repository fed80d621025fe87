// Owns installing YAML manifests into a control plane: server-side apply of every document in a file, then
// waiting until each CustomResourceDefinition among them is Established.
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import {
  ApiextensionsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject
} from "@kubernetes/client-node"
import { setTimeout as sleep } from "node:timers/promises"

/** The ImagePullSecret CRD generated from the API schema. */
export const crdManifestPath = fileURLToPath(
  new URL("../../../manifests/crd/imagepullsecrets.tcr.tencentcloudcr.com.yaml", import.meta.url)
)

const fieldManager = "tcr-assistant-testkit"


const loadKubeConfig = (kubeconfigPath: string) => {
  const config = new KubeConfig()
  config.loadFromFile(kubeconfigPath)
  return config
}

/** Applies every object in the YAML file (server-side apply, forced) and waits for its CRDs to be Established. */
export const applyManifestFile = async (kubeconfigPath: string, manifestPath: string) => {
  const config = loadKubeConfig(kubeconfigPath)
  const objects = (loadAllYaml(readFileSync(manifestPath, "utf8")) as Array<KubernetesObject | null>)
    .filter((object): object is KubernetesObject => object !== null && object !== undefined)
  const client = KubernetesObjectApi.makeApiClient(config)
  for (const object of objects) {
    await client.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply)
  }
  for (const object of objects) {
    if (object.kind === "CustomResourceDefinition" && object.metadata?.name !== undefined) {
      await waitForCustomResourceDefinition(kubeconfigPath, object.metadata.name)
    }
  }
  return objects
}

/** Resolves once the CRD reports Established=True, so its resources can be created and listed. */
export const waitForCustomResourceDefinition = async (kubeconfigPath: string, name: string, timeoutMillis = 120_000) => {
  const api = loadKubeConfig(kubeconfigPath).makeApiClient(ApiextensionsV1Api)
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    const crd = await api.readCustomResourceDefinition({ name })
    const established = crd.status?.conditions?.some((condition) =>
      condition.type === "Established" && condition.status === "True"
    )
    if (established === true) return crd
    if (Date.now() > deadline) {
      throw new Error(`CustomResourceDefinition ${name} was not Established within ${timeoutMillis / 1000}s`)
    }
    await sleep(100)
  }
}
