// The target machine on its own: every transition of every state, the backoff it asks for, and, over random event
// sequences, agreement with a small reference model of the lifecycle.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { transition } from "xstate"
import type { Command, Plan } from "../src/plan.ts"
import {
  backoffBaseMillis,
  backoffCapMillis,
  backoffMillis,
  failedRecheckMillis,
  initialTarget,
  machineStep,
  stepTarget,
  targetMachine,
  type TargetAction,
  type TargetEvent,
  type TargetSnapshot,
  type TargetState,
  targetState
} from "../src/target-machine.ts"

const create: Command = { _tag: "CreateSecret", namespace: "ns", body: {} }
const remove: Command = { _tag: "DeleteSecret", namespace: "ns", name: "s", uid: "u", resourceVersion: "1" }

const plans = {
  InSync: { _tag: "InSync" },
  Gone: { _tag: "Gone" },
  Wait: { _tag: "Wait", reason: "WaitingForSecret", message: "waiting" },
  Skip: { _tag: "Skip", reason: "NamespaceTerminating", message: "terminating" },
  Conflict: { _tag: "Conflict", reason: "SecretNotOwned", message: "not ours" },
  Apply: { _tag: "Apply", command: create },
  Remove: { _tag: "Remove", command: remove }
} satisfies Record<Plan["_tag"], Plan>

const planned = (plan: Plan, now = 1_000, basis = "1/10"): TargetEvent => ({ type: "PLANNED", plan, basis, now })
const succeeded: TargetEvent = { type: "SUCCEEDED", now: 2_000 }
const stale: TargetEvent = { type: "STALE", now: 3_000 }
const failed: TargetEvent = { type: "FAILED", retryable: true, reason: "KubeUnavailable", message: "apiserver down", now: 4_000 }
const refused: TargetEvent = { type: "FAILED", retryable: false, reason: "Forbidden", message: "secrets is forbidden", now: 4_500 }
const terminating: TargetEvent = { type: "NAMESPACE_TERMINATING", now: 5_000 }
const reconciling: TargetEvent = { type: "RECONCILING", now: 6_000 }

const run = (events: ReadonlyArray<TargetEvent>, from: TargetSnapshot = initialTarget()) => {
  let snapshot = from
  let actions: ReadonlyArray<TargetAction> = []
  for (const event of events) [snapshot, actions] = stepTarget(snapshot, event)
  return { snapshot, actions, state: targetState(snapshot) }
}

/** One way into each state from the initial one. */
const reach: Record<TargetState, ReadonlyArray<TargetEvent>> = {
  Pending: [],
  Ready: [planned(plans.InSync)],
  Removed: [planned(plans.Gone)],
  Skipped: [planned(plans.Skip)],
  Conflict: [planned(plans.Conflict)],
  Applying: [planned(plans.Apply)],
  Removing: [planned(plans.Remove)],
  BackingOff: [planned(plans.Apply), failed],
  // Refused on another basis than the plans below are made on: those are changes it waits for.
  Failed: [planned(plans.Apply, 1_000, "1/9"), refused]
}
const idleStates: ReadonlyArray<TargetState> = ["Pending", "Ready", "Skipped", "Conflict", "BackingOff", "Failed"]
const inFlightStates: ReadonlyArray<TargetState> = ["Applying", "Removing"]

describe("the initial state", () => {
  test("is Pending with no attempts and no note", () => {
    const snapshot = initialTarget()
    expect(targetState(snapshot)).toBe("Pending")
    expect(snapshot.context).toMatchObject({ attempts: 0, reason: undefined, message: undefined })
  })
})

