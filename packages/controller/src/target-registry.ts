// The machine snapshot of every target that is not Removed, and which targets belong to each ImagePullSecret: what
// status aggregates, what cleanup waits for, and where a ServiceAccount reads whether its Secret is in place.
import { managedSecretName } from "@tcr-assistant/api"
import type { TargetView } from "./status.ts"
import { decodeTargetKey, encodeTargetKey, type TargetKey } from "./target.ts"
import { type TargetSnapshot, type TargetState, targetState } from "./target-machine.ts"

/** What storing a snapshot changed, for the reconciler to act on. */
export interface StoredTarget {
  readonly state: TargetState
  /** The visible state or its reason changed (or the target is new). */
  readonly changed: boolean
}

export interface TargetRegistry {
  readonly snapshotOf: (key: string) => TargetSnapshot | undefined
  /** Keep the snapshot; a Removed target is forgotten. */
  readonly store: (key: string, target: TargetKey, snapshot: TargetSnapshot) => StoredTarget
  /** Target keys with a machine, per ImagePullSecret. */
  readonly membersOf: (ips: string) => Iterable<string>
  /** The ImagePullSecret's Secret in this namespace is Ready. */
  readonly secretReady: (ips: string, namespace: string) => boolean
  /** Every target of the ImagePullSecret as status lists it. */
  readonly viewsOf: (ips: string) => ReadonlyArray<TargetView>
  readonly size: () => number
}

const viewOf = (target: TargetKey, snapshot: TargetSnapshot): TargetView | undefined => {
  const state = targetState(snapshot)
  if (state === "Removed" || target.kind === "ImagePullSecret") return undefined
  return {
    kind: target.kind,
    namespace: target.namespace,
    name: target.kind === "Secret" ? managedSecretName(target.ips) : target.serviceAccount,
    state,
    reason: snapshot.context.reason,
    message: snapshot.context.message,
    since: snapshot.context.since
  }
}

export const makeTargetRegistry = (): TargetRegistry => {
  const machines = new Map<string, TargetSnapshot>()
  const membership = new Map<string, Set<string>>()

  const store = (key: string, target: TargetKey, snapshot: TargetSnapshot): StoredTarget => {
    const state = targetState(snapshot)
    const previous = machines.get(key)
    const changed = previous === undefined || targetState(previous) !== state || previous.context.reason !== snapshot.context.reason
    if (state === "Removed") {
      machines.delete(key)
      const members = membership.get(target.ips)
      members?.delete(key)
      if (members !== undefined && members.size === 0) membership.delete(target.ips)
    } else {
      machines.set(key, snapshot)
      let members = membership.get(target.ips)
      if (members === undefined) membership.set(target.ips, (members = new Set()))
      members.add(key)
    }
    return { state, changed }
  }

  return {
    snapshotOf: (key) => machines.get(key),
    store,
    membersOf: (ips) => membership.get(ips) ?? [],
    secretReady: (ips, namespace) => {
      const snapshot = machines.get(encodeTargetKey({ kind: "Secret", ips, namespace }))
      return snapshot !== undefined && targetState(snapshot) === "Ready"
    },
    viewsOf: (ips) => {
      const views: Array<TargetView> = []
      for (const key of membership.get(ips) ?? []) {
        const snapshot = machines.get(key)
        const view = snapshot === undefined ? undefined : viewOf(decodeTargetKey(key), snapshot)
        if (view !== undefined) views.push(view)
      }
      return views
    },
    size: () => machines.size
  }
}
