// Owns every replica's view of the ImagePullSecrets for admission: the Pod mutation must select on followers as on
// the leader, so each replica runs its own ImagePullSecret informer and decodes each object once per resourceVersion,
// exactly as the controller does (toDistribution). Selection also reads labels: each replica keeps the Namespaces
// (slimmed to name and labels, as the controller does) and only the ServiceAccounts that carry the opt-out label.
import { optOutLabel, optOutValue } from "@tcr-assistant/api"
import { KubeClient, type KubeObject, makeInformer, type Informer } from "@tcr-assistant/kube"
import { Effect } from "effect"
import { imagePullSecretInformer, namespaceInformer } from "./cluster-cache.ts"
import type { ImagePullSecretObject, Namespace } from "./cluster-objects.ts"
import { type Distribution, toDistribution } from "./distribution.ts"
import type { PodContext } from "./pod-mutation.ts"
import type { PodMutationSource } from "./webhook.ts"

export interface AdmissionSelection extends PodMutationSource {
  readonly informer: Informer<ImagePullSecretObject>
  /** Every informer the mutation reads; it is ready once they all have synced. */
  readonly informers: ReadonlyArray<Informer<any>>
}

/** Decoded distributions of the informer's current cache, re-decoding only objects whose resourceVersion changed. */
export const decodedDistributions = (informer: Pick<Informer<ImagePullSecretObject>, "values">) => {
  const decoded = new Map<string, { readonly resourceVersion: string | undefined; readonly distribution: Distribution }>()
  return (): ReadonlyArray<Distribution> => {
    const seen = new Set<string>()
    const result: Array<Distribution> = []
    for (const object of informer.values()) {
      const name = object.metadata.name
      seen.add(name)
      let entry = decoded.get(name)
      if (entry === undefined || entry.resourceVersion !== object.metadata.resourceVersion) {
        entry = { resourceVersion: object.metadata.resourceVersion, distribution: toDistribution(object) }
        decoded.set(name, entry)
      }
      result.push(entry.distribution)
    }
    for (const name of decoded.keys()) if (!seen.has(name)) decoded.delete(name)
    return result
  }
}

/**
 * The Pod's namespace with its labels when the cache has it (a namespace created a moment ago may not be there yet:
 * then its name alone, and the controller patches the ServiceAccount once it sees the namespace).
 */
export const podContextOf = (
  namespaces: Pick<Informer<Namespace>, "get">,
  optedOut: Pick<Informer<KubeObject>, "get">
): PodContext => ({
  namespace: (name) => {
    const namespace = namespaces.get(name)
    return namespace === undefined ? { name } : { name, ...(namespace.metadata.labels !== undefined ? { labels: namespace.metadata.labels } : {}) }
  },
  serviceAccount: (namespace, name) =>
    optedOut.get(`${namespace}/${name}`) === undefined ? { name } : { name, labels: { [optOutLabel]: optOutValue } }
})

/** Start the informers in the current scope; the view is empty until they have synced (readiness says so meanwhile). */
export const makeAdmissionSelection = Effect.fn("AdmissionSelection.make")(function*() {
  yield* KubeClient
  const informer = yield* imagePullSecretInformer("admission-imagepullsecrets")
  const namespaces = yield* namespaceInformer("admission-namespaces")
  const optedOut = yield* makeInformer<KubeObject>({
    name: "admission-opted-out-serviceaccounts",
    path: "/api/v1/serviceaccounts",
    labelSelector: `${optOutLabel}=${optOutValue}`,
    transform: (sa) => ({ metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace, resourceVersion: sa.metadata.resourceVersion } })
  })
  const selection: AdmissionSelection = {
    informer,
    informers: [informer, namespaces, optedOut],
    distributions: decodedDistributions(informer),
    context: podContextOf(namespaces, optedOut)
  }
  return selection
})
