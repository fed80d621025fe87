// The controller's view of the cluster: one informer per kind it reads, each object decoded to its view
// (cluster-objects.ts), its own writes standing in until each informer shows them (a MutationCache per kind it
// writes), and the indexes the reconciler asks: ServiceAccounts by namespace and each ImagePullSecret's decoded
// Distribution. Every change reaches the reconciler after the indexes.
import { group, optOutLabel, plural, version } from "@tcr-assistant/api"
import {
  projection,
  type Informer,
  type InformerEvent,
  type KubeObject,
  makeInformer,
  makeMutationCache,
  type MutationCache,
  objectKey
} from "@tcr-assistant/kube"
import { Effect, type Scope, Stream } from "effect"
import {
  type ImagePullSecretObject,
  imagePullSecretView,
  managedSecretView,
  type Namespace,
  namespaceView,
  type Secret,
  type ServiceAccount,
  serviceAccountView
} from "./cluster-objects.ts"
import { type Distribution, toDistribution } from "./distribution.ts"
import { managedByLabel, managedByValue, observedDataHash, type ObservedSecret } from "./plan.ts"

export type { ImagePullSecretObject, Namespace, Secret, ServiceAccount } from "./cluster-objects.ts"

export const imagePullSecretsPath = `/apis/${group}/${version}/${plural}`

/** What the reconciler does with each change, called once the cache's indexes include it. */
export interface ClusterChanges {
  readonly imagePullSecret: (event: InformerEvent<ImagePullSecretObject>) => void
  readonly namespace: (event: InformerEvent<Namespace>) => void
  readonly serviceAccount: (event: InformerEvent<ServiceAccount>) => void
  readonly secret: (event: InformerEvent<Secret>) => void
}

export interface ClusterCache {
  readonly informers: ReadonlyArray<Informer<any>>
  readonly imagePullSecrets: Informer<ImagePullSecretObject>
  readonly namespaces: Informer<Namespace>
  readonly serviceAccounts: Informer<ServiceAccount>
  /** Only the Secrets we manage (by label). */
  readonly secrets: Informer<Secret>
  readonly observedImagePullSecrets: MutationCache<ImagePullSecretObject>
  readonly observedServiceAccounts: MutationCache<ServiceAccount>
  readonly observedSecrets: MutationCache<Secret>
  readonly serviceAccountsIn: (namespace: string) => Iterable<string>
  readonly namespacesWithServiceAccounts: () => Iterable<string>
  /** The decoded spec of an ImagePullSecret in the cache, decoded again only when what it asks for changed. */
  readonly distributionOf: (ips: string) => Distribution | undefined
  /** Fork one fiber per informer that applies its changes to the indexes, then hands them to `changes`. */
  readonly follow: (changes: ClusterChanges) => Effect.Effect<void, never, Scope.Scope>
  /** Retire the mutations of every informer that relisted since the last call (see MutationCache). */
  readonly retireAfterRelists: () => void
}

/** The ServiceAccount informer keeps only what the controller reads: at ten thousand namespaces this is most of the memory. */
const slimServiceAccount = (sa: ServiceAccount): ServiceAccount => ({
  metadata: {
    name: sa.metadata.name,
    namespace: sa.metadata.namespace,
    ...(sa.metadata.uid !== undefined ? { uid: sa.metadata.uid } : {}),
    resourceVersion: sa.metadata.resourceVersion,
    ...(sa.metadata.deletionTimestamp !== undefined ? { deletionTimestamp: sa.metadata.deletionTimestamp } : {}),
    // Selection reads one label of a ServiceAccount: the opt-out.
    ...(sa.metadata.labels?.[optOutLabel] !== undefined ? { labels: { [optOutLabel]: sa.metadata.labels[optOutLabel] } } : {})
  },
  ...(sa.imagePullSecrets !== undefined ? { imagePullSecrets: sa.imagePullSecrets } : {})
})

/**
 * What the controller and the Pod admission read of a Namespace: its name, whether it is terminating, and all its
 * labels (the label selectors of ImagePullSecrets and the opt-out label select on them). Annotations are not read.
 */
export const slimNamespace = (ns: Namespace): Namespace => ({
  metadata: {
    name: ns.metadata.name,
    resourceVersion: ns.metadata.resourceVersion,
    ...(ns.metadata.uid !== undefined ? { uid: ns.metadata.uid } : {}),
    ...(ns.metadata.deletionTimestamp !== undefined ? { deletionTimestamp: ns.metadata.deletionTimestamp } : {}),
    ...(ns.metadata.labels !== undefined ? { labels: ns.metadata.labels } : {})
  },
  ...(ns.status?.phase !== undefined ? { status: { phase: ns.status.phase } } : {})
})

/** Whether two versions of a Namespace could select differently: their labels differ. */
export const namespaceLabelsChanged = (previous: Namespace, next: Namespace): boolean => {
  const before = previous.metadata.labels ?? {}
  const after = next.metadata.labels ?? {}
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  for (const key of keys) if (before[key] !== after[key]) return true
  return false
}

