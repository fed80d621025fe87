// The objects `install` applies and `uninstall` removes: every object the add-on renders (manifests.ts), in an
// order the apiserver accepts, with updater-config carrying the hosts entries of this install.
import { defaultConfigMapName, defaultNamespace, hostsConfigKey } from "@tcr-assistant/hosts-updater"
import type { Manifest } from "./addon-cluster.ts"
import { manifestObjectFiles } from "./manifests.ts"

export const addonNamespace = defaultNamespace
export const updaterConfigName = defaultConfigMapName

// Definitions and the places objects live first; what refers to them after; admission last, so that nothing of ours
// is checked by a webhook whose server is not there yet.
const kindOrder = [
  "Namespace",
  "CustomResourceDefinition",
  "ServiceAccount",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "Secret",
  "ConfigMap",
  "Service",
  "Deployment",
  "DaemonSet",
  "PodDisruptionBudget",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration"
]

const rank = (object: Manifest) => {
  const index = kindOrder.indexOf(object.kind)
  return index < 0 ? kindOrder.length : index
}

const isManifest = (value: unknown): value is Manifest =>
  typeof value === "object" && value !== null && typeof (value as Manifest).kind === "string" &&
  typeof (value as Manifest).apiVersion === "string" && typeof (value as Manifest).metadata?.name === "string"

/** Every object of the add-on as rendered, in apply order (ImagePullSecret samples excluded). */
export const renderedAddonObjects = (): ReadonlyArray<Manifest> => {
  const objects: Array<Manifest> = []
  for (const file of manifestObjectFiles()) {
    for (const value of file.objects) if (isManifest(value) && value.kind !== "ImagePullSecret") objects.push(value)
  }
  const unique = objects.filter((object, index) =>
    objects.findIndex((other) =>
      other.kind === object.kind && other.metadata.name === object.metadata.name &&
      other.metadata.namespace === object.metadata.namespace
    ) === index
  )
  return ordered(unique)
}

const updaterConfigLabels = { "app.kubernetes.io/name": "tcr-assistant", "app.kubernetes.io/component": "hosts-updater" }

/** updater-config holding `hosts` (empty: no entries, which makes every node remove its block). */
export const updaterConfig = (hosts: string, rendered?: Manifest): Manifest => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    ...(rendered?.metadata ?? {}),
    name: updaterConfigName,
    namespace: addonNamespace,
    labels: { ...updaterConfigLabels, ...(rendered?.metadata["labels"] as Record<string, string> | undefined) }
  },
  data: { ...(rendered?.["data"] as Record<string, string> | undefined), [hostsConfigKey]: hosts }
})

const isUpdaterConfig = (object: Manifest) =>
  object.kind === "ConfigMap" && object.metadata.name === updaterConfigName && object.metadata.namespace === addonNamespace

const addonNamespaceObject: Manifest = {
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: addonNamespace, labels: { "app.kubernetes.io/name": "tcr-assistant" } }
}

const isAddonNamespace = (object: Manifest) => object.kind === "Namespace" && object.metadata.name === addonNamespace

const ordered = (objects: ReadonlyArray<Manifest>) =>
  objects.map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object) - rank(b.object) || a.index - b.index)
    .map(({ object }) => object)

/**
 * What install applies, in order: the rendered objects with updater-config set to `hosts`; the add-on's Namespace
 * and updater-config are added when the rendered manifests lack them, since install writes into both.
 */
export const installObjects = (hosts: string): ReadonlyArray<Manifest> => {
  const rendered = renderedAddonObjects()
  const renderedConfig = rendered.find(isUpdaterConfig)
  const objects = rendered.map((object) => (isUpdaterConfig(object) ? updaterConfig(hosts, renderedConfig) : object))
  if (renderedConfig === undefined) objects.push(updaterConfig(hosts))
  if (!rendered.some(isAddonNamespace)) objects.push(addonNamespaceObject)
  return ordered(objects)
}

export const isAdmissionObject = (object: Manifest) =>
  object.kind === "ValidatingWebhookConfiguration" || object.kind === "MutatingWebhookConfiguration"

/**
 * The objects with every webhook's clientConfig pointing at `url` instead of the in-cluster Service: for a
 * controller that serves the webhooks from outside the cluster (the apiserver must reach that URL, and the
 * controller's certificate must name its host). Each webhook keeps its own path on that server (/validate,
 * /mutate-pods): the path of `url` is replaced by it.
 */
export const withWebhookUrl = (objects: ReadonlyArray<Manifest>, url: string): ReadonlyArray<Manifest> =>
  objects.map((object) => {
    if (!isAdmissionObject(object)) return object
    const webhooks = (object["webhooks"] as ReadonlyArray<Record<string, unknown>> | undefined) ?? []
    return {
      ...object,
      webhooks: webhooks.map((webhook) => {
        const { service, ...clientConfig } = (webhook["clientConfig"] as Record<string, unknown> | undefined) ?? {}
        const path = (service as { readonly path?: unknown } | undefined)?.path
        return { ...webhook, clientConfig: { ...clientConfig, url: typeof path === "string" ? new URL(path, url).toString() : url } }
      })
    }
  })
