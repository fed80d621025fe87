// Runs the controller in its own process for the benchmark, so its memory is measured alone. Answers the
// parent's questions over the IPC channel: is it quiescent, how many requests has it made, and where its memory is.
// The benchmark runs it bundled with the CLI (the image's code, sharing its chunks) unless told to run the sources.
import { KubeClient } from "@tcr-assistant/kube"
import { EventRecorder } from "@tcr-assistant/kube/events"
import { Clock, Effect, Layer, References } from "effect"
import { join } from "node:path"
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import { writeHeapSnapshot } from "node:v8"
// Through the package, as the CLI's controller command imports it.
import { startController } from "@tcr-assistant/controller/reconciler"

// Either a kubeconfig, or `in-cluster:<dir>`: a mounted service account, as a pod authenticates (which never loads
// @kubernetes/client-node).
const connection = process.argv[2]
const concurrency = Number(process.argv[3] ?? "16")
if (connection === undefined || process.send === undefined) {
  console.error("usage: run by bench/convergence.ts with an IPC channel: controller-worker.ts <kubeconfig | in-cluster:dir> [concurrency]")
  process.exit(2)
}
const clientOptions = connection.startsWith("in-cluster:")
  ? { serviceAccountDir: connection.slice("in-cluster:".length), connections: concurrency }
  : { kubeconfig: connection, connections: concurrency }
const processStartedAt = Date.now() - Math.round(process.uptime() * 1000)

// A clean exit on SIGTERM lets --cpu-prof write its profile.
process.on("SIGTERM", () => process.exit(0))

/**
 * With --alloc-profile (BENCH_ALLOC_PROFILE=1): V8's sampling heap profiler from the start, keeping the objects the GC
 * has collected as well, so the profile shows where bytes are allocated rather than what is still alive.
 */
const allocationProfiler = process.env.BENCH_ALLOC_PROFILE === "1"
  ? await (async () => {
    const session = new Session()
    session.connect()
    const sampling = { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }
    await session.post("HeapProfiler.startSampling", sampling)
    return session
  })()
  : undefined

/** Live heap after a full collection (the bench starts this worker with --expose-gc), in MiB. */
const liveHeap = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().heapUsed / 1024 / 1024
}
/** What a copy of these objects costs on the heap: an estimate of what a cache of them holds, in MiB. */
const costOf = (objects: ReadonlyArray<unknown>) => {
  const before = liveHeap()
  const copy = structuredClone(objects)
  const after = liveHeap()
  return copy.length >= 0 ? after - before : 0
}
const baselineHeap = liveHeap()

/**
 * The event loop's delay and the GC's pauses since the last time they were asked for ("loop"): what a request
 * arriving meanwhile waited behind.
 */
const loopDelay = monitorEventLoopDelay({ resolution: 1 })
loopDelay.enable()
const gcKinds: Record<number, string> = { 1: "scavenge", 2: "mark-compact", 4: "incremental", 8: "weak callbacks" }
let gcPauses: Array<{ readonly millis: number; readonly kind: string }> = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcPauses.push({ millis: entry.duration, kind: gcKinds[((entry as { detail?: { kind?: number } }).detail?.kind) ?? 0] ?? "other" })
  }
}).observe({ entryTypes: ["gc"] })
const loopFigures = () => {
  const longest = gcPauses.reduce((max, pause) => (pause.millis > max.millis ? pause : max), { millis: 0, kind: "none" })
  const figures = {
    delayP50Millis: loopDelay.percentile(50) / 1e6,
    delayP99Millis: loopDelay.percentile(99) / 1e6,
    delayMaxMillis: loopDelay.max / 1e6,
    gcCount: gcPauses.length,
    gcTotalMillis: gcPauses.reduce((sum, pause) => sum + pause.millis, 0),
    gcMaxMillis: longest.millis,
    gcMaxKind: longest.kind
  }
  loopDelay.reset()
  gcPauses = []
  return figures
}

await Effect.runPromise(
  Effect.gen(function*() {
    const controller = yield* startController({ concurrency })
    const client = yield* KubeClient
    yield* Effect.forEach(controller.informers, (informer) => informer.awaitSynced, { discard: true })
    const syncedAt = yield* Clock.currentTimeMillis
    const syncedHeap = liveHeap()
    process.on("message", async (message: { id: number; ask: "state" | "memory" | "snapshot" | "loop" | "allocations" }) => {
      const allocations = message.ask === "allocations" && allocationProfiler !== undefined
        ? await allocationProfiler.post("HeapProfiler.stopSampling").then(({ profile }) => {
          const file = join(process.env.BENCH_OUTPUT_DIR ?? ".", `controller-${process.pid}.heapprofile`)
          writeFileSync(file, JSON.stringify(profile))
          return file
        })
        : undefined
      const counts = client.requestCounts()
      process.send!({
        id: message.id,
        // Quiescent, and no target waiting out a backoff (the queue's idle leaves those out).
        quiescent: controller.quiescent() && controller.pendingRetries() === 0,
        requests: counts,
        machines: controller.machineCount(),
        startup: { processStartedAt, syncedAt },
        ...(message.ask === "loop" ? { loop: loopFigures() } : {}),
        ...(allocations !== undefined ? { allocations } : {}),
        ...(message.ask === "memory"
          ? {
            memory: {
              usage: process.memoryUsage(),
              baselineHeapMiB: baselineHeap,
              syncedHeapMiB: syncedHeap,
              liveHeapMiB: liveHeap(),
              caches: Object.fromEntries(controller.informers.map((informer) => [informer.name, { objects: informer.size(), mib: costOf([...informer.values()]) }]))
            }
          }
          : {}),
        // Into the directory the benchmark was started from: the compiled app's directory is scratch.
        ...(message.ask === "snapshot"
          ? { snapshot: writeHeapSnapshot(join(process.env.BENCH_OUTPUT_DIR ?? ".", `controller-${process.pid}.heapsnapshot`)) }
          : {})
      })
    })
    process.send!({ id: 0, ready: true })
    yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(
      EventRecorder.layer({ component: "tcr-assistant-controller" }).pipe(Layer.provideMerge(KubeClient.layer(clientOptions)))
    ),
    Effect.provideService(
      // Warnings about transient failures are expected under load; the benchmark prints figures only.
      References.MinimumLogLevel,
      "Error"
    )
  )
)