/** One of our Secrets as the cache keeps it: its metadata and a digest of its data, never the credentials. */
const slimSecret = projection<Secret, KubeObject & ObservedSecret>(
  ["uid", "labels", "annotations", "ownerReferences", "deletionTimestamp"],
  (secret) => ({ ...(secret.type !== undefined ? { type: secret.type } : {}), dataHash: observedDataHash(secret) })
)

/** An informer of every ImagePullSecret, decoded to its view; the Pod admission of each replica runs one too. */
export const imagePullSecretInformer = (name: string) =>
  makeInformer<ImagePullSecretObject>({ name, path: imagePullSecretsPath, view: imagePullSecretView })

/** An informer of every Namespace, slimmed (see `slimNamespace`) and decoded to its view. */
export const namespaceInformer = (name: string) =>
  makeInformer<Namespace>({ name, path: "/api/v1/namespaces", transform: slimNamespace, view: namespaceView })

/** Start the informers in the current scope. */
export const makeClusterCache = Effect.fn("ClusterCache.make")(function*() {
  const imagePullSecrets = yield* imagePullSecretInformer("imagepullsecrets")
  const namespaces = yield* namespaceInformer("namespaces")
  const serviceAccounts = yield* makeInformer<ServiceAccount>({
    name: "serviceaccounts",
    path: "/api/v1/serviceaccounts",
    transform: slimServiceAccount,
    view: serviceAccountView
  })
  const secrets = yield* makeInformer<Secret>({
    name: "secrets",
    path: "/api/v1/secrets",
    labelSelector: `${managedByLabel}=${managedByValue}`,
    transform: slimSecret,
    view: managedSecretView
  })
  const observedImagePullSecrets = makeMutationCache(imagePullSecrets)
  const observedServiceAccounts = makeMutationCache(serviceAccounts)
  const observedSecrets = makeMutationCache(secrets)

  const distributions = new Map<string, Distribution>()
  const serviceAccountsByNamespace = new Map<string, Set<string>>()

  const distributionOf = (ips: string): Distribution | undefined => {
    const object = imagePullSecrets.get(ips)
    if (object === undefined) return undefined
    const cached = distributions.get(ips)
    if (
      cached !== undefined && cached.generation === (object.metadata.generation ?? 0) && cached.owner.uid === object.metadata.uid &&
      cached.deleting === (object.metadata.deletionTimestamp !== undefined)
    ) {
      return cached
    }
    const fresh = toDistribution(object)
    distributions.set(ips, fresh)
    return fresh
  }

  // The ServiceAccount index follows the ServiceAccount informer alone: informers are not ordered with each other,
  // and a namespace deleted and created again may already have new ServiceAccounts there.
  const indexServiceAccount = (event: InformerEvent<ServiceAccount>) => {
    const ns = event.object.metadata.namespace ?? ""
    const name = event.object.metadata.name
    let names = serviceAccountsByNamespace.get(ns)
    if (event.type === "Delete") {
      names?.delete(name)
      if (names?.size === 0) serviceAccountsByNamespace.delete(ns)
    } else {
      if (names === undefined) serviceAccountsByNamespace.set(ns, (names = new Set()))
      names.add(name)
    }
  }

  const relistChecks: Array<() => void> = []

  /** One informer's changes: the mutation cache first, then the index, then the reconciler. */
  const followInformer = <T extends KubeObject>(
    informer: Informer<T>,
    observed: MutationCache<T> | undefined,
    apply: (event: InformerEvent<T>) => void
  ) => {
    let relists = informer.health().relists
    relistChecks.push(() => {
      if (informer.health().relists === relists) return
      relists = informer.health().relists
      // Our writes the relisted store no longer holds are gone, and no event will say so: act on one.
      for (const object of observed?.retireAfterRelist() ?? []) apply({ type: "Delete", object })
    })
    return informer.events.pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          // A mutation is dropped lazily once the store is as new, which an empty store never is: a deletion seen
          // after our last write must not leave that write standing in for the object.
          if (event.type === "Delete") observed?.storeDeleted(objectKey(event.object))
          apply(event)
        })
      ),
      Effect.forkScoped
    )
  }

  const follow = (changes: ClusterChanges) =>
    Effect.gen(function*() {
      yield* followInformer(imagePullSecrets, observedImagePullSecrets, (event) => {
        distributions.delete(event.object.metadata.name)
        changes.imagePullSecret(event)
      })
      yield* followInformer(namespaces, undefined, changes.namespace)
      yield* followInformer(serviceAccounts, observedServiceAccounts, (event) => {
        indexServiceAccount(event)
        changes.serviceAccount(event)
      })
      yield* followInformer(secrets, observedSecrets, changes.secret)
    })

  const cache: ClusterCache = {
    informers: [imagePullSecrets, namespaces, serviceAccounts, secrets],
    imagePullSecrets,
    namespaces,
    serviceAccounts,
    secrets,
    observedImagePullSecrets,
    observedServiceAccounts,
    observedSecrets,
    serviceAccountsIn: (namespace) => serviceAccountsByNamespace.get(namespace) ?? [],
    namespacesWithServiceAccounts: () => serviceAccountsByNamespace.keys(),
    distributionOf,
    follow,
    retireAfterRelists: () => {
      for (const check of relistChecks) check()
    }
  }
  return cache
})
