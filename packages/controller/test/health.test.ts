// Probe answers: liveness and readiness from named checks (verbose lists them), metrics in the text format, and
// an informer counts as stale when its watch has been down or silent too long.
import { assert, describe, it } from "@effect/vitest"
import { healthReply, informerProblem } from "../src/health.ts"

const endpoints = (ready: string | undefined) => ({
  liveness: [{ name: "ping", check: () => undefined }],
  readiness: [
    { name: "webhook", check: () => undefined },
    { name: "informers", check: () => ready }
  ],
  metrics: () => "m 1\n"
})

describe("healthReply", () => {
  it("answers readiness from every check, listing them when verbose", () => {
    assert.deepStrictEqual(healthReply("GET", "/readyz", endpoints(undefined)).status, 200)
    const notReady = healthReply("GET", "/readyz", endpoints("secrets: cache not synced yet"))
    assert.strictEqual(notReady.status, 503)
    assert.include(notReady.body, "[-]informers failed: secrets: cache not synced yet")
    assert.include(notReady.body, "[+]webhook ok")
    assert.include(healthReply("GET", "/readyz?verbose", endpoints(undefined)).body, "[+]informers ok")
    assert.strictEqual(healthReply("GET", "/healthz", endpoints("x")).status, 200)
  })

  it("serves metrics and refuses other paths and methods", () => {
    const metrics = healthReply("GET", "/metrics", endpoints(undefined))
    assert.strictEqual(metrics.body, "m 1\n")
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/)
    assert.strictEqual(healthReply("GET", "/nope", endpoints(undefined)).status, 404)
    assert.strictEqual(healthReply("POST", "/readyz", endpoints(undefined)).status, 405)
  })

  it("turns a throwing check into a failure, not a crash", () => {
    const reply = healthReply("GET", "/readyz", { ...endpoints(undefined), readiness: [{ name: "boom", check: () => { throw new Error("bad") } }] })
    assert.strictEqual(reply.status, 503)
    assert.include(reply.body, "check failed: bad")
  })
})

describe("informerProblem", () => {
  const now = 1_000_000
  const health = { synced: true, watching: true, lastEventAt: now - 1_000, restarts: 0, relists: 1 }

  it("is fine while synced and recently heard from", () => {
    assert.isUndefined(informerProblem(health, now))
    // A watch that just dropped is restarting: not stale yet.
    assert.isUndefined(informerProblem({ ...health, watching: false }, now))
  })

  it("reports an unsynced cache, a watch down too long, or a silent one", () => {
    assert.strictEqual(informerProblem({ ...health, synced: false }, now), "cache not synced yet")
    assert.match(informerProblem({ ...health, watching: false, lastEventAt: now - 31_000 }, now)!, /watch down, last event 31s ago/)
    assert.match(informerProblem({ ...health, lastEventAt: now - 601_000 }, now)!, /no watch event for 601s/)
    assert.isUndefined(informerProblem({ ...health, watching: false, lastEventAt: now - 5_000 }, now, { watchDownMillis: 10_000 }))
  })
})
