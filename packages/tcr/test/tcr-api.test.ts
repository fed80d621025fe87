// TcrApi driven through the real SDK (tencentcloud-sdk-nodejs-common) against the local TCR API double.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import {
  defaultTokenDescription,
  type TcrApiOptions,
  TcrApi,
  TcrCredentials,
  type TcrError
} from "@tcr-assistant/tcr"
import { metricRegistryLayer, parsePrometheus, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { type TcrDouble, type TcrDoubleOptions, tcrDoubleScoped } from "@tcr-assistant/testkit/tcr-double"

const region = "ap-guangzhou"
const fastRetry = { baseDelay: "5 millis", maxDelay: "40 millis", maxRetries: 4 } as const

/** A fresh double and a TcrApi pointed at it, both released with the test's scope. */
const setup = Effect.fnUntraced(function*(
  doubleOptions: TcrDoubleOptions = {},
  apiOptions: TcrApiOptions = {}
) {
  const double = yield* tcrDoubleScoped(doubleOptions)
  const services = yield* Layer.build(TcrApi.layerWith({ endpoint: double.endpoint, retry: fastRetry, ...apiOptions }))
  const tcr = Context.get(services, TcrApi)
  const credentials = TcrCredentials.make({
    secretId: double.secretId,
    secretKey: double.secretKey,
    sessionToken: double.sessionToken
  })
  return { double, tcr, target: { credentials, region } }
})

const callsOf = (double: TcrDouble, action: string) => double.calls().filter((call) => call.action === action)

describe("TcrApi against the TCR API double", () => {
  it.live("DescribeInstances lists the region's instances and getInstance finds one by ID", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo", vpcLinks: [{ vpcId: "vpc-1", accessIp: "10.0.0.5" }] })
      double.seedInstance({ name: "other" })
      double.seedInstance({ name: "elsewhere", region: "ap-shanghai" })

      const all = yield* tcr.describeInstances(target)
      assert.deepStrictEqual(all.map((instance) => instance.name).sort(), ["demo", "other"])

      const found = yield* tcr.getInstance({ ...target, instanceId: demo.id })
      assert.strictEqual(found.id, demo.id)
      assert.strictEqual(found.name, "demo")
      assert.strictEqual(found.status, "Running")
      assert.strictEqual(found.region, region)
      assert.strictEqual(found.publicDomain, "demo.tencentcloudcr.com")
    }))

  it.live("describeInstances pages through more instances than one page holds", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      for (let index = 0; index < 130; index++) double.seedInstance({ name: `instance-${index}` })
      const all = yield* tcr.describeInstances(target)
      assert.strictEqual(all.length, 130)
      assert.strictEqual(new Set(all.map((instance) => instance.id)).size, 130)
      assert.strictEqual(callsOf(double, "DescribeInstances").length, 2)
    }))

  it.live("CreateInstanceToken issues a long-term token with the cluster's default description", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo" })
      const issued = yield* tcr.createInstanceToken({
        ...target,
        instanceId: demo.id,
        tokenType: "longterm",
        clusterId: "cls-abc123"
      })
      assert.strictEqual(issued.type, "longterm")
      assert.strictEqual(issued.username, double.uin)
      assert.isDefined(issued.tokenId)
      assert.strictEqual(double.checkToken(issued.username, Redacted.value(issued.token)), "valid")
      const [stored] = double.tokens(demo.id)
      assert.strictEqual(stored?.id, issued.tokenId)
      assert.strictEqual(stored?.type, "longterm")
      assert.strictEqual(stored?.description, "TKE cluster (cls-abc123) dedicated access credential")
      assert.strictEqual(stored?.expiresAt.getTime(), issued.expiresAt.getTime())
      assert.strictEqual(defaultTokenDescription("cls-abc123"), stored?.description)
    }))

  it.live("CreateInstanceToken issues a temporary token that expires after the double's token lifetime", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup({ tempTokenLifetimeMillis: 90_000 })
      const demo = double.seedInstance({ name: "demo" })
      const before = Date.now()
      const issued = yield* tcr.createInstanceToken({
        ...target,
        instanceId: demo.id,
        tokenType: "temp",
        description: "renewed by the controller"
      })
      const after = Date.now()
      assert.strictEqual(issued.type, "temp")
      assert.isUndefined(issued.tokenId)
      assert.isAtLeast(issued.expiresAt.getTime(), before + 90_000)
      assert.isAtMost(issued.expiresAt.getTime(), after + 90_000)
      // Temporary tokens are not long-term tokens: DescribeInstanceToken does not list them.
      assert.deepStrictEqual(yield* tcr.describeInstanceTokens({ ...target, instanceId: demo.id }), [])
    }))

  it.live("DescribeInstanceToken lists long-term tokens and DeleteInstanceToken removes one", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo" })
      const first = yield* tcr.createInstanceToken({ ...target, instanceId: demo.id, tokenType: "longterm", clusterId: "cls-1" })
      const second = yield* tcr.createInstanceToken({
        ...target,
        instanceId: demo.id,
        tokenType: "longterm",
        description: "second"
      })
      const listed = yield* tcr.describeInstanceTokens({ ...target, instanceId: demo.id })
      assert.deepStrictEqual(
        listed.map((token) => [token.id, token.description, token.enabled, token.instanceId]).sort(),
        [
          [first.tokenId, defaultTokenDescription("cls-1"), true, demo.id],
          [second.tokenId, "second", true, demo.id]
        ].sort()
      )
      assert.strictEqual(listed.find((token) => token.id === first.tokenId)?.expiresAt?.getTime(), first.expiresAt.getTime())

      yield* tcr.deleteInstanceToken({ ...target, instanceId: demo.id, tokenId: first.tokenId! })
      assert.deepStrictEqual(double.tokens(demo.id).map((token) => token.id), [second.tokenId])
      assert.strictEqual(double.checkToken(first.username, Redacted.value(first.token)), "unknown")

      const again = yield* Effect.flip(tcr.deleteInstanceToken({ ...target, instanceId: demo.id, tokenId: first.tokenId! }))
      assert.strictEqual(again._tag, "TcrNotFoundError")
      assert.isFalse(again.retryable)
    }))

  it.live("DescribeInternalEndpoints reports each VPC link with its status and private IP", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({
        name: "demo",
        vpcLinks: [
          { vpcId: "vpc-a", subnetId: "subnet-a", accessIp: "10.0.0.5" },
          { vpcId: "vpc-b", accessIp: "10.1.0.7", status: "Creating" }
        ]
      })
      const links = yield* tcr.describeInternalEndpoints({ ...target, instanceId: demo.id })
      assert.deepStrictEqual(links, [
        { vpcId: "vpc-a", subnetId: "subnet-a", status: "Running", accessIp: "10.0.0.5", running: true },
        { vpcId: "vpc-b", subnetId: "subnet-b", status: "Creating", accessIp: "10.1.0.7", running: false }
      ])
      double.removeVpcLink(demo.id, "vpc-a")
      double.removeVpcLink(demo.id, "vpc-b")
      assert.deepStrictEqual(yield* tcr.describeInternalEndpoints({ ...target, instanceId: demo.id }), [])
    }))

  it.live("DescribeInternalEndpointDnsStatus tells whether private DNS resolves the instance in each VPC", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({
        name: "demo",
        vpcLinks: [{ vpcId: "vpc-a", accessIp: "10.0.0.5" }, { vpcId: "vpc-b", accessIp: "10.1.0.7" }]
      })
      double.setPrivateDns(demo.id, "vpc-a", true, { usePublicDomain: true })
      const statuses = yield* tcr.describeInternalEndpointDnsStatus({
        ...target,
        queries: [
          { instanceId: demo.id, vpcId: "vpc-a", accessIp: "10.0.0.5", usePublicDomain: true },
          { instanceId: demo.id, vpcId: "vpc-a", accessIp: "10.0.0.5", usePublicDomain: false },
          { instanceId: demo.id, vpcId: "vpc-b", accessIp: "10.1.0.7", region }
        ]
      })
      assert.deepStrictEqual(statuses.map((status) => [status.vpcId, status.status, status.enabled]), [
        ["vpc-a", "ENABLED", true],
        ["vpc-a", "DISABLED", false],
        ["vpc-b", "DISABLED", false]
      ])
      assert.deepStrictEqual(yield* tcr.describeInternalEndpointDnsStatus({ ...target, queries: [] }), [])
    }))

  it.live("DescribeInstanceCustomizedDomain lists every custom domain across pages", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo", customDomains: ["Registry.Example.tencentcloudcr.com"] })
      for (let index = 0; index < 120; index++) double.putCustomDomain(demo.id, `r${index}.tencentcloudcr.com`)
      const domains = yield* tcr.describeCustomizedDomains({ ...target, instanceId: demo.id })
      assert.strictEqual(domains.length, 121)
      assert.deepStrictEqual(domains[0], {
        instanceId: demo.id,
        domain: "registry.example.tencentcloudcr.com",
        certId: double.instance(demo.id)?.customDomains[0]?.certId,
        status: "SUCCESS"
      })
      assert.strictEqual(callsOf(double, "DescribeInstanceCustomizedDomain").length, 2)
    }))

  it.live("a session token is sent as X-TC-Token and a missing one is an auth failure", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup({ sessionToken: "sts-session-token-value" })
      double.seedInstance({ name: "demo" })
      assert.strictEqual((yield* tcr.describeInstances(target)).length, 1)
      const withoutToken = TcrCredentials.make({ secretId: double.secretId, secretKey: double.secretKey })
      const error = yield* Effect.flip(tcr.describeInstances({ credentials: withoutToken, region }))
      assert.strictEqual(error._tag, "TcrAuthError")
      assert.strictEqual(error.code, "AuthFailure.TokenFailure")
    }))
})

