// A work queue keyed by target: a key queued many times is processed once, a key is never processed by two
// workers at once (an add during processing runs it again afterwards), and delayed re-adds implement backoff.
import { Clock, Duration, Effect, FiberMap, Queue, type Scope } from "effect"

export interface WorkQueue {
  readonly add: (key: string) => void
  /** Add after a delay (on Effect's Clock); an earlier pending delay for the same key wins. */
  readonly addAfter: (key: string, delay: Duration.Input) => void
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
  /** When each delayed key is due; its fiber in `sleepers` adds it then, unless replaced or fired early. */
  const due = new Map<string, number>()
  const sleepers = yield* FiberMap.makeRuntime<never, string>()
  const clock = yield* Clock.Clock

  const add = (key: string) => {
    if (processing.has(key)) {
      dirty.add(key)
      return
    }
    if (queued.has(key)) return
    queued.add(key)
    Queue.offerUnsafe(ready, key)
  }

  const addAfter = (key: string, delay: Duration.Input) => {
    const millis = Duration.toMillis(Duration.fromInputUnsafe(delay))
    const at = clock.currentTimeMillisUnsafe() + millis
    const pending = due.get(key)
    if (pending !== undefined && pending <= at) return
    due.set(key, at)
    // Replaces (interrupts) the key's later sleeper, if any.
    sleepers(key, Effect.sleep(millis).pipe(Effect.andThen(Effect.sync(() => {
      due.delete(key)
      add(key)
    }))))
  }

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
    delayed: () => due.size,
    addDelayedNow: () => {
      const keys = [...due.keys()]
      due.clear()
      for (const key of keys) {
        sleepers(key, Effect.void)
        add(key)
      }
    },
    runWorkers: (concurrency, process) =>
      Effect.gen(function*() {
        for (let i = 0; i < concurrency; i++) yield* Effect.forkScoped(worker(process))
      })
  }
  return queue
})
