// Owns the controller-manager's metric families, gathered at scrape time from their owners: the controller (only
// on the leader), the informers, the apiserver client, leader election, the webhook and the event recorder.
import type { ImagePullSecretStatus } from "@tcr-assistant/api"
import type { Informer, RequestCounts } from "@tcr-assistant/kube"
import type { EventRecorderStats } from "@tcr-assistant/kube/events"
import type { MetricFamily, Sample } from "./metrics.ts"
import type { Controller } from "./reconciler.ts"
import type { WebhookStats } from "./webhook.ts"

export interface MetricSources {
  /** The running controller, while this replica leads. */
  readonly controller: () => Controller | undefined
  readonly requestCounts: () => RequestCounts
  readonly isLeader: () => boolean
  readonly webhook: () => WebhookStats | undefined
  readonly certificateNotAfter: () => Date | undefined
  readonly events: () => EventRecorderStats
  readonly now: () => number
}

const prefix = "tcr_assistant"
/** Target states that mean "not working": counted as failing targets. */
const failingStates = ["BackingOff", "Conflict"]

const gauge = (name: string, help: string, samples: ReadonlyArray<Sample>): MetricFamily => ({ name: `${prefix}_${name}`, help, type: "gauge", samples })
const counter = (name: string, help: string, samples: ReadonlyArray<Sample>): MetricFamily => ({ name: `${prefix}_${name}`, help, type: "counter", samples })

