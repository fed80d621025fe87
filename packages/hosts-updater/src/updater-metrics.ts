// Owns the agent's metrics, read from its snapshot at every scrape: what it applied and when, whether the config is
// valid, and its ConfigMap watch under the informer metrics every program shares.
import { trackInformerMetrics } from "@tcr-assistant/kube/informer-metrics"
import { trackMetric } from "@tcr-assistant/kube/prometheus"
import { Effect, Metric, type Scope } from "effect"
import { type ApplyOutcome, unreadyReasons, type UpdaterSnapshot } from "./updater-status.ts"

const name = (suffix: string) => `tcr_assistant_hosts_updater_${suffix}`
const gauge = (suffix: string, description: string) => Metric.gauge(name(suffix), { description })

const applies = Metric.counter(name("applies_total"), { description: "Attempts to apply the hosts config, by outcome.", incremental: true })
const configValid = gauge("config_valid", "1 when the updater-config hosts value is valid, 0 when it is rejected.")
const appliedConfig = gauge("applied_config_info", "Always 1; the hash label is the config the hosts file holds.")
const managedEntries = gauge("managed_entries", "Entry lines in the managed block.")
const handListedNames = gauge("hand_listed_names", "Managed names the hosts file also lists outside the managed block.")
const lastApplied = gauge("last_applied_timestamp_seconds", "When the hosts file last reflected the config (Unix time, seconds).")
const fileFailing = gauge("file_failing", "1 while the hosts file cannot be written.")
const ready = gauge("ready", "1 when the agent is ready.")

/** The informer label of the agent's one watch. */
export const configMapInformer = "updater-config"

/** Track the agent's families for as long as the scope lives. */
export const trackUpdaterMetrics = (snapshot: () => UpdaterSnapshot, now: () => number = Date.now): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    yield* trackMetric(applies, () =>
      (Object.entries(snapshot().applies) as Array<[ApplyOutcome, number]>).map(([outcome, value]) => ({ labels: { outcome }, value })))
    yield* trackMetric(configValid, () => {
      const valid = snapshot().configValid
      return valid === undefined ? [] : [{ value: valid ? 1 : 0 }]
    })
    yield* trackMetric(appliedConfig, () => {
      const hash = snapshot().appliedHash
      return hash === undefined ? [] : [{ labels: { hash }, value: 1 }]
    })
    yield* trackMetric(managedEntries, () => [{ value: snapshot().appliedEntries }])
    yield* trackMetric(handListedNames, () => [{ value: snapshot().handListedNames }])
    yield* trackMetric(lastApplied, () => {
      const at = snapshot().lastSuccessAt
      return at === undefined ? [] : [{ value: at / 1000 }]
    })
    yield* trackMetric(fileFailing, () => [{ value: snapshot().fileFailing ? 1 : 0 }])
    yield* trackInformerMetrics(() => {
      const current = snapshot()
      return [{ informer: configMapInformer, synced: current.synced, restarts: current.watchRestarts, lastEventAt: current.lastWatchEventAt }]
    })
    yield* trackMetric(ready, () => [{ value: unreadyReasons(snapshot(), now()).length === 0 ? 1 : 0 }])
  })
