// Owns the metrics of informers, shared by every program that watches: whether each cache is synced, how often its
// watch restarted, and when it last heard from the apiserver (a timestamp, so an alert computes the age itself).
import { Effect, Metric, type Scope } from "effect"
import { trackMetric } from "./prometheus.ts"

export interface InformerReading {
  readonly informer: string
  readonly synced: boolean
  readonly restarts: number
  /** Epoch milliseconds of the last list, watch event or bookmark. */
  readonly lastEventAt: number
}

const synced = Metric.gauge("tcr_assistant_informer_synced", { description: "1 when the informer's cache has been listed at least once." })
const restarts = Metric.counter("tcr_assistant_watch_restarts_total", { description: "Watches restarted after an error or a closed connection.", incremental: true })
const lastEvent = Metric.gauge("tcr_assistant_watch_last_event_timestamp_seconds", {
  description: "When the informer last saw a list, watch event or bookmark (Unix time, seconds)."
})

/** Track the informers `read` returns at every scrape (none while, say, this replica is not the leader). */
export const trackInformerMetrics = (read: () => ReadonlyArray<InformerReading>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.all([
    trackMetric(synced, () => read().map((reading) => ({ labels: { informer: reading.informer }, value: reading.synced ? 1 : 0 }))),
    trackMetric(restarts, () => read().map((reading) => ({ labels: { informer: reading.informer }, value: reading.restarts }))),
    trackMetric(lastEvent, () => read().map((reading) => ({ labels: { informer: reading.informer }, value: reading.lastEventAt / 1000 })))
  ], { discard: true })