describe("TcrApi changes a token in place, and reports CAM denials", () => {
  it.live("ModifyInstanceToken gives a long-term token a new description and leaves it working", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo" })
      const issued = yield* tcr.createInstanceToken({ ...target, instanceId: demo.id, tokenType: "longterm", clusterId: "cls-1" })
      yield* tcr.modifyInstanceTokenDescription({ ...target, instanceId: demo.id, tokenId: issued.tokenId!, description: "prod pulls" })
      const listed = yield* tcr.describeInstanceTokens({ ...target, instanceId: demo.id })
      assert.deepStrictEqual(listed.map((token) => [token.id, token.description, token.enabled]), [[issued.tokenId, "prod pulls", true]])
      assert.strictEqual(double.checkToken(issued.username, Redacted.value(issued.token)), "valid")

      const missing = yield* Effect.flip(
        tcr.modifyInstanceTokenDescription({ ...target, instanceId: demo.id, tokenId: "no-such-token", description: "x" })
      )
      assert.strictEqual(missing._tag, "TcrNotFoundError")
    }))

  it.live("an action the key's CAM policy does not allow fails with UnauthorizedOperation, not retried", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo" })
      double.denyActions(["CreateInstanceToken"])
      const error = yield* Effect.flip(tcr.createInstanceToken({ ...target, instanceId: demo.id, tokenType: "longterm" }))
      assert.strictEqual(error._tag, "TcrAuthError")
      assert.strictEqual(error.code, "UnauthorizedOperation")
      assert.include(error.message, "tcr:CreateInstanceToken")
      assert.strictEqual(callsOf(double, "CreateInstanceToken").length, 1)
      assert.deepStrictEqual(double.tokens(), [])
      // Other actions are still allowed.
      assert.strictEqual((yield* tcr.getInstance({ ...target, instanceId: demo.id })).id, demo.id)
    }))
})

