// Reconciles one target key: plans from the current view, lets the target's machine decide, runs the one request it
// asks for through the Executor, records what the request returned in the mutation cache, and feeds the outcome back
// until the machine is content, waits, or has used its steps for this turn.
import { managedSecretName } from "@tcr-assistant/api"
import type { KubeObject, MutationCache } from "@tcr-assistant/kube"
import { jitter } from "@tcr-assistant/kube/backoff"
import { Clock, Effect } from "effect"
import type { ChangeRouting } from "./change-routing.ts"
import type { ClusterCache } from "./cluster-cache.ts"
import type { ControllerStats } from "./controller-metrics.ts"
import type { DistributionEvents } from "./distribution-events.ts"
import { type ClusterView, planTarget } from "./desired-state.ts"
import type { Executor } from "./executor.ts"
import { decodeTargetKey, type TargetKey } from "./target.ts"
import { initialTarget, stepTarget, type TargetAction, type TargetEvent } from "./target-machine.ts"
import type { TargetRegistry } from "./target-registry.ts"
import type { WorkQueue } from "./work-queue.ts"

export interface InterpreterDependencies {
  readonly cache: ClusterCache
  readonly view: ClusterView
  readonly executor: Executor["Service"]
  readonly registry: TargetRegistry
  readonly queue: WorkQueue
  readonly routing: ChangeRouting
  readonly stats: ControllerStats
  readonly events: DistributionEvents
}

/** Steps per reconcile before yielding the worker; a target that needs more is simply queued again. */
const maxSteps = 6

/** Where the target's object is read from: the mutation cache of its kind, and its key there. */
const observedObject = (cache: ClusterCache, target: TargetKey): { readonly observed: MutationCache<KubeObject>; readonly key: string } => {
  switch (target.kind) {
    case "Secret":
      return { observed: cache.observedSecrets, key: `${target.namespace}/${managedSecretName(target.ips)}` }
    case "ServiceAccount":
      return { observed: cache.observedServiceAccounts, key: `${target.namespace}/${target.serviceAccount}` }
    case "ImagePullSecret":
      return { observed: cache.observedImagePullSecrets, key: target.ips }
  }
}

/**
 * What a plan is computed from, as far as a refused request cares: the spec's generation (and whether it is being
 * deleted) and the target object's revision. A request refused for good is sent again only when this changes.
 */
const planBasis = (cache: ClusterCache, target: TargetKey, observed: MutationCache<KubeObject>, key: string): string => {
  const owner = cache.observedImagePullSecrets.get(target.ips)?.metadata
  const deleting = owner?.deletionTimestamp === undefined ? "" : "deleting"
  return `${owner?.generation ?? "-"}${deleting}/${observed.get(key)?.metadata.resourceVersion ?? "-"}`
}

export const makeTargetInterpreter = (deps: InterpreterDependencies) => {
  const { executor, queue, registry, stats, view } = deps

  /** Read the object again and stand it in for the cache's copy; a failed read leaves the cache as it was. */
  const refresh = (target: TargetKey, observed: MutationCache<KubeObject>, key: string) =>
    Effect.suspend(() => {
      const known = observed.knownRevision(key)
      return executor.read(target).pipe(
        Effect.map((object) => (object === null ? observed.recordAbsent(key, known) : observed.recordObject(key, object))),
        Effect.catch(() => Effect.void)
      )
    })

  const reconcile = (key: string): Effect.Effect<void> =>
    Effect.gen(function*() {
      const started = performance.now()
      let failed = false
      let requeued = false
      const target = decodeTargetKey(key)
      const { observed, key: objectKey } = observedObject(deps.cache, target)
      const planned = (now: number): TargetEvent => ({
        type: "PLANNED",
        plan: planTarget(view, target),
        basis: planBasis(deps.cache, target, observed, objectKey),
        now
      })
      let snapshot = registry.snapshotOf(key) ?? initialTarget()
      const feed = (event: TargetEvent): ReadonlyArray<TargetAction> => {
        const [next, actions] = stepTarget(snapshot, event)
        snapshot = next
        return actions
      }
      // The machine says whether to read the object again before planning (a conflict does).
      if (feed({ type: "RECONCILING", now: yield* Clock.currentTimeMillis }).some((action) => action.type === "refresh")) {
        yield* refresh(target, observed, objectKey)
      }
      let actions = feed(planned(yield* Clock.currentTimeMillis))
      for (let step = 0; step < maxSteps; step++) {
        const execute = actions.find((action) => action.type === "execute")
        const retry = actions.find((action) => action.type === "retryAfter")
        if (retry !== undefined) {
          requeued = true
          queue.addAfter(key, yield* jitter(retry.millis))
        }
        if (actions.some((action) => action.type === "refresh")) {
          yield* refresh(target, observed, objectKey)
          actions = feed(planned(yield* Clock.currentTimeMillis))
          continue
        }
        if (execute === undefined) break
        const known = observed.knownRevision(objectKey)
        const outcome = yield* Effect.result(executor.execute(execute.command))
        const now = yield* Clock.currentTimeMillis
        if (outcome._tag === "Success") {
          if (outcome.success === null) observed.recordAbsent(objectKey, known)
          else observed.recordObject(objectKey, outcome.success)
          feed({ type: "SUCCEEDED", now })
          actions = feed(planned(now))
          continue
        }
        const failure = outcome.failure
        switch (failure._tag) {
          case "LostRace":
            stats.conflict()
            if (target.kind === "ServiceAccount") stats.serviceAccountConflict()
            actions = feed({ type: "STALE", now })
            break
          case "NamespaceTerminating":
            actions = feed({ type: "NAMESPACE_TERMINATING", now })
            break
          case "RequestFailed":
            failed = true
            if (failure.retryable) yield* deps.events.requestFailed(target.ips, failure.reason, failure.message)
            actions = feed({ type: "FAILED", retryable: failure.retryable, reason: failure.reason, message: failure.message, now })
            break
        }
      }
      if (actions.some((action) => action.type === "execute" || action.type === "refresh")) {
        requeued = true
        queue.add(key)
      }
      // Out of steps with a request asked for and not sent: the machine hears that none is in flight.
      if (actions.some((action) => action.type === "execute")) feed({ type: "POSTPONED", now: yield* Clock.currentTimeMillis })
      const stored = registry.store(key, target, snapshot)
      deps.routing.targetStored(target, stored)
      if (stored.changed) yield* deps.events.targetChanged(target, stored.state, snapshot.context.reason, snapshot.context.message)
      stats.reconciled((performance.now() - started) / 1000, failed ? "error" : requeued ? "requeue" : "success")
    })

  return { reconcile }
}
