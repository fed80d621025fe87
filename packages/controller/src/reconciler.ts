// The controller: a cluster cache feeds a keyed work queue; each key's reconcile asks the pure desired state and the
// target's machine what to do and executes at most one API request per step. Status is aggregated from the machines
// and written, coalesced, only when it changed. A namespace's creation reaches its Secret POST and ServiceAccount
// PATCH through: cluster-cache (the informer change) -> change-routing (the keys) -> target-interpreter (the machine
// step) -> desired-state (the plan) -> executor (the request).
import { objectKey } from "@tcr-assistant/kube"
import { Effect, Stream } from "effect"
import { makeChangeRouting } from "./change-routing.ts"
import { makeClusterCache } from "./cluster-cache.ts"
import { makeDistributionEvents } from "./distribution-events.ts"
import { makeControllerStats } from "./controller-metrics.ts"
import { type ClusterView, desiredCounts } from "./desired-state.ts"
import { Executor } from "./executor.ts"
import type { TokenIssuer } from "./registry-token.ts"
import { makeStatusWriter } from "./status-writer.ts"
import { makeStuckPods, type StuckPodOptions } from "./stuck-pods.ts"
import { makeTargetInterpreter } from "./target-interpreter.ts"
import { makeTargetRegistry } from "./target-registry.ts"
import { combineCredentialSources, makeSourceSecrets } from "./source-secrets.ts"
import { makeTokenMinter } from "./token-minter.ts"
import { makeWorkQueue } from "./work-queue.ts"

export type { ControllerStats } from "./controller-metrics.ts"

export interface ControllerOptions {
  /** Requests in flight at once. */
  readonly concurrency?: number | undefined
  /** Status writes per ImagePullSecret are coalesced over this period. */
  readonly statusIntervalMillis?: number | undefined
  /** Most not-ready targets listed in a status. */
  readonly maxStatusTargets?: number | undefined
  /** Mints registry tokens for ImagePullSecrets with spec.tcr; without it such objects report TokenUnavailable. */
  readonly tokenIssuer?: TokenIssuer | undefined
  /** Namespace of credentialsSecretRef when the reference names none. */
  readonly defaultCredentialsNamespace?: string | undefined
  /** Watch Pods for ones admitted without our Secret (default on); see stuck-pods.ts. */
  readonly stuckPods?: (StuckPodOptions & { readonly enabled?: boolean | undefined }) | undefined
}