describe("TcrApi signatures are verified", () => {
  it.live("a wrong secret key fails with a non-retryable TcrAuthError after a single call", () =>
    Effect.gen(function*() {
      const { double, tcr } = yield* setup()
      double.seedInstance({ name: "demo" })
      const wrongKey = TcrCredentials.make({ secretId: double.secretId, secretKey: `${double.secretKey}x` })
      const error = yield* Effect.flip(tcr.describeInstances({ credentials: wrongKey, region }))
      assert.strictEqual(error._tag, "TcrAuthError")
      assert.strictEqual(error.code, "AuthFailure.SignatureFailure")
      assert.isFalse(error.retryable)
      assert.isDefined(error.requestId)
      assert.strictEqual(double.calls().length, 1)
    }))

  it.live("keys with bytes that cannot go into a header fail at once, naming the field and not the value", () =>
    Effect.gen(function*() {
      const { double, tcr } = yield* setup()
      double.seedInstance({ name: "demo" })
      for (const [field, keys] of [
        ["secretId", { secretId: `${double.secretId}\n`, secretKey: double.secretKey }],
        ["secretId", { secretId: `AKID\u00e9\u4e2d`, secretKey: double.secretKey }],
        ["secretKey", { secretId: double.secretId, secretKey: `key with spaces` }],
        ["sessionToken", { secretId: double.secretId, secretKey: double.secretKey, sessionToken: "tok\r\nX-Injected: 1" }]
      ] as const) {
        const error = yield* Effect.flip(tcr.describeInstances({ credentials: TcrCredentials.make(keys), region }))
        assert.strictEqual(error._tag, "TcrAuthError")
        assert.isFalse(error.retryable)
        assert.include(error.message, `${field} contains characters that are not allowed`)
        assert.notInclude(error.message, double.secretId)
        assert.notInclude(error.message, "Signature")
      }
      assert.strictEqual(double.calls().length, 0)
    }))

  it.live("an unknown secret ID fails with AuthFailure.SecretIdNotFound", () =>
    Effect.gen(function*() {
      const { double, tcr } = yield* setup()
      const unknownId = TcrCredentials.make({ secretId: "AKIDunknown", secretKey: double.secretKey })
      const error = yield* Effect.flip(tcr.describeInstances({ credentials: unknownId, region }))
      assert.strictEqual(error._tag, "TcrAuthError")
      assert.strictEqual(error.code, "AuthFailure.SecretIdNotFound")
    }))

  it.live("a clock skewed by more than five minutes fails with AuthFailure.SignatureExpire, within it succeeds", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      double.seedInstance({ name: "demo" })
      for (const skew of [6 * 60_000, -6 * 60_000]) {
        double.setClockSkew(skew)
        const error = yield* Effect.flip(tcr.describeInstances(target))
        assert.strictEqual(error._tag, "TcrAuthError")
        assert.strictEqual(error.code, "AuthFailure.SignatureExpire")
        assert.isFalse(error.retryable)
      }
      double.setClockSkew(4 * 60_000)
      assert.strictEqual((yield* tcr.describeInstances(target)).length, 1)
    }))
})

