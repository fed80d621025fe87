// The real controller running against the in-memory apiserver on Effect's TestClock, and a way to wait until both
// have nothing left to do: the shared harness of the controller property tests. The controller's clock moves only
// when the harness moves it: a status interval per turn, and whole seconds while an informer waits out a backoff,
// so no test waits for real time to pass. Its randomness (jitter, watch timeouts) is seeded, the same in every run,
// so a scenario replayed from fast-check's seed meets the same delays.
import { type Controller, type ControllerOptions, startController } from "@tcr-assistant/controller/reconciler"
import { type EventInput, EventRecorder } from "@tcr-assistant/kube/events"
import { makeMemoryCluster, type MemoryCluster, type MemoryClusterOptions } from "@tcr-assistant/testkit/memory-cluster"
import { Clock, Effect, Fiber, Logger, type LogLevel, Random } from "effect"
import { TestClock } from "effect/testing"

export const imagePullSecretsPath = "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets"

/** An ImagePullSecret as a user creates it: inline credentials, and the selection given. */
export const imagePullSecretBody = (name: string, selection: Record<string, unknown>) => ({
  apiVersion: "tcr.tencentcloudcr.com/v1",
  kind: "ImagePullSecret",
  metadata: { name },
  spec: { ...selection, docker: { server: "r.example.com", username: "u", password: "p" } }
})

export interface Harness {
  readonly cluster: MemoryCluster
  readonly controller: Controller
  /** Errors the controller logged (a defect in a reconcile is logged, not thrown). */
  readonly errors: ReadonlyArray<string>
  /** Events the controller recorded, in order. */
  readonly events: ReadonlyArray<EventInput>
  /** Wait until the controller and the cluster are quiescent; backoffs and conflict re-checks are fired early. */
  readonly settle: () => Promise<void>
  /** Let the controller's fibers run for `turns` macrotasks, its clock moving one status interval in each. */
  readonly breathe: (turns: number) => Promise<void>
  /** Move the controller's clock forward at once, e.g. to a delayed re-check (`settle` fires those early). */
  readonly advance: (millis: number) => Promise<void>
  readonly stop: () => Promise<void>
}

const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 1))

const severe = new Set<LogLevel.LogLevel>(["Error", "Fatal"])

export const startHarness = async (
  clusterOptions: MemoryClusterOptions = {},
  controllerOptions: ControllerOptions = {}
): Promise<Harness> => {
  const cluster = makeMemoryCluster(clusterOptions)
  const errors: Array<string> = []
  const events: Array<EventInput> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message, cause }) => {
    if (severe.has(logLevel)) errors.push(`${String(message)} ${String(cause)}`)
  })
  const statusIntervalMillis = controllerOptions.statusIntervalMillis ?? 2
  let resolveStarted: (started: { controller: Controller; advance: (millis: number) => Promise<void> }) => void = () => {}
  const started = new Promise<{ controller: Controller; advance: (millis: number) => Promise<void> }>((resolve) => (resolveStarted = resolve))
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      const clock = yield* TestClock.make()
      yield* clock.setTime(Date.now())
      const controller = yield* startController({ statusIntervalMillis, ...controllerOptions }).pipe(
        Effect.provideService(Clock.Clock, clock),
        Random.withSeed("controller-harness")
      )
      resolveStarted({ controller, advance: (millis) => Effect.runPromise(clock.adjust(millis)) })
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provide(cluster.layer), Effect.provide(EventRecorder.layerMemory(events)), Effect.provide(Logger.layer([logger])))
  )
  const { controller, advance } = await started

  /** One macrotask for the fibers, and one status interval on the controller's clock. */
  const turn = async () => {
    await macrotask()
    await advance(statusIntervalMillis)
  }
  const breathe = async (turns: number) => {
    for (let i = 0; i < turns; i++) await turn()
  }

  const quietNow = () =>
    controller.quiescent() &&
    cluster.idle() &&
    controller.informers.every((informer) => informer.health().synced && informer.health().watching)
  const signature = () => `${cluster.resourceVersion()}/${cluster.requestCounts().total}`

  const diagnosis = () =>
    JSON.stringify({
      quiescent: controller.quiescent(),
      queueDepth: controller.queueDepth(),
      clusterIdle: cluster.idle(),
      pendingWatchEvents: cluster.pendingWatchEvents(),
      informers: controller.informers.map((informer) => ({ name: informer.name, ...informer.health() })),
      requests: cluster.requestCounts(),
      resourceVersion: cluster.resourceVersion()
    })

  /** Quiet, with no request and no write, over several consecutive macrotasks. */
  const quiet = async () => {
    let stable = 0
    let last = signature()
    const requestsBefore = cluster.requestCounts().total
    while (stable < 4) {
      await turn()
      // Nothing to do but an informer waiting out its backoff: let its time pass at once.
      if (controller.quiescent() && cluster.idle() && !controller.informers.every((informer) => informer.health().watching)) {
        await advance(1_000)
      }
      const now = signature()
      stable = quietNow() && now === last ? stable + 1 : 0
      last = now
      // A controller that hammers the apiserver without settling is a failure in itself. (One that waits, e.g. an
      // informer backing off before it watches again, is waited for: the test runner's timeout is the backstop.)
      if (cluster.requestCounts().total - requestsBefore > 5_000) {
        throw new Error(`the controller keeps sending requests without settling: ${diagnosis()}`)
      }
    }
  }

  const settle = async () => {
    for (let round = 0; ; round++) {
      await quiet()
      // A silent watch times out eventually; let it happen now.
      if (cluster.expireWatches((watch) => watch.silent) > 0) continue
      if (controller.pendingRetries() === 0) return
      const writes = cluster.mutations()
      controller.retryNow()
      await quiet()
      // Retries that write nothing are conflicts re-checking someone else's object: that is a fixed point.
      if (cluster.mutations() === writes && cluster.watches().every((watch) => !watch.silent)) return
      if (round > 1_000) throw new Error("the controller keeps retrying without converging")
    }
  }

  return {
    cluster,
    controller,
    errors,
    events,
    settle,
    breathe,
    advance,
    stop: async () => {
      await Effect.runPromise(Fiber.interrupt(fiber))
      cluster.dispose()
    }
  }
}
