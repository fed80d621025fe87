// Classification of raw TCR API failures into typed errors, their retryability, and secret scrubbing.
import { assert, describe, it } from "@effect/vitest"
import { classifyFailure, messageWithoutRequestId, scrubSecrets } from "@tcr-assistant/tcr"

const context = { action: "CreateInstanceToken", region: "ap-guangzhou", instanceId: "tcr-abc", secrets: ["s3cr3t"] }
const apiFailure = (code: string) => ({ code, httpStatus: undefined, message: "details", requestId: "req-1" })

describe("classifyFailure", () => {
  it.each([
    ["AuthFailure.SignatureFailure", "TcrAuthError", false],
    ["AuthFailure.SignatureExpire", "TcrAuthError", false],
    ["AuthFailure.SecretIdNotFound", "TcrAuthError", false],
    ["UnauthorizedOperation", "TcrAuthError", false],
    ["RequestLimitExceeded", "TcrRateLimitedError", true],
    ["RequestLimitExceeded.IPLimitExceeded", "TcrRateLimitedError", true],
    ["InternalError", "TcrServerError", true],
    ["InternalError.DbError", "TcrServerError", true],
    ["InternalError.ErrorConflict", "TcrApiError", false],
    ["InternalError.ErrNotExist", "TcrNotFoundError", false],
    ["ServiceUnavailable", "TcrServerError", true],
    ["ResourceNotFound", "TcrNotFoundError", false],
    ["ResourceNotFound.TcrResourceNotFound", "TcrNotFoundError", false],
    ["InvalidParameter", "TcrInvalidRequestError", false],
    ["InvalidParameterValue", "TcrInvalidRequestError", false],
    ["MissingParameter", "TcrInvalidRequestError", false],
    ["UnknownParameter", "TcrInvalidRequestError", false],
    ["InvalidAction", "TcrInvalidRequestError", false],
    ["UnsupportedRegion", "TcrInvalidRequestError", false],
    ["FailedOperation", "TcrApiError", false],
    ["OperationDenied.QuotaOverLimit", "TcrApiError", false],
    ["ResourceInsufficient.ErrorInstanceNotRunning", "TcrApiError", false],
    // A prefix must match a whole segment.
    ["AuthFailureish", "TcrApiError", false]
  ] as const)("%s is a %s (retryable: %s)", (code, tag, retryable) => {
    const error = classifyFailure(apiFailure(code), context)
    assert.strictEqual(error._tag, tag)
    assert.strictEqual(error.retryable, retryable)
    assert.strictEqual(error.code, code)
    assert.strictEqual(error.action, "CreateInstanceToken")
    assert.strictEqual(error.requestId, "req-1")
    assert.include(error.message, code)
    assert.include(error.message, "req-1")
  })

  it("a not-found error carries the region and instance", () => {
    const error = classifyFailure(apiFailure("ResourceNotFound"), context)
    assert.strictEqual(error._tag, "TcrNotFoundError")
    if (error._tag === "TcrNotFoundError") {
      assert.strictEqual(error.region, "ap-guangzhou")
      assert.strictEqual(error.instanceId, "tcr-abc")
    }
  })

  it.each([
    [429, "TcrRateLimitedError", true],
    [500, "TcrServerError", true],
    [503, "TcrServerError", true],
    [403, "TcrApiError", false]
  ] as const)("HTTP %s without an API envelope is a %s", (status, tag, retryable) => {
    const error = classifyFailure({ code: undefined, httpStatus: status, message: "Bad", requestId: undefined }, context)
    assert.strictEqual(error._tag, tag)
    assert.strictEqual(error.retryable, retryable)
    assert.strictEqual(error.code, `HTTP ${status}`)
    assert.isUndefined(error.requestId)
  })

  it("no response at all is a retryable TcrNetworkError", () => {
    const error = classifyFailure(
      { code: undefined, httpStatus: undefined, message: "connect ECONNREFUSED 127.0.0.1:1", requestId: undefined },
      context
    )
    assert.strictEqual(error._tag, "TcrNetworkError")
    assert.isTrue(error.retryable)
    assert.include(error.message, "ECONNREFUSED")
  })

  it("secrets in the server's message are replaced", () => {
    const error = classifyFailure({ ...apiFailure("FailedOperation"), message: "key s3cr3t and s3cr3t again" }, context)
    assert.notInclude(error.message, "s3cr3t")
    assert.include(error.message, "key <redacted> and <redacted> again")
  })
})

describe("scrubSecrets", () => {
  it("replaces every occurrence of every secret and ignores empty ones", () => {
    assert.strictEqual(scrubSecrets("a-b-a-c", ["a", "", "c"]), "<redacted>-b-<redacted>-<redacted>")
  })

  it("treats secrets literally, not as patterns, and prefers the longest match", () => {
    assert.strictEqual(scrubSecrets("k=a+b/c==|x.y", ["a+b/c==", "x.y", "x"]), "k=<redacted>|<redacted>")
    assert.strictEqual(scrubSecrets("xay", ["a."]), "xay")
  })
})

describe("messageWithoutRequestId", () => {
  it("drops the RequestId, so a failure that repeats reads the same each time", () => {
    const first = classifyFailure({ ...apiFailure("AuthFailure.SignatureFailure"), requestId: "req-1" }, context)
    const second = classifyFailure({ ...apiFailure("AuthFailure.SignatureFailure"), requestId: "req-2" }, context)
    assert.notStrictEqual(first.message, second.message)
    assert.strictEqual(messageWithoutRequestId(first), messageWithoutRequestId(second))
    assert.strictEqual(messageWithoutRequestId(first), "TCR CreateInstanceToken in ap-guangzhou: AuthFailure.SignatureFailure: details")
  })

  it("leaves a message without a RequestId as it is", () => {
    const error = classifyFailure({ code: undefined, httpStatus: undefined, message: "connect ECONNREFUSED", requestId: undefined }, context)
    assert.strictEqual(messageWithoutRequestId(error), error.message)
  })
})