describe("a plan, in any state without a request in flight", () => {
  for (const from of idleStates) {
    test(`from ${from}: InSync is Ready, the note cleared and attempts reset`, () => {
      const { state, actions, snapshot } = run([...reach[from], planned(plans.InSync, 9_000)])
      expect(state).toBe("Ready")
      expect(actions).toEqual([])
      // `since` moves only when the visible state changes: staying Ready keeps the time it became Ready.
      const before = run(reach[from]).snapshot.context.since
      expect(snapshot.context).toMatchObject({ attempts: 0, reason: undefined, message: undefined, since: from === "Ready" ? before : 9_000 })
    })

    test(`from ${from}: Gone is Removed, without a request`, () => {
      const { state, actions, snapshot } = run([...reach[from], planned(plans.Gone)])
      expect(state).toBe("Removed")
      expect(actions).toEqual([])
      expect(snapshot.context.reason).toBeUndefined()
    })

    test(`from ${from}: Wait is Pending with the plan's reason`, () => {
      const { state, actions, snapshot } = run([...reach[from], planned(plans.Wait)])
      expect(state).toBe("Pending")
      expect(actions).toEqual([])
      expect(snapshot.context).toMatchObject({ reason: "WaitingForSecret", message: "waiting" })
    })

    test(`from ${from}: Skip is Skipped with the plan's reason`, () => {
      const { state, actions, snapshot } = run([...reach[from], planned(plans.Skip)])
      expect(state).toBe("Skipped")
      expect(actions).toEqual([])
      expect(snapshot.context).toMatchObject({ reason: "NamespaceTerminating" })
    })

    test(`from ${from}: Conflict is Conflict, looked at again only after the backoff cap`, () => {
      const { state, actions, snapshot } = run([...reach[from], planned(plans.Conflict)])
      expect(state).toBe("Conflict")
      expect(actions).toEqual([{ type: "retryAfter", millis: backoffCapMillis }])
      expect(snapshot.context).toMatchObject({ reason: "SecretNotOwned", message: "not ours" })
    })

    test(`from ${from}: Apply is Applying and executes exactly the planned command`, () => {
      const { state, actions, snapshot } = run([...reach[from], planned(plans.Apply)])
      expect(state).toBe("Applying")
      expect(actions).toEqual([{ type: "execute", command: create }])
      expect(snapshot.context.reason).toBeUndefined()
    })

    test(`from ${from}: Remove is Removing and executes exactly the planned command`, () => {
      const { state, actions } = run([...reach[from], planned(plans.Remove)])
      expect(state).toBe("Removing")
      expect(actions).toEqual([{ type: "execute", command: remove }])
    })

    test(`from ${from}: an outcome without a request in flight changes nothing`, () => {
      for (const outcome of [succeeded, stale, failed, terminating]) {
        const before = run(reach[from])
        const after = run([outcome], before.snapshot)
        expect(after.state).toBe(from)
        expect(after.actions).toEqual([])
        expect(after.snapshot.context).toEqual(before.snapshot.context)
      }
    })
  }
})

describe("a request refused for good (403 Forbidden, 422 Invalid)", () => {
  for (const from of inFlightStates) {
    test(`${from}: is Failed, noting why, with only the slow re-check`, () => {
      const { state, actions, snapshot } = run([...reach[from], refused])
      expect(state).toBe("Failed")
      expect(actions).toEqual([{ type: "retryAfter", millis: failedRecheckMillis }])
      expect(snapshot.context).toMatchObject({ attempts: 1, reason: "Forbidden", message: "secrets is forbidden", since: 4_500 })
    })
  }

  test("the same request planned from the same observation is not sent again before the re-check is due", () => {
    for (const plan of [plans.Apply, plans.Remove]) {
      const { state, actions, snapshot } = run([planned(plans.Apply), refused, planned(plan, 7_000)])
      expect(state).toBe("Failed")
      // It asks for the re-check again (the queue keeps the earliest), and the time of the refusal stays.
      expect(actions).toEqual([{ type: "retryAfter", millis: failedRecheckMillis }])
      expect(snapshot.context.since).toBe(4_500)
    }
  })

  test("the re-check sends it again once due: the earliest a jittered delay brings it back", () => {
    const due = 4_500 + failedRecheckMillis / 2
    expect(run([planned(plans.Apply), refused, planned(plans.Apply, due - 1)]).state).toBe("Failed")
    const { state, actions } = run([planned(plans.Apply), refused, planned(plans.Apply, due)])
    expect(state).toBe("Applying")
    expect(actions).toEqual([{ type: "execute", command: create }])
  })

  test("a new spec generation or a changed target object sends it again", () => {
    for (const basis of ["2/10", "1/11"]) {
      const { state, actions } = run([planned(plans.Apply), refused, planned(plans.Apply, 7_000, basis)])
      expect(state).toBe("Applying")
      expect(actions).toEqual([{ type: "execute", command: create }])
    }
  })
})

describe("Removed", () => {
  test("is final: the registry forgets the target, and the machine takes no further event", () => {
    const removed = run(reach.Removed)
    expect(removed.snapshot.status).toBe("done")
    for (const event of [planned(plans.Apply), planned(plans.InSync), succeeded, failed, reconciling]) {
      const after = run([event], removed.snapshot)
      expect(after.state).toBe("Removed")
      expect(after.actions).toEqual([])
    }
  })
})

