// Transition tests generated from the target machine by xstate's graph utilities: every state the machine declares
// is reachable, and on every edge of its adjacency map the step the interpreter takes (`stepTarget`) lands where the
// machine's own traversal does and asks for exactly the work that edge implies.
import { describe, expect, test } from "vitest"
import { getAdjacencyMap, getShortestPaths } from "xstate/graph"
import type { Plan } from "../src/plan.ts"
import { backoffCapMillis, failedRecheckMillis, initialTarget, stepTarget, targetMachine, type TargetEvent, type TargetSnapshot, targetState } from "../src/target-machine.ts"

const create = { _tag: "CreateSecret", namespace: "ns", body: {} } as const
const plans: ReadonlyArray<Plan> = [
  { _tag: "InSync" },
  { _tag: "Gone" },
  { _tag: "Wait", reason: "WaitingForSecret", message: "waiting" },
  { _tag: "Skip", reason: "NamespaceTerminating", message: "terminating" },
  { _tag: "Conflict", reason: "SecretNotOwned", message: "not ours" },
  { _tag: "Apply", command: create },
  { _tag: "Remove", command: { _tag: "DeleteSecret", namespace: "ns", name: "s", uid: "u", resourceVersion: "1" } }
]
// Two bases: the same observation again, and a changed one. `now` is fixed so that the state space stays finite.
const events: ReadonlyArray<TargetEvent> = [
  ...plans.flatMap((plan) => ["1/1", "2/1"].map((basis): TargetEvent => ({ type: "PLANNED", plan, basis, now: 0 }))),
  { type: "RECONCILING", now: 0 },
  { type: "SUCCEEDED", now: 0 },
  { type: "STALE", now: 0 },
  { type: "FAILED", retryable: true, reason: "KubeUnavailable", message: "down", now: 0 },
  { type: "FAILED", retryable: false, reason: "Forbidden", message: "forbidden", now: 0 },
  { type: "NAMESPACE_TERMINATING", now: 0 },
  { type: "POSTPONED", now: 0 }
]
// Attempts only feed the backoff delay: "has failed" is enough to tell states apart, and keeps the graph finite.
const serializeState = (snapshot: TargetSnapshot) =>
  JSON.stringify({
    state: targetState(snapshot),
    done: snapshot.status,
    reason: snapshot.context.reason,
    basis: snapshot.context.basis,
    failed: snapshot.context.attempts > 0
  })
// Removed is final: an actor takes no event after it, so neither does the traversal.
const traversal = { events, serializeState, fromState: initialTarget(), stopWhen: (snapshot: TargetSnapshot) => snapshot.status === "done" }

const declaredStates = ["Pending", "Ready", "Skipped", "Conflict", "BackingOff", "Failed", "Removed", "Applying", "Removing"]

describe("generated from the machine", () => {
  test("every declared state is reachable from the initial one", () => {
    const reached = new Set(getShortestPaths(targetMachine, traversal).map((path) => targetState(path.state)))
    expect([...reached].sort()).toEqual([...declaredStates].sort())
  })

  test("on every edge, stepTarget lands where the machine does and asks for the work the edge implies", () => {
    const adjacency = getAdjacencyMap(targetMachine, traversal)
    let edges = 0
    for (const { state: from, transitions } of Object.values(adjacency)) {
      for (const { event, state: to } of Object.values(transitions) as ReadonlyArray<{ event: TargetEvent; state: TargetSnapshot }>) {
        edges++
        const [next, work] = stepTarget(from, event)
        const fromState = targetState(from)
        expect(targetState(next)).toBe(targetState(to))
        expect(next.context.reason).toBe(to.context.reason)
        const busy = fromState === "Applying" || fromState === "Removing"
        const request = event.type === "PLANNED" && (event.plan._tag === "Apply" || event.plan._tag === "Remove")
        // A request is sent exactly when a plan asks for one and none is in flight, unless the same request was
        // refused for good on the same observation.
        const refusedAgain = fromState === "Failed" && event.type === "PLANNED" && event.basis === from.context.basis
        const sends = request && !busy && !refusedAgain
        expect(work.filter((action) => action.type === "execute")).toEqual(
          sends && event.type === "PLANNED" && "command" in event.plan ? [{ type: "execute", command: event.plan.command }] : []
        )
        // Failed asks only for the slow re-check, when the request is refused and when it is planned again before
        // the re-check is due (the clock stands still here); a plan on a new basis moves it.
        if (targetState(next) === "Failed") {
          const refusal = (busy && event.type === "FAILED") || refusedAgain
          expect(work).toEqual(refusal ? [{ type: "retryAfter", millis: failedRecheckMillis }] : [])
        }
        // A postponed request leaves nothing in flight.
        if (event.type === "POSTPONED" && busy) expect([targetState(next), work]).toEqual(["Pending", []])
        if (targetState(next) === "Conflict" && fromState !== "Conflict") {
          expect(work).toContainEqual({ type: "retryAfter", millis: backoffCapMillis })
        }
      }
    }
    expect(edges).toBeGreaterThan(100)
  })
})
