// Runs the controller in its own process for the benchmark, so its memory is measured alone. Answers the
// parent's questions over the IPC channel: is it quiescent, and how many requests has it made.
import { KubeClient } from "@tcr-assistant/kube"
import { EventRecorder } from "@tcr-assistant/kube/events"
import { Effect, Layer, References } from "effect"
import { startController } from "../src/reconciler.ts"

const kubeconfig = process.argv[2]
const concurrency = Number(process.argv[3] ?? "16")
if (kubeconfig === undefined || process.send === undefined) {
  console.error("usage: run by bench/convergence.ts with an IPC channel: controller-worker.ts <kubeconfig> [concurrency]")
  process.exit(2)
}

// A clean exit on SIGTERM lets --cpu-prof write its profile.
process.on("SIGTERM", () => process.exit(0))

await Effect.runPromise(
  Effect.gen(function*() {
    const controller = yield* startController({ concurrency })
    const client = yield* KubeClient
    process.on("message", (message: { id: number; ask: "state" | "memory" }) => {
      process.send!({
        id: message.id,
        quiescent: controller.quiescent(),
        requests: client.requestCounts(),
        machines: controller.machineCount(),
        ...(message.ask === "memory" ? { memory: process.memoryUsage() } : {})
      })
    })
    process.send!({ id: 0, ready: true })
    yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(
      EventRecorder.layer({ component: "tcr-assistant-controller" }).pipe(Layer.provideMerge(KubeClient.layer({ kubeconfig, connections: concurrency })))
    ),
    Effect.provideService(
      // Warnings about transient failures are expected under load; the benchmark prints figures only.
      References.MinimumLogLevel,
      "Error"
    )
  )
)
