// stepTarget reuses one inert actor scope for speed; it must agree with xstate's own pure `transition`, except that
// it keeps `since` (when the visible state last changed) across steps that change neither state nor reason.
import { fc, test } from "@fast-check/vitest"
import { expect } from "vitest"
import { transition } from "xstate"
import type { Plan } from "../src/plan.ts"
import { initialTarget, stepTarget, targetMachine, type TargetEvent, targetState } from "../src/target-machine.ts"

const command = { _tag: "CreateSecret", namespace: "ns", body: {} } as const
const plan: fc.Arbitrary<Plan> = fc.constantFrom<Plan>(
  { _tag: "InSync" },
  { _tag: "Gone" },
  { _tag: "Wait", reason: "W", message: "w" },
  { _tag: "Skip", reason: "S", message: "s" },
  { _tag: "Conflict", reason: "C", message: "c" },
  { _tag: "Apply", command },
  { _tag: "Remove", command }
)
const event: fc.Arbitrary<TargetEvent> = fc.oneof(
  fc.record({ type: fc.constant("PLANNED" as const), plan, now: fc.nat() }),
  fc.record({ type: fc.constant("SUCCEEDED" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("STALE" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("FAILED" as const), retryable: fc.boolean(), reason: fc.string(), message: fc.string(), now: fc.nat() }),
  fc.record({ type: fc.constant("NAMESPACE_TERMINATING" as const), now: fc.nat() }),
  fc.record({ type: fc.constant("RECONCILING" as const), now: fc.nat() })
)

test.prop([fc.array(event, { maxLength: 30 })])("stepTarget agrees with xstate's transition on every sequence", (events) => {
  let ours = initialTarget()
  let theirs = initialTarget()
  for (const next of events) {
    const [ourNext, ourActions] = stepTarget(ours, next)
    const [theirNext, theirActions] = transition(targetMachine, theirs, next)
    expect(ourNext.value).toEqual(theirNext.value)
    const { since: ourSince, ...ourRest } = ourNext.context
    const { since: theirSince, ...theirRest } = theirNext.context
    expect(ourRest).toEqual(theirRest)
    const unchanged = targetState(ourNext) === targetState(ours) && ourNext.context.reason === ours.context.reason &&
      ourNext.context.message === ours.context.message
    expect(ourSince).toBe(unchanged ? ours.context.since : theirSince)
    // stepTarget translates the markers into work for the interpreter (retryLater is a retryAfter of the cap).
    const markers = theirActions
      .map((action) => action.type)
      .filter((type) => ["execute", "refresh", "retryAfter", "retryLater"].includes(type))
      .map((type) => (type === "retryLater" ? "retryAfter" : type))
    expect(ourActions.map((action) => action.type)).toEqual(markers)
    ours = ourNext
    theirs = theirNext
  }
})