describe("TcrApi retries", () => {
  it.live("RequestLimitExceeded twice, then success: the call succeeds on the third attempt", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      double.seedInstance({ name: "demo" })
      double.injectFailure("DescribeInstances", { code: "RequestLimitExceeded", message: "too many requests" }, 2)
      const instances = yield* tcr.describeInstances(target)
      assert.strictEqual(instances.length, 1)
      assert.deepStrictEqual(callsOf(double, "DescribeInstances").map((call) => call.errorCode), [
        "RequestLimitExceeded",
        "RequestLimitExceeded",
        undefined
      ])
    }))

  it.live("every attempt is counted by action and result, with its latency", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      double.seedInstance({ name: "demo" })
      double.injectFailure("DescribeInstances", { code: "RequestLimitExceeded", message: "too many requests" }, 2)
      yield* tcr.describeInstances(target)
      const metrics = parsePrometheus(scrapePrometheusUnsafe(yield* Effect.context<never>()))
      assert.strictEqual(metrics.get(`tcr_assistant_tcr_api_requests_total{action="DescribeInstances",result="TcrRateLimitedError"}`), 2)
      assert.strictEqual(metrics.get(`tcr_assistant_tcr_api_requests_total{action="DescribeInstances",result="success"}`), 1)
      assert.strictEqual(metrics.get(`tcr_assistant_tcr_api_request_duration_seconds_count{action="DescribeInstances"}`), 3)
      assert.isAbove(metrics.get(`tcr_assistant_tcr_api_request_duration_seconds_sum{action="DescribeInstances"}`)!, 0)
    }).pipe(Effect.provide(metricRegistryLayer)))

  it.live("InternalError, a reset connection and an HTTP 502 are retried", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo" })
      double.injectFailure("CreateInstanceToken", { code: "InternalError" })
      double.injectFailure("CreateInstanceToken", { connection: "reset" })
      double.injectFailure("CreateInstanceToken", { httpStatus: 502 })
      const issued = yield* tcr.createInstanceToken({ ...target, instanceId: demo.id, tokenType: "longterm" })
      assert.strictEqual(double.checkToken(issued.username, Redacted.value(issued.token)), "valid")
      assert.deepStrictEqual(callsOf(double, "CreateInstanceToken").map((call) => call.errorCode), [
        "InternalError",
        "ConnectionReset",
        "HTTP 502",
        undefined
      ])
    }))

  it.live("retries stop after the policy's limit and the last retryable error is returned", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup({}, { retry: { ...fastRetry, maxRetries: 2 } })
      double.injectFailure("DescribeInstances", { code: "RequestLimitExceeded.UinLimitExceeded" }, 10)
      const error = yield* Effect.flip(tcr.describeInstances(target))
      assert.strictEqual(error._tag, "TcrRateLimitedError")
      assert.strictEqual(error.code, "RequestLimitExceeded.UinLimitExceeded")
      assert.isTrue(error.retryable)
      assert.strictEqual(callsOf(double, "DescribeInstances").length, 3)
    }))

  it.live("non-retryable errors are returned at once", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      double.injectFailure("DescribeInstances", { code: "InvalidParameter", message: "bad" }, 5)
      const error = yield* Effect.flip(tcr.describeInstances(target))
      assert.strictEqual(error._tag, "TcrInvalidRequestError")
      assert.isFalse(error.retryable)
      assert.strictEqual(callsOf(double, "DescribeInstances").length, 1)
    }))
})

