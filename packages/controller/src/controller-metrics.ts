// Owns the controller-manager's metrics: what the reconciler records as it goes (controller-runtime's reconcile
// families, conflicts, status writes, token expiry) and the families read at scrape time from their owners (the
// ImagePullSecrets' status, the informers, leader election, the webhook certificate, the event recorder).
import type { ImagePullSecretStatus } from "@tcr-assistant/api"
import type { Informer } from "@tcr-assistant/kube"
import type { EventRecorderStats } from "@tcr-assistant/kube/events"
import { trackInformerMetrics } from "@tcr-assistant/kube/informer-metrics"
import { durationBuckets, type Sample, seriesOf, trackMetric } from "@tcr-assistant/kube/prometheus"
import { Effect, Metric, type Scope } from "effect"
import type { ImagePullSecretObject } from "./cluster-objects.ts"

/** controller-runtime's `controller` label: the one controller of this manager. */
const controllerLabel = { controller: "imagepullsecret" }

export type ReconcileResult = "success" | "error" | "requeue"
const reconcileResults: ReadonlyArray<ReconcileResult> = ["success", "error", "requeue"]

const reconcileTotal = Metric.counter("controller_runtime_reconcile_total", {
  description: "Reconciles of target keys, by result: success, error (a request failed), requeue (more work queued).",
  incremental: true
})
const reconcileErrors = Metric.counter("controller_runtime_reconcile_errors_total", {
  description: "Reconciles that ended with a failed request.",
  incremental: true
})
const reconcileTime = Metric.histogram("controller_runtime_reconcile_time_seconds", {
  description: "Time to reconcile one target key.",
  boundaries: durationBuckets
})
const serviceAccountConflicts = Metric.counter("tcr_assistant_service_account_patch_conflicts_total", {
  description: "ServiceAccount patches that lost a race with another writer and were retried on a fresh read.",
  incremental: true
})
const writeConflicts = Metric.counter("tcr_assistant_write_conflicts_total", {
  description: "Writes of any kind that lost a race (409 or a failed resourceVersion test).",
  incremental: true
})
const statusWrites = Metric.counter("tcr_assistant_status_writes_total", { description: "ImagePullSecret status updates written.", incremental: true })
const tokenExpiry = Metric.gauge("tcr_assistant_registry_token_expiry_timestamp_seconds", {
  description:
    "When the registry token of an ImagePullSecret expires (Unix time, seconds). source: minted (a temporary token the controller mints and renews, spec.tcr) or secret (its source Secret's token-expires-at annotation, spec.secretRef; install's long-term token)."
})

/** Where an ImagePullSecret's token comes from: minted and renewed by the controller, or read from a Secret. */
export type TokenSource = "minted" | "secret"
const tokenSources: ReadonlyArray<TokenSource> = ["minted", "secret"]

/** What the reconciler records, backed by the program's metric registry. */
export interface ControllerStats {
  /** Reconciles of this run so far, all results (the registry's counters may span several runs). */
  readonly reconciles: () => number
  /** Reconciles of this run that ended with a failed request. */
  readonly errors: () => number
  readonly reconciled: (seconds: number, result: ReconcileResult) => void
  readonly conflict: () => void
  readonly serviceAccountConflict: () => void
  readonly statusWritten: () => void
  readonly tokenIssued: (imagePullSecret: string, expiresAt: Date, source: TokenSource) => void
  /** The ImagePullSecret no longer has a minted token (deleted, or switched to inline credentials). */
  readonly tokenDropped: (imagePullSecret: string) => void
}

const reconcileTotalSeries = seriesOf(reconcileTotal)
const reconcileErrorsSeries = Metric.withAttributes(reconcileErrors, controllerLabel)
const reconcileTimeSeries = Metric.withAttributes(reconcileTime, controllerLabel)

/** The stats of one controller run, recorded into the registry of the context it starts in. */
export const makeControllerStats: Effect.Effect<ControllerStats> = Effect.map(Effect.context<never>(), (context) => {
  // controller-runtime starts every result at zero, so rates exist before the first error.
  for (const result of reconcileResults) Metric.withAttributes(reconcileTotal, { ...controllerLabel, result }).updateUnsafe(0, context)
  Metric.withAttributes(reconcileErrors, controllerLabel).updateUnsafe(0, context)
  const tokenSeries = (imagePullSecret: string, source: TokenSource) =>
    Metric.withAttributes(tokenExpiry, { imagepullsecret: imagePullSecret, source })
  let reconciles = 0
  let errors = 0
  return {
    reconciles: () => reconciles,
    errors: () => errors,
    reconciled: (seconds, result) => {
      reconciles++
      if (result === "error") errors++
      reconcileTotalSeries({ ...controllerLabel, result }).updateUnsafe(1, context)
      if (result === "error") reconcileErrorsSeries.updateUnsafe(1, context)
      reconcileTimeSeries.updateUnsafe(seconds, context)
    },
    conflict: () => writeConflicts.updateUnsafe(1, context),
    serviceAccountConflict: () => serviceAccountConflicts.updateUnsafe(1, context),
    statusWritten: () => statusWrites.updateUnsafe(1, context),
    tokenIssued: (imagePullSecret, expiresAt, source) => {
      // One series per ImagePullSecret: a switch between spec.tcr and spec.secretRef moves it to the other source.
      for (const other of tokenSources) if (other !== source) Metric.removeUnsafe(tokenSeries(imagePullSecret, other), context)
      tokenSeries(imagePullSecret, source).updateUnsafe(Math.floor(expiresAt.getTime() / 1000), context)
    },
    tokenDropped: (imagePullSecret) => {
      for (const source of tokenSources) Metric.removeUnsafe(tokenSeries(imagePullSecret, source), context)
    }
  }
})

