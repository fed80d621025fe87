// A work queue keyed by target: a key queued many times is processed once, a key is never processed by two
// workers at once (an add during processing runs it again afterwards), and delayed re-adds implement backoff.
import { Effect, Queue, type Scope } from "effect"

export interface WorkQueue {
  readonly add: (key: string) => void
  /** Add after a delay; an earlier pending delay for the same key wins. */
  readonly addAfter: (key: string, millis: number) => void
  /** Keys waiting or being processed. */
  readonly depth: () => number
  /** Nothing queued and nothing being processed (delayed re-adds do not count). */
  readonly idle: () => boolean
  /** Keys waiting for a delayed re-add. */
  readonly delayed: () => number
  /** Add every key waiting for a delayed re-add now: tests reach quiescence without waiting out backoff. */
  readonly addDelayedNow: () => void
  /** Start `concurrency` workers in the current scope, each processing one key at a time. */
  readonly runWorkers: (concurrency: number, process: (key: string) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
}

/** A queue in the current scope (its delayed re-adds are cancelled with it); keys wait until workers run. */
export const makeWorkQueue = Effect.fn("WorkQueue.make")(function*() {
  const ready = yield* Queue.unbounded<string>()
  const queued = new Set<string>()
  const processing = new Set<string>()
  const dirty = new Set<string>()
  const timers = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>()

  const add = (key: string) => {
    if (processing.has(key)) {
      dirty.add(key)
      return
    }
    if (queued.has(key)) return
    queued.add(key)
    Queue.offerUnsafe(ready, key)
  }

  const addAfter = (key: string, millis: number) => {
    const at = Date.now() + millis
    const pending = timers.get(key)
    if (pending !== undefined && pending.at <= at) return
    if (pending !== undefined) clearTimeout(pending.timer)
    const timer = setTimeout(() => {
      timers.delete(key)
      add(key)
    }, millis)
    timer.unref()
    timers.set(key, { at, timer })
  }

  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      for (const { timer } of timers.values()) clearTimeout(timer)
      timers.clear()
    })
  )

  const worker = (process: (key: string) => Effect.Effect<void>) =>
    Effect.gen(function*() {
      while (true) {
        const key = yield* Queue.take(ready)
        queued.delete(key)
        processing.add(key)
        yield* process(key).pipe(
          Effect.catchCause((cause) => Effect.logError("reconcile failed unexpectedly", cause).pipe(Effect.annotateLogs({ key }))),
          Effect.ensuring(
            Effect.sync(() => {
              processing.delete(key)
              if (dirty.delete(key)) add(key)
            })
          )
        )
      }
    })

  const queue: WorkQueue = {
    add,
    addAfter,
    depth: () => queued.size + processing.size,
    idle: () => queued.size === 0 && processing.size === 0,
    delayed: () => timers.size,
    addDelayedNow: () => {
      const keys = [...timers.keys()]
      for (const { timer } of timers.values()) clearTimeout(timer)
      timers.clear()
      for (const key of keys) add(key)
    },
    runWorkers: (concurrency, process) =>
      Effect.gen(function*() {
        for (let i = 0; i < concurrency; i++) yield* Effect.forkScoped(worker(process))
      })
  }
  return queue
})
