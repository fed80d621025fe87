// Typed failures of Kubernetes API calls, classified the way a controller must react to them.
import { Schema } from "effect"

/** The object is not there (HTTP 404). On delete this means done. */
export class KubeNotFound extends Schema.TaggedError<KubeNotFound>()("KubeNotFound", {
  message: Schema.String
}) {
  readonly retryable = false
}

/** AlreadyExists on create, or a resourceVersion conflict on update (HTTP 409): read again and recompute. */
export class KubeConflict extends Schema.TaggedError<KubeConflict>()("KubeConflict", {
  reason: Schema.String,
  message: Schema.String
}) {
  readonly retryable = true
}

/** The resourceVersion asked for is too old (HTTP 410): a watch must relist. */
export class KubeGone extends Schema.TaggedError<KubeGone>()("KubeGone", {
  message: Schema.String
}) {
  readonly retryable = true
}

/**
 * The apiserver refused the request for a reason that retrying will not fix by itself (400, 401, 403, 422, ...).
 * `causes` carries the Status details' cause reasons, e.g. NamespaceTerminating.
 */
export class KubeRejected extends Schema.TaggedError<KubeRejected>()("KubeRejected", {
  status: Schema.Number,
  reason: Schema.String,
  message: Schema.String,
  causes: Schema.Array(Schema.String)
}) {
  readonly retryable = false
  get namespaceTerminating(): boolean {
    return this.causes.includes("NamespaceTerminating") || /being terminated/.test(this.message)
  }
}

/** The apiserver could not be reached or answered 429/5xx: retry with backoff. */
export class KubeUnavailable extends Schema.TaggedError<KubeUnavailable>()("KubeUnavailable", {
  status: Schema.optionalKey(Schema.Number),
  message: Schema.String
}) {
  readonly retryable = true
}

export type KubeError = KubeNotFound | KubeConflict | KubeGone | KubeRejected | KubeUnavailable

interface StatusBody {
  readonly reason?: string
  readonly message?: string
  readonly details?: { readonly causes?: ReadonlyArray<{ readonly reason?: string }> }
}

/** Classify a non-2xx answer. The message is the apiserver's own, which never contains request bodies. */
export const kubeErrorFromStatus = (status: number, body: unknown, what: string): KubeError => {
  const statusBody = (typeof body === "object" && body !== null ? body : {}) as StatusBody
  const reason = statusBody.reason ?? ""
  const message = `${what}: ${statusBody.message ?? `HTTP ${status}`}`
  if (status === 404) return new KubeNotFound({ message })
  if (status === 409) return new KubeConflict({ reason: reason || "Conflict", message })
  if (status === 410) return new KubeGone({ message })
  if (status === 429 || status >= 500) return new KubeUnavailable({ status, message })
  return new KubeRejected({
    status,
    reason,
    message,
    causes: (statusBody.details?.causes ?? []).flatMap((cause) => (cause.reason ? [cause.reason] : []))
  })
}
