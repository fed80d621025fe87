// Which target keys each change affects: the named mappers from informer changes, token changes and settled targets
// to keys on the work queue, and to the statuses they make dirty. A change only says what to look at again; the
// reconcile of a key reads the current state (reconcile by key, not by event).
import { isTerminating } from "./desired-state.ts"
import { type ClusterCache, type ClusterChanges, namespaceLabelsChanged } from "./cluster-cache.ts"
import type { DistributionEvents } from "./distribution-events.ts"
import { ownerAnnotation } from "./plan.ts"
import type { StatusWriter } from "./status-writer.ts"
import { encodeTargetKey, type TargetKey } from "./target.ts"
import type { StoredTarget, TargetRegistry } from "./target-registry.ts"
import type { TokenChange, TokenMinter } from "./token-minter.ts"
import type { WorkQueue } from "./work-queue.ts"

export interface ChangeRouting {
  readonly enqueue: (key: TargetKey) => void
  /** Every target of the ImagePullSecret, in every namespace, and those left in namespaces gone from the cache. */
  readonly enqueueImagePullSecret: (ips: string) => void
  /** What each informer's changes enqueue. */
  readonly changes: ClusterChanges
  /** What a target's new state enqueues: the targets that wait for it. */
  readonly targetStored: (target: TargetKey, stored: StoredTarget) => void
  /** A new token is distributed everywhere; either way the status says how the token stands. */
  readonly tokenChanged: (change: TokenChange) => void
}

export interface RoutingDependencies {
  readonly cache: ClusterCache
  readonly queue: WorkQueue
  readonly registry: TargetRegistry
  readonly status: StatusWriter
  readonly tokens: TokenMinter
  readonly events: DistributionEvents
}

export const makeChangeRouting = ({ cache, queue, registry, status, tokens, events }: RoutingDependencies): ChangeRouting => {
  const enqueue = (key: TargetKey) => queue.add(encodeTargetKey(key))

  const enqueueNamespace = (ns: string) => {
    for (const ips of cache.imagePullSecrets.values()) {
      const name = ips.metadata.name
      enqueue({ kind: "Secret", ips: name, namespace: ns })
      for (const sa of cache.serviceAccountsIn(ns)) enqueue({ kind: "ServiceAccount", ips: name, namespace: ns, serviceAccount: sa })
    }
  }

  const enqueueImagePullSecret = (ips: string) => {
    enqueue({ kind: "ImagePullSecret", ips })
    for (const ns of cache.namespaces.values()) {
      const name = ns.metadata.name
      enqueue({ kind: "Secret", ips, namespace: name })
      for (const sa of cache.serviceAccountsIn(name)) enqueue({ kind: "ServiceAccount", ips, namespace: name, serviceAccount: sa })
    }
    // Targets in namespaces that are gone from the cache still need their machines settled.
    for (const key of registry.membersOf(ips)) queue.add(key)
  }

  const markEveryStatusDirty = () => {
    for (const ips of cache.imagePullSecrets.values()) status.markDirty(ips.metadata.name)
  }

  const changes: ClusterChanges = {
    imagePullSecret: (event) => {
      const name = event.object.metadata.name
      tokens.sync(name, cache.distributionOf(name))
      if (event.type === "Delete") {
        status.forget(name)
        events.forget(name)
      } else {
        status.markDirty(name)
        // Only a change of what is asked for needs a full pass; status writes and finalizer edits do not.
        const previous = event.previous
        if (
          previous !== undefined && previous.metadata.generation === event.object.metadata.generation &&
          (previous.metadata.deletionTimestamp === undefined) === (event.object.metadata.deletionTimestamp === undefined) &&
          previous.metadata.uid === event.object.metadata.uid
        ) {
          enqueue({ kind: "ImagePullSecret", ips: name })
          return
        }
      }
      enqueueImagePullSecret(name)
    },
    namespace: (event) => {
      const previous = event.type === "Upsert" ? event.previous : undefined
      // A relist may bring a namespace deleted and created again under its name as a mere update: a new uid is a
      // new namespace, whose targets start over. Labels select (namespaceSelector, the opt-out label): a
      // relabelled namespace is looked at again.
      if (
        previous !== undefined && previous.metadata.uid === event.object.metadata.uid &&
        isTerminating(previous) === isTerminating(event.object) && !namespaceLabelsChanged(previous, event.object)
      ) return
      enqueueNamespace(event.object.metadata.name)
      markEveryStatusDirty()
    },
    serviceAccount: (event) => {
      const ns = event.object.metadata.namespace ?? ""
      for (const ips of cache.imagePullSecrets.values()) {
        enqueue({ kind: "ServiceAccount", ips: ips.metadata.name, namespace: ns, serviceAccount: event.object.metadata.name })
        status.markDirty(ips.metadata.name)
      }
    },
    secret: (event) => {
      const ips = event.object.metadata.annotations?.[ownerAnnotation]
      if (ips !== undefined && event.object.metadata.namespace !== undefined) {
        enqueue({ kind: "Secret", ips, namespace: event.object.metadata.namespace })
      }
    }
  }

  const targetStored = (target: TargetKey, { changed, state }: StoredTarget) => {
    // Any removal may be the last object the finalizer waits for: it counts objects in the caches, which also
    // change for targets that have no machine left, so waiting for the last member to go is not enough.
    if (
      state === "Removed" && target.kind !== "ImagePullSecret" &&
      cache.imagePullSecrets.get(target.ips)?.metadata.deletionTimestamp !== undefined
    ) {
      enqueue({ kind: "ImagePullSecret", ips: target.ips })
    }
    if (!changed) return
    status.markDirty(target.ips)
    // The namespace's Secret became usable: its ServiceAccounts may reference it now.
    if (target.kind === "Secret" && state === "Ready") {
      for (const sa of cache.serviceAccountsIn(target.namespace)) {
        enqueue({ kind: "ServiceAccount", ips: target.ips, namespace: target.namespace, serviceAccount: sa })
      }
    }
    if (target.kind === "ServiceAccount" && state === "Removed") enqueue({ kind: "Secret", ips: target.ips, namespace: target.namespace })
  }

  const tokenChanged = (change: TokenChange) => {
    if (change._tag === "Dropped") return
    if (change._tag === "Issued" || change._tag === "SourceRead") enqueueImagePullSecret(change.ips)
    status.markDirty(change.ips)
  }

  return { enqueue, enqueueImagePullSecret, changes, targetStored, tokenChanged }
}
