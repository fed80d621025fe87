import { assert, describe, it } from "@effect/vitest"
import { healthReply } from "../src/health-server.ts"
import { renderMetrics, staleWatchMillis, unreadyReasons, type UpdaterSnapshot } from "../src/updater-status.ts"

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

describe("endpoints", () => {
  it("answers /healthz, /readyz and /metrics", () => {
    assert.deepStrictEqual(healthReply("GET", "/healthz", healthy, now).status, 200)
    assert.deepStrictEqual(healthReply("GET", "/readyz", healthy, now).status, 200)
    const unready = healthReply("GET", "/readyz", { ...healthy, fileFailing: true }, now)
    assert.strictEqual(unready.status, 503)
    assert.strictEqual(unready.body, "not ready: the last write of /host/etc/hosts failed\n")
    assert.strictEqual(healthReply("GET", "/nope", healthy, now).status, 404)
    assert.strictEqual(healthReply("POST", "/healthz", healthy, now).status, 405)
    assert.include(healthReply("GET", "/metrics", healthy, now).contentType, "version=0.0.4")
  })

  it("renders metrics in the Prometheus text format", () => {
    const text = renderMetrics(healthy, now)
    for (const line of [
      "# TYPE tcr_assistant_hosts_updater_applies_total counter",
      "tcr_assistant_hosts_updater_applies_total{outcome=\"written\"} 4",
      "tcr_assistant_hosts_updater_applies_total{outcome=\"invalid\"} 1",
      "tcr_assistant_hosts_updater_config_valid 1",
      "tcr_assistant_hosts_updater_applied_config_info{hash=\"sha256:abc\"} 1",
      "tcr_assistant_hosts_updater_managed_entries 3",
      "tcr_assistant_hosts_updater_hand_listed_names 1",
      "tcr_assistant_hosts_updater_watch_restarts_total 2",
      "tcr_assistant_hosts_updater_seconds_since_last_watch_event 1",
      "tcr_assistant_hosts_updater_ready 1"
    ]) assert.include(text.split("\n"), line)
    for (const line of text.trimEnd().split("\n")) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{\w+="[^"]*"\})? [0-9.e+-]+)$/)
    }
  })
})
