// A micro-benchmark of one target machine step (`stepTarget`): prints the mean cost per step over a reconcile-like
// cycle of events (plan an apply, succeed, plan in sync, re-plan). A script that prints figures, not a test.
import { stepTarget, initialTarget, type TargetEvent } from "../src/target-machine.ts"

const command = { _tag: "CreateSecret", namespace: "ns", body: {} } as const
const cycle: ReadonlyArray<TargetEvent> = [
  { type: "RECONCILING", now: 1 },
  { type: "PLANNED", plan: { _tag: "Apply", command }, basis: "1/1", now: 1 },
  { type: "SUCCEEDED", now: 2 },
  { type: "PLANNED", plan: { _tag: "InSync" }, basis: "1/2", now: 2 },
  { type: "RECONCILING", now: 3 },
  { type: "PLANNED", plan: { _tag: "InSync" }, basis: "1/2", now: 3 }
]

const run = (steps: number) => {
  let snapshot = initialTarget()
  for (let i = 0; i < steps; i++) [snapshot] = stepTarget(snapshot, cycle[i % cycle.length]!)
  return snapshot
}

run(60_000)
const steps = 300_000
const started = performance.now()
run(steps)
const elapsed = performance.now() - started
console.log(`target machine step: ${((elapsed * 1000) / steps).toFixed(2)} µs/step (${steps} steps in ${elapsed.toFixed(0)} ms)`)