describe("the start of a reconcile", () => {
  test("in Conflict asks for a fresh read of the object, and changes nothing else", () => {
    const before = run(reach.Conflict)
    const after = run([reconciling], before.snapshot)
    expect(after.state).toBe("Conflict")
    expect(after.actions).toEqual([{ type: "refresh" }])
    expect(after.snapshot.context).toEqual(before.snapshot.context)
  })

  for (const from of [...idleStates, ...inFlightStates].filter((state) => state !== "Conflict")) {
    test(`in ${from} asks for nothing`, () => {
      const before = run(reach[from])
      const after = run([reconciling], before.snapshot)
      expect(after.state).toBe(from)
      expect(after.actions).toEqual([])
      expect(after.snapshot.context).toEqual(before.snapshot.context)
    })
  }
})

describe("a request in flight", () => {
  for (const from of inFlightStates) {
    test(`${from} ignores new plans: at most one request per target`, () => {
      for (const plan of Object.values(plans)) {
        const { state, actions } = run([...reach[from], planned(plan)])
        expect(state).toBe(from)
        expect(actions).toEqual([])
      }
    })

    test(`${from}: success is Pending, to be planned again, with attempts reset`, () => {
      const { state, actions, snapshot } = run([...reach[from], failed, planned(from === "Applying" ? plans.Apply : plans.Remove), succeeded])
      expect(state).toBe("Pending")
      expect(actions).toEqual([])
      expect(snapshot.context.attempts).toBe(0)
    })

    test(`${from}: a lost race is Pending and asks for a fresh read`, () => {
      const { state, actions } = run([...reach[from], stale])
      expect(state).toBe("Pending")
      expect(actions).toEqual([{ type: "refresh" }])
    })

    test(`${from}: a namespace being deleted is Skipped, attempts reset, until the namespace is gone`, () => {
      const { state, actions, snapshot } = run([...reach[from], failed, planned(from === "Applying" ? plans.Apply : plans.Remove), terminating])
      expect(state).toBe("Skipped")
      expect(actions).toEqual([])
      expect(snapshot.context).toMatchObject({
        attempts: 0,
        reason: "NamespaceTerminating",
        message: "the namespace is being deleted",
        since: 5_000
      })
    })

    test(`${from}: a failure backs off, counting the attempt and noting why`, () => {
      const { state, actions, snapshot } = run([...reach[from], failed])
      expect(state).toBe("BackingOff")
      expect(actions).toEqual([{ type: "retryAfter", millis: backoffBaseMillis }])
      expect(snapshot.context).toMatchObject({ attempts: 1, reason: "KubeUnavailable", message: "apiserver down", since: 4_000 })
    })
  }
})

