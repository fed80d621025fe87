// The work queue processes a key once however often it is added, never twice at once, and re-adds delayed keys on
// Effect's clock, the earliest delay winning.
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { TestClock } from "effect/testing"
import { makeWorkQueue } from "../src/work-queue.ts"

describe("makeWorkQueue", () => {
  it.effect("processes a key added many times once, and again when added while it is processed", () =>
    Effect.gen(function*() {
      const queue = yield* makeWorkQueue()
      const processed: Array<string> = []
      const release = yield* Deferred.make<void>()
      queue.add("a")
      queue.add("a")
      yield* queue.runWorkers(2, (key) =>
        Effect.gen(function*() {
          processed.push(key)
          if (processed.length === 1) yield* Deferred.await(release)
        }))
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, ["a"])
      queue.add("a")
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, ["a"], "not processed by a second worker meanwhile")
      yield* Deferred.succeed(release, undefined)
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, ["a", "a"])
      assert.isTrue(queue.idle())
    }))

  it.effect("re-adds a delayed key when its delay is up; an earlier delay replaces a later one", () =>
    Effect.gen(function*() {
      const queue = yield* makeWorkQueue()
      const processed: Array<string> = []
      yield* queue.runWorkers(1, (key) => Effect.sync(() => processed.push(key)))
      queue.addAfter("a", "10 seconds")
      queue.addAfter("a", "2 seconds")
      queue.addAfter("a", "5 seconds")
      assert.strictEqual(queue.delayed(), 1)
      yield* TestClock.adjust("1999 millis")
      assert.deepStrictEqual(processed, [])
      yield* TestClock.adjust("1 millis")
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, ["a"])
      assert.strictEqual(queue.delayed(), 0)
      yield* TestClock.adjust("1 minute")
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, ["a"], "the replaced delays never fire")
    }))

  it.effect("adds every delayed key at once on request", () =>
    Effect.gen(function*() {
      const queue = yield* makeWorkQueue()
      const processed: Array<string> = []
      yield* queue.runWorkers(1, (key) => Effect.sync(() => processed.push(key)))
      queue.addAfter("a", "1 minute")
      queue.addAfter("b", "1 hour")
      queue.addDelayedNow()
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed.sort(), ["a", "b"])
      assert.strictEqual(queue.delayed(), 0)
      yield* TestClock.adjust("2 hours")
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed.sort(), ["a", "b"], "their timers are gone")
    }))
})
