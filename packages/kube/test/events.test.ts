// The event recorder folds repeats into one event, combines many similar messages, rate-limits each object, and
// sends through the apiserver without ever blocking the caller.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { type EventInput, EventRecorder, makeEventCorrelator, maxEventMessageLength } from "../src/events.ts"
import type { KubeClient } from "../src/kube-client.ts"
import { makeFakeApiServer } from "./support/fake-apiserver.ts"
import { setTimeout as sleep } from "node:timers/promises"

const ips = { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", name: "sample", uid: "u-1" }
const warning = (message: string, reason = "SecretCreateFailed"): EventInput => ({
  involvedObject: ips,
  type: "Warning",
  reason,
  message
})

describe("makeEventCorrelator", () => {
  const correlator = () => makeEventCorrelator({ component: "tcr-assistant-controller", instance: "pod-1" })

  it("creates a cluster-scoped object's event in default, then folds repeats into it", () => {
    const c = correlator()
    const first = c.decide(warning("quota exceeded in ns-1"), 1_000_000)
    assert.strictEqual(first._tag, "Create")
    if (first._tag !== "Create") return
    const event = first.event as any
    assert.strictEqual(event.metadata.namespace, "default")
    assert.match(event.metadata.name, /^sample\.[0-9a-f]+$/)
    assert.deepStrictEqual(event.involvedObject, ips)
    assert.strictEqual(event.count, 1)
    assert.strictEqual(event.source.component, "tcr-assistant-controller")
    assert.strictEqual(event.firstTimestamp, "1970-01-01T00:16:40Z")
    c.sent(first.key, { ...event, count: 1 })
    const second = c.decide(warning("quota exceeded in ns-1"), 1_060_000)
    assert.strictEqual(second._tag, "Patch")
    if (second._tag !== "Patch") return
    assert.strictEqual(second.name, event.metadata.name)
    assert.deepStrictEqual(second.patch, { count: 2, lastTimestamp: "1970-01-01T00:17:40Z", message: "quota exceeded in ns-1" })
  })

  it("combines similar messages after ten distinct ones", () => {
    const c = correlator()
    const actions = Array.from({ length: 14 }, (_, i) => {
      const action = c.decide(warning(`failed in ns-${i}`), 1000 + i)
      if (action._tag === "Create") c.sent(action.key, action.event as any)
      return action
    })
    assert.isTrue(actions.slice(0, 10).every((action) => action._tag === "Create"))
    const combined = actions.slice(10)
    assert.strictEqual(combined[0]!._tag, "Create")
    assert.match((combined[0] as any).event.message, /^\(combined from similar events\): failed in ns-10$/)
    for (const action of combined.slice(1)) {
      assert.strictEqual(action._tag, "Patch")
      assert.match((action as any).patch.message, /^\(combined from similar events\): failed in ns-1[1-3]$/)
    }
  })

  it("rate-limits each object: a burst of 25, then one per five minutes", () => {
    const c = correlator()
    const t0 = 10_000_000
    const burst = Array.from({ length: 30 }, (_, i) => c.decide(warning("same", `Reason${i}`), t0))
    assert.strictEqual(burst.filter((action) => action._tag !== "Drop").length, 25)
    assert.strictEqual(c.decide(warning("same", "Other"), t0 + 60_000)._tag, "Drop")
    assert.notStrictEqual(c.decide(warning("same", "Other"), t0 + 5 * 60_000)._tag, "Drop")
    // Another object has its own bucket.
    const other = { involvedObject: { ...ips, name: "other", uid: "u-2" }, type: "Warning" as const, reason: "X", message: "m" }
    assert.notStrictEqual(c.decide(other, t0)._tag, "Drop")
  })

  it("truncates long messages and keeps names valid", () => {
    const c = correlator()
    const long = c.decide({ ...warning("x".repeat(5000)), involvedObject: { ...ips, name: "n".repeat(246) } }, 5)
    if (long._tag !== "Create") return assert.fail("expected a create")
    const event = long.event as any
    assert.strictEqual(event.message.length, maxEventMessageLength)
    assert.isAtMost(event.metadata.name.length, 253)
  })
})

describe("EventRecorder", () => {
  // Polls until the background sender has caught up; generous, since a failure here is a hang, not a flake.
  const until = (done: () => boolean) =>
    Effect.gen(function*() {
      for (let i = 0; i < 1500 && !done(); i++) yield* Effect.promise(() => sleep(20))
      assert.isTrue(done(), "the recorder did not catch up")
    })
  // The recorder's sending fiber lives as long as the layer's scope: build it in the test's scope.
  const recorderOn = (layer: Layer.Layer<KubeClient>) =>
    Layer.build(EventRecorder.layer({ component: "test", instance: "i" }).pipe(Layer.provide(layer))).pipe(
      Effect.map((context) => Context.get(context, EventRecorder))
    )

  it.live("creates an event, then patches its count for a repeat", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const recorder = yield* recorderOn(fake.layer())
      recorder.emit(warning("boom"))
      recorder.emit(warning("boom"))
      recorder.emit(warning("boom"))
      yield* until(() => recorder.stats().created + recorder.stats().aggregated >= 3)
      const events = [...fake.objects.entries()].filter(([path]) => path.startsWith("/api/v1/namespaces/default/events/"))
      assert.strictEqual(events.length, 1)
      assert.strictEqual(events[0]![1].count, 3)
      assert.deepStrictEqual(recorder.stats(), { created: 1, aggregated: 2, dropped: 0, failed: 0 })
    }))

  it.live("starts a new event when the one to patch has expired", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const recorder = yield* recorderOn(fake.layer())
      recorder.emit(warning("boom"))
      yield* until(() => recorder.stats().created >= 1)
      for (const path of [...fake.objects.keys()]) fake.objects.delete(path)
      recorder.emit(warning("boom"))
      yield* until(() => recorder.stats().created >= 2)
      assert.strictEqual(fake.objects.size, 1)
      assert.strictEqual([...fake.objects.values()][0].count, 1)
    }))

  it.live("counts what the apiserver could not take and keeps going", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      let down = true
      const recorder = yield* recorderOn(fake.layer({ down: () => down }))
      recorder.emit(warning("first"))
      yield* until(() => recorder.stats().failed >= 1)
      down = false
      recorder.emit(warning("second"))
      yield* until(() => recorder.stats().created >= 1)
      assert.strictEqual(fake.objects.size, 1)
    }))
})