describe("backoff", () => {
  test("doubles with each consecutive failure up to the cap, and starts over after a success", () => {
    let snapshot = initialTarget()
    const delays: Array<number> = []
    for (let attempt = 0; attempt < 10; attempt++) {
      const result = run([planned(plans.Apply), failed], snapshot)
      snapshot = result.snapshot
      const retry = result.actions.find((action) => action.type === "retryAfter")
      delays.push(retry?.type === "retryAfter" ? retry.millis : -1)
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
    const again = run([planned(plans.Apply), succeeded, planned(plans.Apply), failed], snapshot)
    expect(again.actions).toEqual([{ type: "retryAfter", millis: backoffBaseMillis }])
  })

  test.prop([fc.integer({ min: 0, max: 1_000 })])("is positive, monotone and capped", (attempts) => {
    expect(backoffMillis(attempts)).toBeGreaterThan(0)
    expect(backoffMillis(attempts)).toBeLessThanOrEqual(backoffCapMillis)
    expect(backoffMillis(attempts + 1)).toBeGreaterThanOrEqual(backoffMillis(attempts))
  })
})

// --- the lifecycle against a reference model ---------------------------------------------------------------------------

const anyPlan = fc.constantFrom<Plan>(...Object.values(plans))
const anyEvent: fc.Arbitrary<TargetEvent> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant("PLANNED" as const), plan: anyPlan, basis: fc.constantFrom("1/1", "1/2", "2/2"), now: fc.nat() }) },
  fc.record({ type: fc.constant("SUCCEEDED" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("STALE" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("FAILED" as const), retryable: fc.boolean(), reason: fc.string(), message: fc.string(), now: fc.nat() }),
  fc.record({ type: fc.constant("NAMESPACE_TERMINATING" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("RECONCILING" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("POSTPONED" as const), now: fc.nat() })
)

interface Reference {
  readonly state: TargetState
  readonly attempts: number
  /** What the request in flight, or the one refused, was planned from. */
  readonly basis?: string | undefined
  /** When the request was refused for good. */
  readonly refusedAt?: number | undefined
}

const planTarget: Record<Plan["_tag"], TargetState> = {
  InSync: "Ready",
  Gone: "Removed",
  Wait: "Pending",
  Skip: "Skipped",
  Conflict: "Conflict",
  Apply: "Applying",
  Remove: "Removing"
}

/** The lifecycle in a dozen lines: what the machine must do, with none of xstate. */
const referenceStep = (model: Reference, event: TargetEvent): readonly [Reference, ReadonlyArray<TargetAction>] => {
  const inFlight = model.state === "Applying" || model.state === "Removing"
  if (model.state === "Removed") return [model, []]
  switch (event.type) {
    case "RECONCILING":
      return [model, model.state === "Conflict" ? [{ type: "refresh" }] : []]
    case "PLANNED": {
      if (inFlight) return [model, []]
      const request = event.plan._tag === "Apply" || event.plan._tag === "Remove"
      if (model.state === "Failed" && request && event.basis === model.basis && event.now - model.refusedAt! < failedRecheckMillis / 2) {
        return [model, [{ type: "retryAfter", millis: failedRecheckMillis }]]
      }
      const state = planTarget[event.plan._tag]
      const attempts = event.plan._tag === "InSync" ? 0 : model.attempts
      const actions: Array<TargetAction> = []
      if (event.plan._tag === "Apply" || event.plan._tag === "Remove") actions.push({ type: "execute", command: event.plan.command })
      if (event.plan._tag === "Conflict") actions.push({ type: "retryAfter", millis: backoffCapMillis })
      return [{ state, attempts, basis: request ? event.basis : model.basis }, actions]
    }
    case "SUCCEEDED":
      return inFlight ? [{ ...model, state: "Pending", attempts: 0 }, []] : [model, []]
    case "STALE":
      return inFlight ? [{ ...model, state: "Pending" }, [{ type: "refresh" }]] : [model, []]
    case "FAILED":
      if (!inFlight) return [model, []]
      return event.retryable
        ? [{ ...model, state: "BackingOff", attempts: model.attempts + 1 }, [{ type: "retryAfter", millis: backoffMillis(model.attempts + 1) }]]
        : [{ ...model, state: "Failed", attempts: model.attempts + 1, refusedAt: event.now }, [{ type: "retryAfter", millis: failedRecheckMillis }]]
    case "NAMESPACE_TERMINATING":
      return inFlight ? [{ ...model, state: "Skipped", attempts: 0 }, []] : [model, []]
    case "POSTPONED":
      return inFlight ? [{ ...model, state: "Pending" }, []] : [model, []]
  }
}

test.prop([fc.array(anyEvent, { maxLength: 60 })])("follows the reference lifecycle on every event sequence", (events) => {
  let snapshot = initialTarget()
  let model: Reference = { state: "Pending", attempts: 0 }
  for (const event of events) {
    const [next, actions] = stepTarget(snapshot, event)
    const [expected, expectedActions] = referenceStep(model, event)
    expect(targetState(next)).toBe(expected.state)
    expect(next.context.attempts).toBe(expected.attempts)
    expect(actions).toEqual(expectedActions)
    // One request at a time: an execute only ever leaves a state with none in flight.
    if (actions.some((action) => action.type === "execute")) expect(["Applying", "Removing"]).toContain(targetState(next))
    snapshot = next
    model = expected
  }
})

test.prop([fc.array(anyEvent, { maxLength: 30 })])("never mutates a snapshot it was given", (events) => {
  let snapshot = initialTarget()
  for (const event of events) {
    const before = structuredClone({ value: snapshot.value, context: snapshot.context })
    const [next] = stepTarget(snapshot, event)
    expect({ value: snapshot.value, context: snapshot.context }).toEqual(before)
    snapshot = next
  }
})

test.prop([fc.array(anyEvent, { maxLength: 60 })])("steps through its shared scope exactly as xstate's pure transition does", (events) => {
  let snapshot = initialTarget()
  for (const event of events) {
    if (snapshot.status === "done" || !snapshot.can(event)) continue
    const [ours, markers] = machineStep(snapshot, event)
    const [theirs, actions] = transition(targetMachine, snapshot, event)
    expect({ value: ours.value, status: ours.status, context: ours.context }).toEqual({ value: theirs.value, status: theirs.status, context: theirs.context })
    expect(markers.map(({ type, params }) => ({ type, params }))).toEqual(actions.map(({ type, params }) => ({ type, params })))
    snapshot = stepTarget(snapshot, event)[0]
  }
})
