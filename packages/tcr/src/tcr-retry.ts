// When a failed TCR API call is tried again: only retryable errors, with capped, jittered exponential backoff.
import { Duration, Effect, Schedule } from "effect"
import type { TcrError } from "./tcr-errors.ts"

export interface TcrRetryPolicy {
  /** Delay before the first retry; each further retry doubles it (then jitter of +-20% is applied). */
  readonly baseDelay: Duration.Input
  /** No single delay exceeds this. */
  readonly maxDelay: Duration.Input
  /** Retries after the first attempt; 0 disables retrying. */
  readonly maxRetries: number
}

/** About 250ms, 500ms, 1s, 2s, 4s, 8s: a rate-limit window of the API (one second) is comfortably outlasted. */
export const defaultRetryPolicy: TcrRetryPolicy = { baseDelay: "250 millis", maxDelay: "10 seconds", maxRetries: 6 }

/** The retry schedule for one call; it logs each retry with the action, the error code and the delay. */
export const retrySchedule = (policy: TcrRetryPolicy) => {
  const cap = Duration.fromInputUnsafe(policy.maxDelay)
  return Schedule.exponential(policy.baseDelay).pipe(
    Schedule.jittered,
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, cap))),
    Schedule.upTo({ times: policy.maxRetries }),
    Schedule.setInputType<TcrError>(),
    Schedule.while(({ input }) => input.retryable),
    Schedule.tap(({ input, attempt, duration }) =>
      Effect.logWarning("TCR API call failed, retrying").pipe(
        Effect.annotateLogs({
          action: input.action,
          code: input.code,
          attempt,
          delayMillis: Math.round(Duration.toMillis(duration))
        })
      )
    )
  )
}