/** The families of one scrape. Families without data keep their HELP and TYPE, so dashboards see every name. */
export const controllerManagerMetrics = (sources: MetricSources): ReadonlyArray<MetricFamily> => {
  const controller = sources.controller()
  const now = sources.now()
  const informers: ReadonlyArray<Informer<any>> = controller?.informers ?? []
  const perCr = { secretsDesired: [] as Array<Sample>, secretsSynced: [] as Array<Sample>, saDesired: [] as Array<Sample>, saSynced: [] as Array<Sample>, failing: [] as Array<Sample>, byState: [] as Array<Sample> }
  const imagePullSecrets = informers.find((informer) => informer.name === "imagepullsecrets")
  for (const object of imagePullSecrets?.values() ?? []) {
    const labels = { imagepullsecret: String(object.metadata.name) }
    const status = (object.status ?? {}) as ImagePullSecretStatus
    perCr.secretsDesired.push({ labels, value: status.secretsDesired ?? 0 })
    perCr.secretsSynced.push({ labels, value: status.secretsSuccess ?? 0 })
    perCr.saDesired.push({ labels, value: status.serviceAccountsDesired ?? 0 })
    perCr.saSynced.push({ labels, value: status.serviceAccountsSuccess ?? 0 })
    const byState = status.targetsByState ?? {}
    perCr.failing.push({ labels, value: failingStates.reduce((sum, state) => sum + (byState[state] ?? 0), 0) })
    for (const [state, value] of Object.entries(byState)) perCr.byState.push({ labels: { ...labels, state }, value })
  }
  const stats = controller?.stats
  const informerSamples = (value: (health: ReturnType<Informer<any>["health"]>) => number) =>
    informers.map((informer) => ({ labels: { informer: informer.name }, value: value(informer.health()) }))
  const webhook = sources.webhook()
  const notAfter = sources.certificateNotAfter()
  const events = sources.events()
  const requests = sources.requestCounts()
  const memory = process.memoryUsage()
  return [
    gauge("secrets_desired", "Namespaces that should hold the pull Secret of an ImagePullSecret (from its status).", perCr.secretsDesired),
    gauge("secrets_synced", "Namespaces whose pull Secret is up to date (from the ImagePullSecret's status).", perCr.secretsSynced),
    gauge("service_accounts_desired", "ServiceAccounts that should reference the pull Secret (from the ImagePullSecret's status).", perCr.saDesired),
    gauge("service_accounts_synced", "ServiceAccounts that reference the pull Secret (from the ImagePullSecret's status).", perCr.saSynced),
    gauge("failing_targets", "Targets of an ImagePullSecret that are backing off after failures or blocked by a foreign object.", perCr.failing),
    gauge("targets", "Targets of an ImagePullSecret per state (from its status).", perCr.byState),
    {
      name: `${prefix}_reconcile_duration_seconds`,
      help: "Time to reconcile one target key.",
      type: "histogram",
      histograms: stats === undefined ? [] : [stats.reconcileSeconds.snapshot()]
    },
    counter("reconciles_total", "Target keys reconciled.", stats === undefined ? [] : [{ value: stats.reconciles }]),
    counter("reconcile_failures_total", "Requests that failed for a reason other than a lost race.", stats === undefined ? [] : [{ value: stats.failures }]),
    counter("service_account_patch_conflicts_total", "ServiceAccount patches that lost a race with another writer and were retried on a fresh read.", stats === undefined ? [] : [{ value: stats.serviceAccountConflicts }]),
    counter("write_conflicts_total", "Writes of any kind that lost a race (409 or a failed resourceVersion test).", stats === undefined ? [] : [{ value: stats.conflicts }]),
    counter("status_writes_total", "ImagePullSecret status updates written.", stats === undefined ? [] : [{ value: stats.statusWrites }]),
    gauge("work_queue_depth", "Target keys queued or being reconciled.", controller === undefined ? [] : [{ value: controller.queueDepth() }]),
    gauge("targets_tracked", "Target state machines held in memory.", controller === undefined ? [] : [{ value: controller.machineCount() }]),
    gauge("informer_synced", "1 when the informer's cache has been listed at least once.", informerSamples((health) => (health.synced ? 1 : 0))),
    counter("watch_restarts_total", "Watches restarted after an error.", informerSamples((health) => health.restarts)),
    counter("watch_relists_total", "Full lists of an informer (start, 410 Gone, periodic resync).", informerSamples((health) => health.relists)),
    gauge("seconds_since_last_watch_event", "Seconds since the informer last saw a list, event or bookmark.", informerSamples((health) => Math.max(0, (now - health.lastEventAt) / 1000))),
    counter(
      "webhook_requests_total",
      "Admission reviews answered, by result (allowed, denied, error: denied because of an internal error, malformed).",
      webhook === undefined ? [] : Object.entries(webhook.requests).map(([result, value]) => ({ labels: { result }, value }))
    ),
    {
      name: `${prefix}_webhook_request_duration_seconds`,
      help: "Time to answer one admission review, from the request to the response.",
      type: "histogram",
      histograms: webhook === undefined ? [] : [webhook.latency.snapshot()]
    },
    gauge("webhook_certificate_expiry_timestamp_seconds", "When the webhook's serving certificate expires (Unix time).", notAfter === undefined ? [] : [{ value: Math.floor(notAfter.getTime() / 1000) }]),
    gauge("leader", "1 while this replica holds the leader lease and runs the controller.", [{ value: sources.isLeader() ? 1 : 0 }]),
    counter("apiserver_requests_total", "Requests sent to the apiserver, by verb (WATCH counts watch connections).", Object.entries(requests.byVerb).map(([verb, value]) => ({ labels: { verb }, value }))),
    counter("events_total", "Kubernetes Events, by outcome: created, aggregated into an existing one, dropped by the rate limit, failed.", [
      { labels: { outcome: "created" }, value: events.created },
      { labels: { outcome: "aggregated" }, value: events.aggregated },
      { labels: { outcome: "dropped" }, value: events.dropped },
      { labels: { outcome: "failed" }, value: events.failed }
    ]),
    { name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: "gauge", samples: [{ value: memory.rss }] },
    { name: "nodejs_heap_used_bytes", help: "V8 heap in use, in bytes.", type: "gauge", samples: [{ value: memory.heapUsed }] },
    { name: "process_cpu_seconds_total", help: "User and system CPU time spent, in seconds.", type: "counter", samples: [{ value: cpuSeconds() }] }
  ]
}

const cpuSeconds = () => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}
