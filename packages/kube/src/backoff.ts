// Capped, jittered exponential backoff: one formula for every retry of the controller and the kube layer, as an
// Effect Schedule for retry loops, and as the delay of one attempt for code that schedules by hand (a work queue's
// delayed re-add, a machine's retry). Randomness comes from Effect's Random, so tests can fix it.
import { Duration, Effect, Random, Schedule } from "effect"

export interface Backoff {
  /** The delay before the first retry. */
  readonly base: Duration.Input
  /** No delay is longer. */
  readonly cap: Duration.Input
}

/** Informer watches: a broken connection is retried after 400 ms, then slower, at most every 30 s. */
export const watchBackoff: Backoff = { base: "400 millis", cap: "30 seconds" }
/** A target's failed request: retried after 500 ms, then slower, at most every minute. */
export const targetBackoff: Backoff = { base: "500 millis", cap: "1 minute" }
/** Minting a registry token: retried after 2 s, then slower, at most every 5 minutes. */
export const tokenBackoff: Backoff = { base: "2 seconds", cap: "5 minutes" }

/** Doublings past which every policy is at its cap anyway; keeps 2^n finite. */
const maxDoublings = 30

/** The delay before retry `attempt` (1 for the first), without jitter: base * 2^(attempt-1), at most cap. */
export const backoffDelay = (backoff: Backoff, attempt: number): Duration.Duration => {
  const base = Duration.toMillis(Duration.fromInputUnsafe(backoff.base))
  const cap = Duration.toMillis(Duration.fromInputUnsafe(backoff.cap))
  return Duration.millis(Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt - 1), maxDoublings)))
}

/**
 * Spread a delay uniformly over its upper half, [delay/2, delay] to the millisecond: retries of many clients that
 * failed together do not come back together, and none waits longer than the delay.
 */
export const jitter = (delay: Duration.Input): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (random) => Duration.millis(Math.round(Duration.toMillis(Duration.fromInputUnsafe(delay)) * (0.5 + random / 2))))

/** Stretch a period by a random factor in [1, 1 + factor): client-go's JitterUntil, for periodic polling. */
export const stretch = (period: Duration.Input, factor: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (random) => Duration.millis(Duration.toMillis(Duration.fromInputUnsafe(period)) * (1 + random * factor)))

/** The delay before retry `attempt`, jittered. */
export const nextBackoff = (backoff: Backoff, attempt: number): Effect.Effect<Duration.Duration> =>
  jitter(backoffDelay(backoff, attempt))

/** The same backoff as a Schedule that retries for ever; each use of it starts again from the first delay. */
export const backoffSchedule = (backoff: Backoff): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(backoff.base).pipe(
    Schedule.modifyDelay(({ attempt }) => nextBackoff(backoff, attempt))
  )
