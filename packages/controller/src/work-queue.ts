// A work queue keyed by target: a key queued many times is processed once, a key is never processed by two
// workers at once (an add during processing runs it again afterwards), and delayed re-adds implement backoff. It
// exports client-go's work queue metrics (workqueue_*, labelled by the queue's name).
import { trackMetric } from "@tcr-assistant/kube/prometheus"
import { Clock, Duration, Effect, FiberMap, Metric, Queue, type Scope } from "effect"
import { randomUUID } from "node:crypto"

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

export interface WorkQueueOptions {
  /** The `name` label of its metrics; default imagepullsecret. */
  readonly name?: string | undefined
}

const adds = Metric.counter("workqueue_adds_total", { description: "Keys added to the work queue (an add of a key already waiting is not counted).", incremental: true })
const retries = Metric.counter("workqueue_retries_total", { description: "Delayed re-adds of a key: backoff after a failure or a periodic re-check.", incremental: true })
const depthGauge = Metric.gauge("workqueue_depth", { description: "Keys waiting to be processed." })
const longestRunning = Metric.gauge("workqueue_longest_running_processor_seconds", { description: "How long the longest-running reconcile in flight has been running, in seconds." })
const unfinishedWork = Metric.gauge("workqueue_unfinished_work_seconds", { description: "Seconds of work in flight: the sum of the running times of the reconciles not finished yet." })

/** A queue in the current scope (its delayed re-adds are cancelled with it); keys wait until workers run. */
export const makeWorkQueue = Effect.fn("WorkQueue.make")(function*(options: WorkQueueOptions = {}) {
  const ready = yield* Queue.unbounded<string>()
  const queued = new Set<string>()
  /** Keys being processed, with when each started (on Effect's clock). */
  const processing = new Map<string, number>()
  const dirty = new Set<string>()
  /** When each delayed key is due; its fiber in `sleepers` adds it then, unless replaced or fired early. */
  const due = new Map<string, number>()
  const sleepers = yield* FiberMap.makeRuntime<never, string>()
  const clock = yield* Clock.Clock
  const labels = { name: options.name ?? "imagepullsecret" }
  const context = yield* Effect.context<never>()
  const [addsSeries, retriesSeries] = [Metric.withAttributes(adds, labels), Metric.withAttributes(retries, labels)]
  const countAdd = () => addsSeries.updateUnsafe(1, context)
  const runningSeconds = () => {
    const now = clock.currentTimeMillisUnsafe()
    return [...processing.values()].map((started) => (now - started) / 1000)
  }
  yield* trackMetric(depthGauge, () => [{ labels, value: queued.size }])
  yield* trackMetric(longestRunning, () => [{ labels, value: Math.max(0, ...runningSeconds()) }])
  yield* trackMetric(unfinishedWork, () => [{ labels, value: runningSeconds().reduce((sum, seconds) => sum + seconds, 0) }])

  const add = (key: string) => {
    if (processing.has(key)) {
      if (!dirty.has(key)) countAdd()
      dirty.add(key)
      return
    }
    if (queued.has(key)) return
    countAdd()
    queued.add(key)
    Queue.offerUnsafe(ready, key)
  }

  const addAfter = (key: string, delay: Duration.Input) => {
    retriesSeries.updateUnsafe(1, context)
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
        processing.set(key, clock.currentTimeMillisUnsafe())
        yield* process(key).pipe(
          Effect.catchCause((cause) => Effect.logError("reconcile failed unexpectedly", cause).pipe(Effect.annotateLogs({ key }))),
          // controller-runtime's correlation id: every line one reconcile logs carries the same reconcileID.
          Effect.annotateLogs({ reconcileID: randomUUID() }),
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
