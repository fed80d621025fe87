// The typed failures of TCR API calls, how a raw SDK failure is classified into them, and which of them are retried.
import { Schema } from "effect"

const common = {
  /** The API action that failed, e.g. "CreateInstanceToken". */
  action: Schema.String,
  /** The Tencent Cloud error code ("AuthFailure.SignatureFailure"), "HTTP <status>" or "NetworkError". */
  code: Schema.String,
  message: Schema.String,
  /** The server's RequestId, when the request reached the API: quote it to Tencent Cloud support. */
  requestId: Schema.optional(Schema.String)
}

/**
 * The API rejected who we are or what we may do: a wrong or unknown key, a skewed clock (AuthFailure.SignatureExpire),
 * an expired session token, or a CAM policy that does not allow the action (UnauthorizedOperation). Never retried.
 */
export class TcrAuthError extends Schema.TaggedError<TcrAuthError>()("TcrAuthError", common) {
  get retryable(): boolean {
    return false
  }
}

/** The instance (or the token) named in the request does not exist in that region. Never retried. */
export class TcrNotFoundError extends Schema.TaggedError<TcrNotFoundError>()("TcrNotFoundError", {
  ...common,
  region: Schema.String,
  instanceId: Schema.optional(Schema.String)
}) {
  get retryable(): boolean {
    return false
  }
}

/** The request itself is wrong (InvalidParameter, MissingParameter, UnknownParameter, InvalidAction, ...). */
export class TcrInvalidRequestError extends Schema.TaggedError<TcrInvalidRequestError>()(
  "TcrInvalidRequestError",
  common
) {
  get retryable(): boolean {
    return false
  }
}

/** RequestLimitExceeded: the account or IP called too often. Retried with backoff. */
export class TcrRateLimitedError extends Schema.TaggedError<TcrRateLimitedError>()("TcrRateLimitedError", common) {
  get retryable(): boolean {
    return true
  }
}

/** InternalError, ServiceUnavailable or an HTTP 5xx: a fault on Tencent Cloud's side. Retried with backoff. */
export class TcrServerError extends Schema.TaggedError<TcrServerError>()("TcrServerError", common) {
  get retryable(): boolean {
    return true
  }
}

/** No response at all: connection refused or reset, DNS failure, timeout. Retried with backoff. */
export class TcrNetworkError extends Schema.TaggedError<TcrNetworkError>()("TcrNetworkError", common) {
  get retryable(): boolean {
    return true
  }
}

/** Any other API error (FailedOperation, OperationDenied, ResourceInsufficient, ...). Not retried. */
export class TcrApiError extends Schema.TaggedError<TcrApiError>()("TcrApiError", common) {
  get retryable(): boolean {
    return false
  }
}

/** The API answered with a body that does not have the documented shape. Not retried. */
export class TcrResponseError extends Schema.TaggedError<TcrResponseError>()("TcrResponseError", common) {
  get retryable(): boolean {
    return false
  }
}

export type TcrError =
  | TcrAuthError
  | TcrNotFoundError
  | TcrInvalidRequestError
  | TcrRateLimitedError
  | TcrServerError
  | TcrNetworkError
  | TcrApiError
  | TcrResponseError

/** What the SDK reported when a call failed, reduced to plain data. */
export interface RawFailure {
  /** Tencent Cloud error code from `Response.Error.Code`; absent when no API response was parsed. */
  readonly code: string | undefined
  /** HTTP status when the server answered with something other than 200. */
  readonly httpStatus: number | undefined
  readonly message: string
  readonly requestId: string | undefined
}

/** Where the failed call was aimed, for messages and for {@link TcrNotFoundError}. */
export interface FailureContext {
  readonly action: string
  readonly region: string
  readonly instanceId: string | undefined
  /** Values that must not appear in the resulting message (the caller's secret ID, key and session token). */
  readonly secrets: ReadonlyArray<string>
}

const requestIdSuffix = (requestId: string) => ` (RequestId ${requestId})`

