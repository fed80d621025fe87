// Leader election against an in-memory Lease store under the test clock: one leader at a time, takeover only after
// the lease expired on the candidate's clock, release on a graceful stop, and a leader that cannot renew stops.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { LeaderElector, type LeaderElectionOptions, microTime } from "../src/leader-election.ts"
import { makeFakeApiServer } from "./support/fake-apiserver.ts"

const leasePath = "/apis/coordination.k8s.io/v1/namespaces/tcr-assistant-system/leases/tcr-assistant-controller-manager"
const timings: LeaderElectionOptions = { leaseDurationMillis: 15_000, renewDeadlineMillis: 10_000, retryPeriodMillis: 2_000 }

const electorOn = (fake: ReturnType<typeof makeFakeApiServer>, identity: string, down?: () => boolean) =>
  Effect.service(LeaderElector).pipe(
    Effect.provide(LeaderElector.layer({ ...timings, identity }).pipe(Layer.provide(fake.layer({ down })))),
  )

/** Runs `runAsLeader` in a fiber whose work records when it started and then waits forever. */
const candidate = (elector: LeaderElector["Service"], started: Array<string>) =>
  elector.runAsLeader(Effect.sync(() => started.push(elector.identity)).pipe(Effect.andThen(Effect.never))).pipe(
    Effect.forkChild
  )

const holder = (fake: ReturnType<typeof makeFakeApiServer>) => fake.objects.get(leasePath)?.spec?.holderIdentity

describe("LeaderElector", () => {
  it("writes MicroTime with six fractional digits", () => {
    assert.strictEqual(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), "2024-01-02T03:04:05.678000Z")
  })

  it.effect("creates the lease, keeps a second candidate waiting while it renews", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const a = yield* electorOn(fake, "a")
      const b = yield* electorOn(fake, "b")
      const started: Array<string> = []
      yield* candidate(a, started)
      yield* TestClock.adjust("1 millis")
      yield* candidate(b, started)
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(started, ["a"])
      assert.isTrue(a.isLeader())
      assert.isFalse(b.isLeader())
      assert.strictEqual(b.leader(), "a")
      const lease = fake.objects.get(leasePath)
      assert.strictEqual(lease.spec.holderIdentity, "a")
      assert.strictEqual(lease.spec.leaseDurationSeconds, 15)
      assert.strictEqual(lease.spec.leaseTransitions, 0)
    }))

  it.effect("hands over at once when the leader stops gracefully", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const a = yield* electorOn(fake, "a")
      const b = yield* electorOn(fake, "b")
      const started: Array<string> = []
      const fiberA = yield* candidate(a, started)
      yield* TestClock.adjust("1 millis")
      yield* candidate(b, started)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(fiberA)
      assert.isFalse(a.isLeader())
      assert.strictEqual(holder(fake), "")
      // One retry period (with client-go's jitter) later, b holds it.
      yield* TestClock.adjust("2400 millis")
      assert.deepStrictEqual(started, ["a", "b"])
      assert.isTrue(b.isLeader())
      assert.strictEqual(holder(fake), "b")
      assert.strictEqual(fake.objects.get(leasePath).spec.leaseTransitions, 1)
    }))

  it.effect("a leader cut off from the apiserver stops before anyone else may take over", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      let aDown = false
      const a = yield* electorOn(fake, "a", () => aDown)
      const b = yield* electorOn(fake, "b")
      const started: Array<string> = []
      const fiberA = yield* candidate(a, started)
      yield* TestClock.adjust("1 millis")
      yield* candidate(b, started)
      yield* TestClock.adjust("6 seconds")
      const lastRenew = Date.parse(fake.objects.get(leasePath).spec.renewTime)
      aDown = true
      const cutAt = yield* TestClockNow
      // a gives up within the renew deadline (10 s) of its last renewal...
      yield* TestClock.adjust("10 seconds")
      const exitA = yield* Fiber.await(fiberA)
      assert.isTrue(Exit.isFailure(exitA))
      assert.match(String(Exit.isFailure(exitA) ? exitA.cause : ""), /LeadershipLost/)
      assert.isFalse(a.isLeader())
      assert.deepStrictEqual(started, ["a"])
      // ...and b waits a full lease duration from when it saw the record change last. It looks once per jittered
      // retry period (at most 2.4 s), so it sees the last renewal up to one period late and takes over at its first
      // look after the lease duration has run out: between 15 s and 15 s + 2 periods after the last renewal.
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(started, ["a", "b"])
      const acquiredAt = Date.parse(fake.objects.get(leasePath).spec.acquireTime)
      assert.isAtLeast(acquiredAt - lastRenew, 15_000)
      assert.isAtMost(acquiredAt - lastRenew, 15_000 + 2 * 2_400 + 1)
      assert.isAtLeast(cutAt, lastRenew)
      assert.strictEqual(fake.objects.get(leasePath).spec.leaseTransitions, 1)
    }))

  it.effect("two candidates racing for a fresh lease: exactly one wins", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const electors = yield* Effect.forEach(["a", "b", "c"], (id) => electorOn(fake, id))
      const started: Array<string> = []
      yield* Effect.forEach(electors, (elector) => candidate(elector, started))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(started.length, 1)
      assert.strictEqual(electors.filter((elector) => elector.isLeader()).length, 1)
      assert.strictEqual(holder(fake), started[0])
    }))

  it.effect("the always-leader layer runs the work directly", () =>
    Effect.gen(function*() {
      const elector = yield* Effect.service(LeaderElector).pipe(Effect.provide(LeaderElector.layerAlwaysLeader("solo")))
      assert.isTrue(elector.isLeader())
      assert.strictEqual(yield* elector.runAsLeader(Effect.succeed(7)), 7)
    }))
})

const TestClockNow = Effect.clockWith((clock) => Effect.sync(() => clock.currentTimeMillisUnsafe()))
