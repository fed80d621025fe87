// Owns the admission webhooks' metrics: reviews answered by webhook, operation and result, and their latency.
import { durationBuckets, seriesOf } from "@tcr-assistant/kube/prometheus"
import { type Context, Metric } from "effect"

const requests = Metric.counter("tcr_assistant_webhook_requests_total", {
  description: "Admission reviews answered, by webhook, operation (CREATE, UPDATE, ...) and result (allowed, denied, error: denied because of an internal error, malformed).",
  incremental: true
})
const latency = Metric.histogram("tcr_assistant_webhook_request_duration_seconds", {
  description: "Time to answer one admission review, from the request to the response.",
  boundaries: durationBuckets
})

export interface AdmissionRecord {
  /** Which webhook answered, e.g. validate-imagepullsecret. */
  readonly webhook: string
  /** The review's operation; empty when the request could not be read. */
  readonly operation: string
  readonly result: string
  readonly seconds: number
}

const requestSeries = seriesOf(requests)
const latencySeries = seriesOf(latency)

/** Record one answered review, from a request handler that runs outside Effect. */
export const recordAdmission = (context: Context.Context<never>, record: AdmissionRecord) => {
  requestSeries({ webhook: record.webhook, operation: record.operation, result: record.result }).updateUnsafe(1, context)
  latencySeries({ webhook: record.webhook }).updateUnsafe(record.seconds, context)
}