/**
 * The error's message without its RequestId: what the same failure says every time it repeats, for status conditions
 * and Events (which Kubernetes aggregates by message). The RequestId belongs in logs, where support can find it.
 */
export const messageWithoutRequestId = (error: { readonly message: string; readonly requestId?: string | undefined }): string =>
  error.requestId !== undefined && error.message.endsWith(requestIdSuffix(error.requestId))
    ? error.message.slice(0, -requestIdSuffix(error.requestId).length)
    : error.message

/** Replaces every occurrence of each secret with `<redacted>`, in one pass (longest secrets first). */
export const scrubSecrets = (text: string, secrets: ReadonlyArray<string>): string => {
  const alternatives = secrets
    .filter((secret) => secret.length > 0)
    .sort((a, b) => b.length - a.length)
    .map((secret) => secret.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
  return alternatives.length === 0 ? text : text.replace(new RegExp(alternatives.join("|"), "g"), "<redacted>")
}

const hasPrefix = (code: string, prefix: string): boolean => code === prefix || code.startsWith(`${prefix}.`)

// InternalError sub-codes that describe a permanent condition rather than a fault worth waiting out.
const permanentInternalErrors = new Set([
  "InternalError.ErrConflict",
  "InternalError.ErrorConflict",
  "InternalError.ErrorOverLimit",
  "InternalError.ErrorTcrResourceConflict",
  "InternalError.ErrorTcrUnauthorized",
  "InternalError.ErrorTcrInvalidMediaType"
])

const invalidRequestPrefixes = [
  "InvalidParameter",
  "InvalidParameterValue",
  "MissingParameter",
  "UnknownParameter",
  "InvalidAction",
  "InvalidRequest",
  "NoSuchVersion",
  "NoSuchProduct",
  "UnsupportedRegion",
  "UnsupportedProtocol",
  "UnsupportedOperation",
  "RequestSizeLimitExceeded"
]

/** Maps one failed call to its typed error; the message names the action and never contains a secret. */
export const classifyFailure = (raw: RawFailure, context: FailureContext): TcrError => {
  const scrubbed = scrubSecrets(raw.message, context.secrets)
  const base = (code: string, what: string) => ({
    action: context.action,
    code,
    message: `TCR ${context.action} in ${context.region}: ${what}${
      raw.requestId === undefined || raw.requestId === "" ? "" : requestIdSuffix(raw.requestId)
    }`,
    requestId: raw.requestId === "" ? undefined : raw.requestId
  })
  const code = raw.code
  if (code === undefined || code === "") {
    if (raw.httpStatus !== undefined) {
      const httpCode = `HTTP ${raw.httpStatus}`
      const fields = base(httpCode, `${httpCode} ${scrubbed}`.trim())
      if (raw.httpStatus === 429) return new TcrRateLimitedError(fields)
      if (raw.httpStatus >= 500) return new TcrServerError(fields)
      return new TcrApiError(fields)
    }
    return new TcrNetworkError(base("NetworkError", `no response from the TCR API: ${scrubbed}`))
  }
  const fields = base(code, `${code}: ${scrubbed}`)
  if (hasPrefix(code, "AuthFailure") || hasPrefix(code, "UnauthorizedOperation")) return new TcrAuthError(fields)
  if (hasPrefix(code, "RequestLimitExceeded")) return new TcrRateLimitedError(fields)
  if (hasPrefix(code, "ResourceNotFound") || code === "InternalError.ErrNotExist") {
    return new TcrNotFoundError({ ...fields, region: context.region, instanceId: context.instanceId })
  }
  if (hasPrefix(code, "InternalError")) {
    return permanentInternalErrors.has(code) ? new TcrApiError(fields) : new TcrServerError(fields)
  }
  if (hasPrefix(code, "ServiceUnavailable")) return new TcrServerError(fields)
  if (invalidRequestPrefixes.some((prefix) => hasPrefix(code, prefix))) return new TcrInvalidRequestError(fields)
  return new TcrApiError(fields)
}
