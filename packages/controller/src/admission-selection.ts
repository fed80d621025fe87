// Owns every replica's view of the ImagePullSecrets for admission: the Pod mutation must select on followers as on
// the leader, so each replica runs its own ImagePullSecret informer and decodes each object once per resourceVersion,
// exactly as the controller does (toDistribution). Selection reads names only (namespace and ServiceAccount
// selectors), so no Namespace or ServiceAccount cache is needed.
import { group, plural, version } from "@tcr-assistant/api"
import { KubeClient, type KubeObject, makeInformer, type Informer } from "@tcr-assistant/kube"
import { Effect } from "effect"
import { type Distribution, type RawImagePullSecret, toDistribution } from "./distribution.ts"
import type { PodMutationSource } from "./webhook.ts"

const imagePullSecretsPath = `/apis/${group}/${version}/${plural}`

type ImagePullSecretObject = KubeObject & RawImagePullSecret

export interface AdmissionSelection extends PodMutationSource {
  readonly informer: Informer<ImagePullSecretObject>
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

/** Start the informer in the current scope; the view is empty until it has synced (readiness says so meanwhile). */
export const makeAdmissionSelection = Effect.fn("AdmissionSelection.make")(function*() {
  yield* KubeClient
  const informer = yield* makeInformer<ImagePullSecretObject>({ name: "admission-imagepullsecrets", path: imagePullSecretsPath })
  const selection: AdmissionSelection = { informer, distributions: decodedDistributions(informer) }
  return selection
})
