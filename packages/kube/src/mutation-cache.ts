// Read-your-writes over an informer's store: the controller's own writes and reads stand in for an object until the
// store shows that version or a newer one (client-go's MutationCache, keyed by resourceVersion). Without it, a
// reconcile that follows our own write plans from the stale store and sends the same request again.
import type { KubeObject } from "./informer.ts"

/** What the mutation cache reads through: an informer, or any map of objects by key. */
export interface ObjectStore<T extends KubeObject> {
  readonly get: (key: string) => T | undefined
  /** What the store keeps of an object (an informer's projection): our own objects are kept the same way. */
  readonly project?: ((raw: KubeObject) => T) | undefined
}

export interface MutationCache<T extends KubeObject> {
  /** The store's object, or our newer view of it; undefined when absent (or deleted by us since the store saw it). */
  readonly get: (key: string) => T | undefined
  /**
   * Our write or read returned this object: it stands in, projected as the store projects its own, until the store
   * holds this version or a newer one.
   */
  readonly recordObject: (key: string, object: KubeObject) => void
  /** The newest version of the object we know of, from the store or our own mutation: pass it with a request. */
  readonly knownRevision: (key: string) => bigint
  /**
   * Our delete succeeded, or our read found nothing, for a request sent when `knownRevision` was the newest version
   * we knew: the object reads as absent until the store shows a newer one. (The version known when the answer
   * arrives will not do: the store may have seen the object created again meanwhile, and would hide it.)
   */
  readonly recordAbsent: (key: string, knownRevision: bigint) => void
  /** The store delivered a deletion: it is newer than any write of ours it has not shown, so drop ours. */
  readonly storeDeleted: (key: string) => void
  /**
   * After the store relisted, it is the truth: a mutation it does not show is gone (deleted, or out of the
   * selection, while the watch was not looking), and no event will ever say so. Drops every mutation the store has
   * caught up with or no longer holds, and returns the objects of ours that the store does not have: they read as
   * absent from now on, and the caller must treat them as deleted.
   */
  readonly retireAfterRelist: () => ReadonlyArray<T>
  /** Mutations still standing in for the store. */
  readonly size: () => number
}

/**
 * An object's resourceVersion as a number, to order versions of one object; -1 when absent or not numeric.
 * (Kubernetes calls resourceVersions opaque, but every apiserver backed by etcd issues increasing integers, which is
 * what client-go's integer MutationCache relies on too.)
 */
export const resourceRevision = (object: KubeObject | undefined): bigint => {
  const text = object?.metadata.resourceVersion
  if (text === undefined || !/^\d+$/.test(text)) return -1n
  return BigInt(text)
}

interface Mutation<T> {
  /** null: absent. */
  readonly object: T | null
  /** The store must reach this revision to replace the mutation: the object's, or one past the deleted version. */
  readonly revision: bigint
}

const knownRevisionOf = (mutation: Mutation<unknown>): bigint =>
  mutation.object === null ? mutation.revision - 1n : mutation.revision

export const makeMutationCache = <T extends KubeObject>(store: ObjectStore<T>): MutationCache<T> => {
  const mutations = new Map<string, Mutation<T>>()
  const project = store.project ?? ((object: KubeObject) => object as T)

  const get = (key: string): T | undefined => {
    const stored = store.get(key)
    const mutation = mutations.get(key)
    if (mutation === undefined) return stored
    if (stored !== undefined && resourceRevision(stored) >= mutation.revision) {
      mutations.delete(key)
      return stored
    }
    return mutation.object ?? undefined
  }

  const retireAfterRelist = (): ReadonlyArray<T> => {
    const lost: Array<T> = []
    for (const [key, mutation] of mutations) {
      const stored = store.get(key)
      if (stored !== undefined && resourceRevision(stored) < mutation.revision) continue
      mutations.delete(key)
      if (stored === undefined && mutation.object !== null) lost.push(mutation.object)
    }
    return lost
  }

  const knownRevision = (key: string): bigint => {
    const stored = resourceRevision(store.get(key))
    const mutation = mutations.get(key)
    if (mutation === undefined) return stored
    const mutated = knownRevisionOf(mutation)
    return mutated > stored ? mutated : stored
  }

  return {
    get,
    recordObject: (key, object) => mutations.set(key, { object: project(object), revision: resourceRevision(object) }),
    knownRevision,
    // A deletion is newer than the version it was seen against: only a later version may replace it.
    recordAbsent: (key, known) => mutations.set(key, { object: null, revision: known + 1n }),
    storeDeleted: (key) => mutations.delete(key),
    retireAfterRelist,
    size: () => mutations.size
  }
}