/** Where the scrape-time families read from. */
export interface MetricSources {
  /** The running controller's informers and machine count, while this replica leads. */
  readonly controller: () =>
    | {
      readonly informers: ReadonlyArray<Informer<any>>
      readonly imagePullSecrets: Pick<Informer<ImagePullSecretObject>, "values">
      readonly machineCount: () => number
    }
    | undefined
  readonly isLeader: () => boolean
  readonly certificateNotAfter: () => Date | undefined
  readonly events: () => EventRecorderStats
}

/** Target states that mean "not working": counted as failing targets. */
const failingStates = ["BackingOff", "Conflict", "Failed"]

const gauge = (name: string, description: string) => Metric.gauge(`tcr_assistant_${name}`, { description })

const secretsDesired = gauge("secrets_desired", "Namespaces that should hold the pull Secret of an ImagePullSecret (from its status).")
const secretsSynced = gauge("secrets_synced", "Namespaces whose pull Secret is up to date (from the ImagePullSecret's status).")
const serviceAccountsDesired = gauge("service_accounts_desired", "ServiceAccounts that should reference the pull Secret (from the ImagePullSecret's status).")
const serviceAccountsSynced = gauge("service_accounts_synced", "ServiceAccounts that reference the pull Secret (from the ImagePullSecret's status).")
const failingTargets = gauge("failing_targets", "Targets of an ImagePullSecret that are backing off after failures or blocked by a foreign object.")
const targetsByState = gauge("targets", "Targets of an ImagePullSecret per state (from its status).")
const podsMissingSecret = gauge(
  "pods_missing_pull_secret",
  "Pods in selected namespaces, of selected ServiceAccounts, admitted without the ImagePullSecret's pull Secret (from its status)."
)
const targetsTracked = gauge("targets_tracked", "Target state machines held in memory.")
const relists = Metric.counter("tcr_assistant_watch_relists_total", { description: "Full lists of an informer (start, 410 Gone, periodic resync).", incremental: true })
const certificateExpiry = gauge("webhook_certificate_expiry_timestamp_seconds", "When the webhook's serving certificate expires (Unix time, seconds).")
const leader = gauge("leader", "1 while this replica holds the leader lease and runs the controller.")
const events = Metric.counter("tcr_assistant_events_total", {
  description: "Kubernetes Events, by outcome: created, aggregated into an existing one, dropped by the rate limit, failed.",
  incremental: true
})

const perImagePullSecret = (sources: MetricSources, value: (status: ImagePullSecretStatus) => ReadonlyArray<Sample>) => () => {
  const informer = sources.controller()?.imagePullSecrets
  return [...(informer?.values() ?? [])].flatMap((object) =>
    value(object.status ?? {}).map((sample) => ({
      labels: { imagepullsecret: String(object.metadata.name), ...sample.labels },
      value: sample.value
    }))
  )
}

/** Track the scrape-time families for as long as the scope lives. */
export const trackControllerManagerMetrics = (sources: MetricSources): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const one = (value: number | undefined): ReadonlyArray<Sample> => [{ value: value ?? 0 }]
    yield* trackMetric(secretsDesired, perImagePullSecret(sources, (status) => one(status.secretsDesired)))
    yield* trackMetric(secretsSynced, perImagePullSecret(sources, (status) => one(status.secretsSuccess)))
    yield* trackMetric(serviceAccountsDesired, perImagePullSecret(sources, (status) => one(status.serviceAccountsDesired)))
    yield* trackMetric(serviceAccountsSynced, perImagePullSecret(sources, (status) => one(status.serviceAccountsSuccess)))
    yield* trackMetric(failingTargets, perImagePullSecret(sources, (status) => one(failingStates.reduce((sum, state) => sum + (status.targetsByState?.[state] ?? 0), 0))))
    yield* trackMetric(targetsByState, perImagePullSecret(sources, (status) =>
      Object.entries(status.targetsByState ?? {}).map(([state, value]) => ({ labels: { state }, value }))))
    yield* trackMetric(podsMissingSecret, perImagePullSecret(sources, (status) =>
      status.podsMissingSecret === undefined ? [] : one(status.podsMissingSecret.count)))
    const controller = sources.controller
    yield* trackMetric(targetsTracked, () => {
      const running = controller()
      return running === undefined ? [] : [{ value: running.machineCount() }]
    })
    const informers = () => controller()?.informers ?? []
    yield* trackInformerMetrics(() =>
      informers().map((informer) => {
        const health = informer.health()
        return { informer: informer.name, synced: health.synced, restarts: health.restarts, lastEventAt: health.lastEventAt }
      })
    )
    yield* trackMetric(relists, () => informers().map((informer) => ({ labels: { informer: informer.name }, value: informer.health().relists })))
    yield* trackMetric(certificateExpiry, () => {
      const notAfter = sources.certificateNotAfter()
      return notAfter === undefined ? [] : [{ value: Math.floor(notAfter.getTime() / 1000) }]
    })
    yield* trackMetric(leader, () => [{ value: sources.isLeader() ? 1 : 0 }])
    yield* trackMetric(events, () => {
      const counts = sources.events()
      return (["created", "aggregated", "dropped", "failed"] as const).map((outcome) => ({ labels: { outcome }, value: counts[outcome] }))
    })
  })
