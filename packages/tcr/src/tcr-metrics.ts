// Owns the metrics of TCR API calls: every attempt (retries included) by action and result, and its latency.
import { Cause, Effect, Exit, Metric } from "effect"
import type { TcrError } from "./tcr-errors.ts"

const calls = Metric.counter("tcr_assistant_tcr_api_requests_total", {
  description: "TCR API call attempts (each retry counts), by action and result: success, or the error's kind (TcrAuthError, TcrRateLimitedError, ...).",
  incremental: true
})
/** TCR answers in tens of milliseconds to seconds; a slow region or a proxy may take longer. */
const latency = Metric.histogram("tcr_assistant_tcr_api_request_duration_seconds", {
  description: "Time from sending one TCR API request to its decoded answer or failure.",
  boundaries: Metric.boundariesFromIterable([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
})

const resultOf = <A>(exit: Exit.Exit<A, TcrError>): string | undefined => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) return failure.error._tag
  // An interrupted call (its caller gave up) says nothing about TCR.
  return exit.cause.reasons.some(Cause.isDieReason) ? "defect" : undefined
}

/** Measure one attempt of `action`. */
export const measureTcrCall = <A, R>(action: string, attempt: Effect.Effect<A, TcrError, R>): Effect.Effect<A, TcrError, R> =>
  Effect.suspend(() => {
    const started = performance.now()
    return attempt.pipe(
      Effect.onExit((exit) => {
        const result = resultOf(exit)
        if (result === undefined) return Effect.void
        return Effect.andThen(
          Metric.update(Metric.withAttributes(calls, { action, result }), 1),
          Metric.update(Metric.withAttributes(latency, { action }), (performance.now() - started) / 1000)
        )
      })
    )
  })
