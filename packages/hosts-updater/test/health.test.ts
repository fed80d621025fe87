import { assert, describe, it } from "@effect/vitest"
import { metricRegistryLayer, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { Effect } from "effect"
import { healthReply } from "../src/health-server.ts"
import { trackUpdaterMetrics } from "../src/updater-metrics.ts"
import { staleWatchMillis, unreadyReasons, type UpdaterSnapshot } from "../src/updater-status.ts"

const now = 1_800_000_000_000
const healthy: UpdaterSnapshot = {
  nodeName: "node-1",
  hostsFile: "/host/etc/hosts",
  synced: true,
  watching: true,
  lastWatchEventAt: now - 1000,
  watchRestarts: 2,
  configValid: true,
  appliedHash: "sha256:abc",
  appliedEntries: 3,
  lastAttemptAt: now - 500,
  lastSuccessAt: now - 500,
  fileFailing: false,
  handListedNames: 1,
  applies: { written: 4, unchanged: 10, invalid: 1, failed: 0 }
}

describe("readiness", () => {
  it("is ready once listed and applied, even with an invalid config", () => {
    assert.deepStrictEqual(unreadyReasons(healthy, now), [])
    assert.deepStrictEqual(unreadyReasons({ ...healthy, configValid: false }, now), [])
  })

  it("says why it is not ready", () => {
    assert.deepStrictEqual(unreadyReasons({ ...healthy, synced: false, lastAttemptAt: undefined }, now), [
      "the updater-config ConfigMap has not been listed yet"
    ])
    assert.deepStrictEqual(unreadyReasons({ ...healthy, fileFailing: true }, now), ["the last write of /host/etc/hosts failed"])
    assert.deepStrictEqual(
      unreadyReasons({ ...healthy, watching: false, lastWatchEventAt: now - staleWatchMillis - 5000 }, now),
      ["no watch on the updater-config ConfigMap for 65s"]
    )
    assert.deepStrictEqual(unreadyReasons({ ...healthy, watching: false }, now), [])
  })
})

const exposition = () => "# HELP up h\n# TYPE up gauge\nup 1\n"

describe("endpoints", () => {
  it("answers /healthz, /readyz and /metrics", () => {
    assert.deepStrictEqual(healthReply("GET", "/healthz", healthy, now, exposition).status, 200)
    assert.deepStrictEqual(healthReply("GET", "/readyz", healthy, now, exposition).status, 200)
    const unready = healthReply("GET", "/readyz", { ...healthy, fileFailing: true }, now, exposition)
    assert.strictEqual(unready.status, 503)
    assert.strictEqual(unready.body, "not ready: the last write of /host/etc/hosts failed\n")
    assert.strictEqual(healthReply("GET", "/nope", healthy, now, exposition).status, 404)
    assert.strictEqual(healthReply("POST", "/healthz", healthy, now, exposition).status, 405)
    assert.include(healthReply("GET", "/metrics", healthy, now, exposition).contentType, "version=0.0.4")
  })

  it.effect("renders the agent's metrics from its snapshot (names changed on purpose: timestamps, not ages)", () =>
    Effect.gen(function*() {
      const text = yield* Effect.scoped(Effect.gen(function*() {
        yield* trackUpdaterMetrics(() => healthy, () => now)
        return scrapePrometheusUnsafe(yield* Effect.context<never>())
      }))
      for (const line of [
        "# TYPE tcr_assistant_hosts_updater_applies_total counter",
        "tcr_assistant_hosts_updater_applies_total{outcome=\"written\"} 4",
        "tcr_assistant_hosts_updater_applies_total{outcome=\"invalid\"} 1",
        "tcr_assistant_hosts_updater_config_valid 1",
        "tcr_assistant_hosts_updater_applied_config_info{hash=\"sha256:abc\"} 1",
        "tcr_assistant_hosts_updater_managed_entries 3",
        "tcr_assistant_hosts_updater_hand_listed_names 1",
        `tcr_assistant_hosts_updater_last_applied_timestamp_seconds ${(now - 500) / 1000}`,
        "tcr_assistant_watch_restarts_total{informer=\"updater-config\"} 2",
        `tcr_assistant_watch_last_event_timestamp_seconds{informer="updater-config"} ${(now - 1000) / 1000}`,
        "tcr_assistant_informer_synced{informer=\"updater-config\"} 1",
        "tcr_assistant_hosts_updater_ready 1"
      ]) assert.include(text.split("\n"), line)
      for (const line of text.trimEnd().split("\n")) {
        assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{\w+="[^"]*"\})? [0-9.e+-]+)$/)
      }
    }).pipe(Effect.provide(metricRegistryLayer)))
})