/** Start the controller in the current scope; it runs until the scope closes. Records Events through EventRecorder. */
export const startController = Effect.fn("Controller.start")(function*(options: ControllerOptions = {}) {
  const stats = yield* makeControllerStats
  const cache = yield* makeClusterCache()
  const registry = makeTargetRegistry()
  const queue = yield* makeWorkQueue()
  const executor = yield* Executor.make
  const events = yield* makeDistributionEvents((ips) => cache.imagePullSecrets.get(ips)?.metadata.uid)

  const minter = yield* makeTokenMinter({
    tokenIssuer: options.tokenIssuer,
    defaultCredentialsNamespace: options.defaultCredentialsNamespace ?? "tcr-assistant-system"
  })
  // Credentials by reference (spec.secretRef) are read from the Secrets they name, in the same namespace default.
  const sourceSecrets = yield* makeSourceSecrets({ defaultNamespace: options.defaultCredentialsNamespace ?? "tcr-assistant-system" })
  const tokens = combineCredentialSources(minter, sourceSecrets)

  const view: ClusterView = {
    distributionOf: cache.distributionOf,
    namespace: (name) => cache.namespaces.get(name),
    namespaces: () => cache.namespaces.values(),
    serviceAccountsIn: cache.serviceAccountsIn,
    namespacesWithServiceAccounts: cache.namespacesWithServiceAccounts,
    serviceAccount: (key) => cache.observedServiceAccounts.get(key),
    secret: (key) => cache.observedSecrets.get(key),
    managedSecrets: () => cache.secrets.values(),
    imagePullSecret: (name) => cache.observedImagePullSecrets.get(name),
    credentialsOf: tokens.credentialsOf,
    secretReady: registry.secretReady
  }

  const stuckPods = options.stuckPods?.enabled === false ? undefined : yield* makeStuckPods(cache, options.stuckPods)

  // When each ImagePullSecret's token expires, from the credential sources' changes below (status and metrics).
  const tokenExpiry = new Map<string, Date>()
  const status = yield* makeStatusWriter({
    imagePullSecret: (ips) => cache.imagePullSecrets.get(ips),
    distributionOf: cache.distributionOf,
    targetsOf: registry.viewsOf,
    credentialProblemOf: tokens.problemOf,
    desiredCounts: (distribution) => desiredCounts(view, distribution),
    maxTargets: options.maxStatusTargets ?? 20,
    podsMissingSecretOf: stuckPods?.index.of,
    tokenExpiryOf: (ips) => tokenExpiry.get(ips),
    written: () => stats.statusWritten(),
    announce: events.statusWritten
  })

  const routing = makeChangeRouting({ cache, queue, registry, status, tokens, events })
  yield* tokens.changes.pipe(
    Stream.runForEach((change) =>
      Effect.suspend(() => {
        routing.tokenChanged(change)
        // A source Secret's token-expires-at annotation is its token's expiry.
        const expiry = change._tag === "Issued" || change._tag === "SourceRead" ? change.expiresAt : undefined
        if (expiry !== undefined) {
          stats.tokenIssued(change.ips, expiry, change._tag === "Issued" ? "minted" : "secret")
          tokenExpiry.set(change.ips, expiry)
        } else if (change._tag === "Dropped" || change._tag === "SourceRead") {
          stats.tokenDropped(change.ips)
          tokenExpiry.delete(change.ips)
        }
        if (change._tag !== "Unavailable") status.markDirty(change.ips)
        if (change._tag !== "Unavailable") return Effect.void
        const reason = change.message.startsWith("source Secret ") ? "CredentialSourceUnavailable" : "TokenUnavailable"
        return events.credentialsUnavailable(change.ips, reason, change.message)
      })
    ),
    Effect.forkScoped
  )

  const interpreter = makeTargetInterpreter({
    cache,
    view,
    executor,
    registry,
    queue,
    routing,
    stats,
    events
  })
  yield* queue.runWorkers(options.concurrency ?? 16, interpreter.reconcile)
  yield* cache.follow(routing.changes)
  if (stuckPods !== undefined) {
    yield* stuckPods.follow({ markDirty: status.markDirty, report: events.stuckPod })
  }

  // Housekeeping at every status interval: mutations a relist outdated, then the statuses that changed.
  yield* Effect.forkScoped(
    Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(options.statusIntervalMillis ?? 1000)
        cache.retireAfterRelists()
        yield* status.flush
      }
    })
  )

  return {
    informers: stuckPods === undefined ? cache.informers : [...cache.informers, stuckPods.informer],
    imagePullSecrets: cache.imagePullSecrets,
    stats,
    queueDepth: () => queue.depth(),
    /** True when caches are synced and nothing is queued, in flight or waiting for a status write. */
    quiescent: () => [...cache.informers, ...(stuckPods === undefined ? [] : [stuckPods.informer])].every((informer) => informer.health().synced) && queue.idle() && status.dirty() === 0,
    /** Targets waiting out a backoff or a conflict's periodic re-check. */
    pendingRetries: () => queue.delayed(),
    /** Retry every waiting target now (tests use it to reach quiescence without waiting out backoff). */
    retryNow: () => queue.addDelayedNow(),
    machineCount: () => registry.size(),
    objectKeyOf: objectKey
  }
})

export type Controller = Effect.Success<ReturnType<typeof startController>>
