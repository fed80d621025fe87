// One backoff for every retry: doubling from the base up to the cap, jittered within the delay's upper half, and the
// Schedule form retrying with those delays on Effect's clock.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Random } from "effect"
import { TestClock } from "effect/testing"
import { backoffDelay, backoffSchedule, jitter, stretch, targetBackoff, tokenBackoff, watchBackoff } from "../src/backoff.ts"

const millis = (duration: Duration.Duration) => Duration.toMillis(duration)
/** A Random service that always answers `value`. */
const fixedRandom = (value: number) => Effect.provideService(Random.Random, { nextDoubleUnsafe: () => value, nextIntUnsafe: () => 0 })

describe("backoffDelay", () => {
  it("doubles from the base and stops at the cap", () => {
    assert.deepStrictEqual([1, 2, 3, 4].map((attempt) => millis(backoffDelay(targetBackoff, attempt))), [500, 1000, 2000, 4000])
    assert.strictEqual(millis(backoffDelay(targetBackoff, 8)), 60_000)
    assert.strictEqual(millis(backoffDelay(targetBackoff, 10_000)), 60_000, "no overflow however many attempts")
    assert.strictEqual(millis(backoffDelay(targetBackoff, 0)), 500, "before any failure: the base")
  })

  it("keeps each loop's former delays", () => {
    assert.deepStrictEqual([1, 2, 7, 8].map((attempt) => millis(backoffDelay(watchBackoff, attempt))), [400, 800, 25_600, 30_000])
    assert.deepStrictEqual([1, 2, 8, 9].map((attempt) => millis(backoffDelay(tokenBackoff, attempt))), [2_000, 4_000, 256_000, 300_000])
  })
})

describe("jitter", () => {
  it.effect("spreads a delay over its upper half, never past the delay", () =>
    Effect.gen(function*() {
      assert.strictEqual(millis(yield* jitter("1 second").pipe(fixedRandom(0))), 500)
      assert.strictEqual(millis(yield* jitter("1 second").pipe(fixedRandom(0.5))), 750)
      assert.isAtMost(millis(yield* jitter("1 second").pipe(fixedRandom(0.9999))), 1000)
    }))

  it.effect("stretches a period by up to the factor", () =>
    Effect.gen(function*() {
      assert.strictEqual(millis(yield* stretch("2 seconds", 0.2).pipe(fixedRandom(0))), 2000)
      assert.strictEqual(millis(yield* stretch("2 seconds", 0.2).pipe(fixedRandom(0.5))), 2200)
    }))
})

describe("backoffSchedule", () => {
  it.effect("retries with the jittered delays on Effect's clock", () =>
    Effect.gen(function*() {
      let attempts = 0
      const failTwice = Effect.suspend(() => (++attempts <= 2 ? Effect.fail("not yet") : Effect.succeed(attempts)))
      const fiber = yield* failTwice.pipe(Effect.retry(backoffSchedule(tokenBackoff)), fixedRandom(0.5), Effect.forkChild)
      yield* TestClock.adjust("1499 millis")
      assert.strictEqual(attempts, 1, "the first retry waits 3/4 of 2 s")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(attempts, 2)
      yield* TestClock.adjust("2999 millis")
      assert.strictEqual(attempts, 2, "the second waits 3/4 of 4 s")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(fiber), 3)
    }))
})