describe("TcrApi missing and unusable instances", () => {
  it.live("getInstance of an unknown ID fails with a non-retryable TcrNotFoundError naming it", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const elsewhere = double.seedInstance({ name: "elsewhere", region: "ap-shanghai" })
      for (const instanceId of ["tcr-missing", elsewhere.id]) {
        const error = yield* Effect.flip(tcr.getInstance({ ...target, instanceId }))
        assert.strictEqual(error._tag, "TcrNotFoundError")
        assert.isFalse(error.retryable)
        if (error._tag === "TcrNotFoundError") {
          assert.strictEqual(error.instanceId, instanceId)
          assert.strictEqual(error.region, region)
        }
        assert.include(error.message, instanceId)
      }
    }))

  it.live("instance-scoped actions on a missing instance fail with TcrNotFoundError after one call", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const missing = { ...target, instanceId: "tcr-missing" }
      const errors: Array<TcrError> = [
        yield* Effect.flip(tcr.createInstanceToken({ ...missing, tokenType: "longterm" })),
        yield* Effect.flip(tcr.describeInstanceTokens(missing)),
        yield* Effect.flip(tcr.describeInternalEndpoints(missing)),
        yield* Effect.flip(tcr.describeCustomizedDomains(missing))
      ]
      for (const error of errors) {
        assert.strictEqual(error._tag, "TcrNotFoundError")
        assert.isFalse(error.retryable)
      }
      assert.strictEqual(double.calls().length, errors.length)
    }))

  it.live("a token for an instance that is not Running is refused without retries", () =>
    Effect.gen(function*() {
      const { double, tcr, target } = yield* setup()
      const demo = double.seedInstance({ name: "demo", status: "Isolate" })
      const error = yield* Effect.flip(tcr.createInstanceToken({ ...target, instanceId: demo.id, tokenType: "temp" }))
      assert.strictEqual(error._tag, "TcrApiError")
      assert.strictEqual(error.code, "ResourceInsufficient.ErrorInstanceNotRunning")
      assert.isFalse(error.retryable)
      assert.deepStrictEqual(double.tokens(), [])
    }))
})

describe("TcrApi configuration", () => {
  it.live("an endpoint whose host does not start with tcr. is refused when the layer is built", () =>
    Effect.gen(function*() {
      for (const endpoint of ["http://localhost:1234", "https://cvm.tencentcloudapi.com", "not a url", "http://tcr.localhost/x"]) {
        const error = yield* Effect.flip(Layer.build(TcrApi.layerWith({ endpoint })))
        assert.strictEqual(error._tag, "TcrConfigError")
      }
    }))

  it.live("http_proxy in the environment is ignored: loopback calls never go through a proxy", () =>
    Effect.gen(function*() {
      const saved = process.env["http_proxy"]
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          // A port nothing listens on: a proxied request could only fail.
          process.env["http_proxy"] = "http://127.0.0.1:9"
        }),
        () =>
          Effect.sync(() => {
            if (saved === undefined) delete process.env["http_proxy"]
            else process.env["http_proxy"] = saved
          })
      )
      const { double, tcr, target } = yield* setup({}, { proxy: "http://127.0.0.1:9" })
      double.seedInstance({ name: "demo" })
      assert.strictEqual((yield* tcr.describeInstances(target)).length, 1)
    }))

  it.live("an unreachable endpoint is a retryable TcrNetworkError", () =>
    Effect.gen(function*() {
      const { double, target } = yield* setup()
      const endpoint = double.endpoint
      yield* Effect.promise(() => double.close())
      const services = yield* Layer.build(TcrApi.layerWith({ endpoint, retry: { ...fastRetry, maxRetries: 1 } }))
      const error = yield* Effect.flip(Context.get(services, TcrApi).describeInstances(target))
      assert.strictEqual(error._tag, "TcrNetworkError")
      assert.isTrue(error.retryable)
    }))
})
