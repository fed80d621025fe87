// Which Events a status write and a target's new state record: Distributed once per generation (not at every write),
// InvalidSpec when the spec newly is, and Warnings for Conflict and Failed only.
import { type EventInput, EventRecorder } from "@tcr-assistant/kube/events"
import { Effect } from "effect"
import { describe, expect, test } from "vitest"
import type { ImagePullSecretObject } from "../src/cluster-cache.ts"
import { makeDistributionEvents } from "../src/distribution-events.ts"

const object = { metadata: { name: "alpha", uid: "uid-1" } } as unknown as ImagePullSecretObject
const status = (reason: string, generation: number) => ({
  conditions: [{ type: "Ready", status: reason === "Distributed" ? "True" : "False", reason, message: `${reason} message`, observedGeneration: generation, lastTransitionTime: "2024-01-01T00:00:00Z" }]
}) as const

const recorded = (run: (events: Effect.Success<ReturnType<typeof makeDistributionEvents>>) => Effect.Effect<void>) => {
  const sink: Array<EventInput> = []
  Effect.runSync(makeDistributionEvents(() => "uid-1").pipe(Effect.flatMap(run), Effect.provide(EventRecorder.layerMemory(sink))))
  return sink.map((event) => `${event.type} ${event.reason}`)
}

describe("status writes", () => {
  test("Distributed is announced once per generation, however often the status is rewritten", () => {
    expect(recorded((events) =>
      Effect.all([
        events.statusWritten(object, undefined, status("Progressing", 1)),
        events.statusWritten(object, status("Progressing", 1), status("Distributed", 1)),
        // A new namespace: progressing again, then distributed again, within the same generation.
        events.statusWritten(object, status("Distributed", 1), status("Progressing", 1)),
        events.statusWritten(object, status("Progressing", 1), status("Distributed", 1)),
        events.statusWritten(object, status("Distributed", 1), status("Distributed", 2))
      ], { discard: true })
    )).toEqual(["Normal Distributed", "Normal Distributed"])
  })

  test("a status already Distributed for this generation (a restart) is not announced again", () => {
    expect(recorded((events) =>
      Effect.all([
        events.statusWritten(object, status("Distributed", 3), status("Progressing", 3)),
        events.statusWritten(object, status("Progressing", 3), status("Distributed", 3))
      ], { discard: true })
    )).toEqual([])
  })

  test("an ImagePullSecret deleted and created again starts its generations over", () => {
    expect(recorded((events) =>
      Effect.gen(function*() {
        yield* events.statusWritten(object, undefined, status("Distributed", 1))
        events.forget("alpha")
        yield* events.statusWritten(object, undefined, status("Distributed", 1))
      })
    )).toEqual(["Normal Distributed", "Normal Distributed"])
  })

  test("InvalidSpec is a Warning when the spec newly is invalid", () => {
    expect(recorded((events) =>
      Effect.all([
        events.statusWritten(object, undefined, status("InvalidSpec", 1)),
        events.statusWritten(object, status("InvalidSpec", 1), status("InvalidSpec", 1)),
        events.statusWritten(object, status("InvalidSpec", 1), status("InvalidSpec", 2))
      ], { discard: true })
    )).toEqual(["Warning InvalidSpec", "Warning InvalidSpec"])
  })
})

describe("target states", () => {
  test("only Conflict and Failed are Warnings", () => {
    const secret = { kind: "Secret", ips: "alpha", namespace: "team" } as const
    expect(recorded((events) =>
      Effect.all([
        events.targetChanged(secret, "Conflict", "SecretNotOwned", "not ours"),
        events.targetChanged(secret, "Failed", "Forbidden", "secrets is forbidden"),
        events.targetChanged(secret, "Ready", undefined, undefined),
        events.targetChanged(secret, "BackingOff", "KubeUnavailable", "down"),
        events.targetChanged(secret, "Pending", "WaitingForSecret", "waiting")
      ], { discard: true })
    )).toEqual(["Warning SecretNotOwned", "Warning Forbidden"])
  })
})
