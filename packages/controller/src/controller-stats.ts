// The counters the controller keeps for its metrics: reconciles and their durations, lost races, failures and
// status writes. The controller only increments them; the metrics endpoint reads them at scrape time.
import { Histogram } from "./metrics.ts"

export interface ControllerStats {
  reconciles: number
  conflicts: number
  failures: number
  statusWrites: number
  /** Reconcile durations in seconds, for the histogram. */
  readonly durations: Array<number>
  /** Reconcile durations as a Prometheus histogram (it never drops observations, unlike `durations`). */
  readonly reconcileSeconds: Histogram
  /** ServiceAccount patches that lost a race (409, or a failed resourceVersion test), counted apart for metrics. */
  serviceAccountConflicts: number
}

export const makeControllerStats = (): ControllerStats => ({
  reconciles: 0,
  conflicts: 0,
  failures: 0,
  statusWrites: 0,
  durations: [],
  reconcileSeconds: new Histogram(),
  serviceAccountConflicts: 0
})

/** Record one reconcile's duration. */
export const observeReconcile = (stats: ControllerStats, seconds: number) => {
  stats.durations.push(seconds)
  stats.reconcileSeconds.observe(seconds)
  if (stats.durations.length > 10_000) stats.durations.splice(0, 5_000)
}
