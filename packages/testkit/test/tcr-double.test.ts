// The TCR API double speaks the real wire protocol: the official SDK's signed requests succeed, anything the real API
// would refuse is refused with its error envelope, and the control API shapes what later calls see.
import { createHash, createHmac } from "node:crypto"
import * as Http from "node:http"
import type { LookupFunction } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CommonClient } from "tencentcloud-sdk-nodejs-common"
import { type TcrDouble, type TcrDoubleOptions, tcrDoubleScoped } from "@tcr-assistant/testkit/tcr-double"

const region = "ap-guangzhou"

// `tcr.localhost` is not in /etc/hosts; resolve it to the double's loopback address like @tcr-assistant/tcr does.
const loopback: LookupFunction = (_host, options, callback) => {
  if (options.all === true) {
    ;(callback as unknown as (e: null, a: ReadonlyArray<{ address: string; family: number }>) => void)(null, [
      { address: "127.0.0.1", family: 4 }
    ])
  } else callback(null, "127.0.0.1", 4)
}

interface ApiAnswer {
  readonly ok: boolean
  readonly code: string | undefined
  readonly httpStatus: number | undefined
  readonly message: string
  readonly response: Record<string, unknown> | undefined
}

/** One call through the official SDK, as TcrApi makes it. */
const sdkCall = (
  double: TcrDouble,
  action: string,
  body: unknown,
  credentials: { readonly secretId?: string; readonly secretKey?: string; readonly token?: string } = {},
  callRegion: string = region
) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Http.Agent({ lookup: loopback })),
    (agent) =>
      Effect.promise(async (): Promise<ApiAnswer> => {
        const client = new CommonClient(double.endpoint.replace("http://", ""), "2019-09-24", {
          credential: {
            secretId: credentials.secretId ?? double.secretId,
            secretKey: credentials.secretKey ?? double.secretKey,
            ...(credentials.token === undefined ? {} : { token: credentials.token })
          },
          region: callRegion,
          profile: { httpProfile: { protocol: "http://", agent, reqTimeout: 60 } }
        })
        try {
          const response = (await client.request(action, body)) as Record<string, unknown>
          return { ok: true, code: undefined, httpStatus: undefined, message: "", response }
        } catch (error) {
          const e = error as { code?: string; httpCode?: number; message: string }
          return { ok: false, code: e.code, httpStatus: e.httpCode, message: e.message, response: undefined }
        }
      }),
    (agent) => Effect.sync(() => agent.destroy())
  )

const sha256Hex = (data: string) => createHash("sha256").update(data).digest("hex")
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest()

interface RawRequest {
  readonly action?: string
  readonly version?: string
  readonly region?: string
  readonly body?: string
  /** Signs this body instead of the one sent. */
  readonly signedBody?: string
  readonly timestamp?: number
  readonly service?: string
  readonly date?: string
  readonly authorization?: string | null
  readonly method?: string
}

/** A hand-made request, signed per the TC3-HMAC-SHA256 specification unless the test says otherwise. */
const rawCall = (double: TcrDouble, request: RawRequest) =>
  Effect.promise(() => {
    const body = request.body ?? "{}"
    const timestamp = request.timestamp ?? Math.floor(Date.now() / 1000)
    const date = request.date ?? new Date(timestamp * 1000).toISOString().slice(0, 10)
    const service = request.service ?? "tcr"
    const canonical = [
      "POST",
      "/",
      "",
      `content-type:application/json\nhost:tcr.localhost\n`,
      "content-type;host",
      sha256Hex(request.signedBody ?? body)
    ].join("\n")
    const stringToSign = ["TC3-HMAC-SHA256", String(timestamp), `${date}/${service}/tc3_request`, sha256Hex(canonical)]
      .join("\n")
    const key = hmac(hmac(hmac(`TC3${double.secretKey}`, date), service), "tc3_request")
    const signature = createHmac("sha256", key).update(stringToSign).digest("hex")
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Host: `tcr.localhost:${double.port}`,
      "X-TC-Action": request.action ?? "DescribeInstances",
      "X-TC-Version": request.version ?? "2019-09-24",
      "X-TC-Timestamp": String(timestamp)
    }
    if (request.region !== "") headers["X-TC-Region"] = request.region ?? region
    const authorization = request.authorization === undefined
      ? `TC3-HMAC-SHA256 Credential=${double.secretId}/${date}/${service}/tc3_request, SignedHeaders=content-type;host, Signature=${signature}`
      : request.authorization
    if (authorization !== null) headers["Authorization"] = authorization
    return new Promise<{ status: number; response: Record<string, unknown> }>((resolve, reject) => {
      const outgoing = Http.request(
        { host: "127.0.0.1", port: double.port, path: "/", method: request.method ?? "POST", headers },
        (incoming) => {
          let text = ""
          incoming.on("data", (chunk) => (text += chunk))
          incoming.on("end", () =>
            resolve({ status: incoming.statusCode ?? 0, response: (JSON.parse(text) as { Response: Record<string, unknown> }).Response })
          )
        }
      )
      outgoing.on("error", reject)
      outgoing.end(body)
    })
  })

const errorCode = (response: Record<string, unknown>) => (response["Error"] as { Code?: string } | undefined)?.Code

const withDouble = (options: TcrDoubleOptions = {}) => tcrDoubleScoped(options)

describe("TCR API double: protocol", () => {
  it.live("answers an SDK-signed request with the response envelope and a RequestId", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const demo = double.seedInstance({ name: "demo" })
      const answer = yield* sdkCall(double, "DescribeInstances", { Registryids: [demo.id] })
      assert.isTrue(answer.ok, answer.message)
      assert.strictEqual(answer.response?.["TotalCount"], 1)
      assert.isString(answer.response?.["RequestId"])
      const [registry] = answer.response?.["Registries"] as Array<Record<string, unknown>>
      assert.strictEqual(registry?.["RegistryId"], demo.id)
      assert.strictEqual(registry?.["PublicDomain"], "demo.tencentcloudcr.com")
      assert.strictEqual(registry?.["Status"], "Running")
      assert.strictEqual(registry?.["RegionName"], region)
    }))

  it.live("errors travel as HTTP 200 with Response.Error and a RequestId", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const { status, response } = yield* rawCall(double, { authorization: null })
      assert.strictEqual(status, 200)
      assert.strictEqual(errorCode(response), "AuthFailure.SignatureFailure")
      assert.isString((response["Error"] as { Message?: unknown }).Message)
      assert.isString(response["RequestId"])
    }))

  it.live("a hand-signed request per the specification is accepted", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const { response } = yield* rawCall(double, {})
      assert.isUndefined(errorCode(response))
      assert.strictEqual(response["TotalCount"], 0)
    }))

  it.live("rejects a wrong key, a tampered body, a wrong service or date in the scope, and an unknown secret ID", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const wrongKey = yield* sdkCall(double, "DescribeInstances", {}, { secretKey: `${double.secretKey}0` })
      assert.strictEqual(wrongKey.code, "AuthFailure.SignatureFailure")
      const tampered = yield* rawCall(double, { body: `{"Limit":5}`, signedBody: `{"Limit":6}` })
      assert.strictEqual(errorCode(tampered.response), "AuthFailure.SignatureFailure")
      const wrongService = yield* rawCall(double, { service: "cvm" })
      assert.strictEqual(errorCode(wrongService.response), "AuthFailure.SignatureFailure")
      const wrongDate = yield* rawCall(double, { date: "2001-01-01" })
      assert.strictEqual(errorCode(wrongDate.response), "AuthFailure.SignatureFailure")
      const unknownId = yield* sdkCall(double, "DescribeInstances", {}, { secretId: "AKIDnobody" })
      assert.strictEqual(unknownId.code, "AuthFailure.SecretIdNotFound")
      assert.isTrue(double.calls().every((call) => call.errorCode !== undefined))
    }))

  it.live("rejects timestamps more than five minutes away from its clock", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const now = Math.floor(Date.now() / 1000)
      assert.strictEqual(errorCode((yield* rawCall(double, { timestamp: now - 301 })).response), "AuthFailure.SignatureExpire")
      assert.strictEqual(errorCode((yield* rawCall(double, { timestamp: now + 400 })).response), "AuthFailure.SignatureExpire")
      assert.isUndefined(errorCode((yield* rawCall(double, { timestamp: now - 200 })).response))
      double.setClockSkew(-10 * 60_000)
      assert.strictEqual((yield* sdkCall(double, "DescribeInstances", {})).code, "AuthFailure.SignatureExpire")
      double.setClockSkew(0)
      assert.isTrue((yield* sdkCall(double, "DescribeInstances", {})).ok)
    }))

  it.live("requires the configured session token as X-TC-Token", () =>
    Effect.gen(function*() {
      const double = yield* withDouble({ sessionToken: "sts-token" })
      assert.isTrue((yield* sdkCall(double, "DescribeInstances", {}, { token: "sts-token" })).ok)
      assert.strictEqual((yield* sdkCall(double, "DescribeInstances", {})).code, "AuthFailure.TokenFailure")
      assert.strictEqual(
        (yield* sdkCall(double, "DescribeInstances", {}, { token: "other" })).code,
        "AuthFailure.TokenFailure"
      )
    }))

  it.live("rejects unknown actions, other API versions, a missing or unsupported region, and non-POST methods", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      assert.strictEqual((yield* sdkCall(double, "DescribeEverything", {})).code, "InvalidAction")
      assert.strictEqual(errorCode((yield* rawCall(double, { version: "2018-01-01" })).response), "NoSuchVersion")
      assert.strictEqual(errorCode((yield* rawCall(double, { region: "" })).response), "MissingParameter")
      assert.strictEqual(
        (yield* sdkCall(double, "DescribeInstances", {}, {}, "mars-north-1")).code,
        "UnsupportedRegion"
      )
      assert.strictEqual(errorCode((yield* rawCall(double, { method: "PUT" })).response), "UnsupportedProtocol")
    }))

  it.live("checks parameters against each action's documented fields", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const demo = double.seedInstance({ name: "demo" })
      const misspelt = yield* sdkCall(double, "DescribeInstances", { RegistryIds: [demo.id] })
      assert.strictEqual(misspelt.code, "UnknownParameter")
      assert.include(misspelt.message, "RegistryIds")
      assert.strictEqual((yield* sdkCall(double, "CreateInstanceToken", { TokenType: "temp" })).code, "MissingParameter")
      assert.strictEqual((yield* sdkCall(double, "DescribeInstances", { Limit: "10" })).code, "InvalidParameter")
      assert.strictEqual((yield* sdkCall(double, "DescribeInstances", { Limit: 101 })).code, "InvalidParameter")
      const nested = yield* sdkCall(double, "DescribeInternalEndpointDnsStatus", {
        VpcSet: [{ InstanceId: demo.id, VpcId: "vpc-1", EniLBIp: "10.0.0.1", Extra: 1 }]
      })
      assert.strictEqual(nested.code, "UnknownParameter")
      assert.include(nested.message, "VpcSet.0.Extra")
      assert.strictEqual(
        (yield* sdkCall(double, "CreateInstanceToken", { RegistryId: demo.id, TokenType: "forever" })).code,
        "InvalidParameter"
      )
    }))
})

describe("TCR API double: state", () => {
  it.live("keeps instances per region and filters DescribeInstances by ID, name and region", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const a = double.seedInstance({ name: "alpha" })
      double.seedInstance({ name: "beta" })
      const c = double.seedInstance({ name: "gamma", region: "ap-shanghai", status: "Deploying" })
      const names = (answer: ApiAnswer) =>
        (answer.response?.["Registries"] as Array<{ RegistryName: string }>).map((registry) => registry.RegistryName).sort()
      assert.deepStrictEqual(names(yield* sdkCall(double, "DescribeInstances", {})), ["alpha", "beta"])
      assert.deepStrictEqual(names(yield* sdkCall(double, "DescribeInstances", { Registryids: [a.id, c.id] })), ["alpha"])
      assert.deepStrictEqual(
        names(yield* sdkCall(double, "DescribeInstances", { Filters: [{ Name: "RegistryName", Values: ["beta"] }] })),
        ["beta"]
      )
      assert.deepStrictEqual(names(yield* sdkCall(double, "DescribeInstances", { AllRegion: true })), ["alpha", "beta", "gamma"])
      const paged = yield* sdkCall(double, "DescribeInstances", { Limit: 1, Offset: 1 })
      assert.strictEqual(paged.response?.["TotalCount"], 2)
      assert.strictEqual((paged.response?.["Registries"] as Array<unknown>).length, 1)
      assert.strictEqual(double.instance(c.id)?.privateDomain, "gamma-vpc.tencentcloudcr.com")
      double.removeInstance(a.id)
      assert.deepStrictEqual(names(yield* sdkCall(double, "DescribeInstances", {})), ["beta"])
    }))

  it.live("issues tokens with the configured lifetimes and tells valid, expired and deleted tokens apart", () =>
    Effect.gen(function*() {
      const double = yield* withDouble({ tempTokenLifetimeMillis: 60_000 })
      const demo = double.seedInstance({ name: "demo" })
      const before = Date.now()
      const temp = yield* sdkCall(double, "CreateInstanceToken", { RegistryId: demo.id, TokenType: "temp" })
      const expTime = temp.response?.["ExpTime"] as number
      assert.isAtLeast(expTime, before + 60_000)
      assert.isAtMost(expTime, Date.now() + 60_000)
      assert.strictEqual(temp.response?.["TokenId"], "")
      const username = temp.response?.["Username"] as string
      const token = temp.response?.["Token"] as string
      assert.strictEqual(username, double.uin)
      assert.strictEqual(double.checkToken(username, token), "valid")
      assert.strictEqual(double.checkToken("someone-else", token), "unknown")
      double.setClockSkew(61_000)
      assert.strictEqual(double.checkToken(username, token), "expired")
      double.setClockSkew(0)

      double.setTokenLifetime({ tempMillis: 5_000, longTermMillis: 86_400_000 })
      const shortTemp = yield* sdkCall(double, "CreateInstanceToken", { RegistryId: demo.id })
      assert.isAtMost((shortTemp.response?.["ExpTime"] as number) - Date.now(), 5_000)
      const longTerm = yield* sdkCall(double, "CreateInstanceToken", {
        RegistryId: demo.id,
        TokenType: "longterm",
        Desc: "for cls-1"
      })
      const tokenId = longTerm.response?.["TokenId"] as string
      assert.isAbove(tokenId.length, 0)
      assert.isAtMost((longTerm.response?.["ExpTime"] as number) - Date.now(), 86_400_000)

      const listed = yield* sdkCall(double, "DescribeInstanceToken", { RegistryId: demo.id })
      assert.strictEqual(listed.response?.["TotalCount"], 1)
      const [entry] = listed.response?.["Tokens"] as Array<Record<string, unknown>>
      assert.strictEqual(entry?.["Id"], tokenId)
      assert.strictEqual(entry?.["Desc"], "for cls-1")
      assert.strictEqual(entry?.["Enabled"], true)
      assert.strictEqual(double.tokens(demo.id).length, 3)

      assert.isTrue((yield* sdkCall(double, "DeleteInstanceToken", { RegistryId: demo.id, TokenId: tokenId })).ok)
      assert.strictEqual(double.checkToken(username, longTerm.response?.["Token"] as string), "unknown")
      const gone = yield* sdkCall(double, "DeleteInstanceToken", { RegistryId: demo.id, TokenId: tokenId })
      assert.strictEqual(gone.code, "ResourceNotFound")
    }))

  it.live("refuses tokens for instances that are missing, in another region, or not running", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const far = double.seedInstance({ name: "far", region: "ap-beijing" })
      const down = double.seedInstance({ name: "down", status: "Unhealthy" })
      assert.strictEqual((yield* sdkCall(double, "CreateInstanceToken", { RegistryId: "tcr-none" })).code, "ResourceNotFound")
      assert.strictEqual((yield* sdkCall(double, "CreateInstanceToken", { RegistryId: far.id })).code, "ResourceNotFound")
      assert.strictEqual(
        (yield* sdkCall(double, "CreateInstanceToken", { RegistryId: down.id })).code,
        "ResourceInsufficient.ErrorInstanceNotRunning"
      )
      double.setInstanceStatus(down.id, "Running")
      assert.isTrue((yield* sdkCall(double, "CreateInstanceToken", { RegistryId: down.id })).ok)
    }))

  it.live("reports VPC links, private DNS status and custom domains as configured", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      const demo = double.seedInstance({ name: "demo", customDomains: [{ domain: "img.tencentcloudcr.com", status: "CREATING" }] })
      double.putVpcLink(demo.id, { vpcId: "vpc-1", accessIp: "10.0.0.9", status: "Creating" })
      double.setVpcLinkStatus(demo.id, "vpc-1", "Running")
      double.setPrivateDns(demo.id, "vpc-1", true)
      const links = yield* sdkCall(double, "DescribeInternalEndpoints", { RegistryId: demo.id })
      assert.deepStrictEqual(links.response?.["AccessVpcSet"], [
        { VpcId: "vpc-1", SubnetId: "subnet-1", Status: "Running", AccessIp: "10.0.0.9" }
      ])
      const dns = yield* sdkCall(double, "DescribeInternalEndpointDnsStatus", {
        VpcSet: [
          { InstanceId: demo.id, VpcId: "vpc-1", EniLBIp: "10.0.0.9", UsePublicDomain: false },
          { InstanceId: demo.id, VpcId: "vpc-1", EniLBIp: "10.0.0.9", UsePublicDomain: true },
          { InstanceId: demo.id, VpcId: "vpc-2", EniLBIp: "10.0.0.9" }
        ]
      })
      assert.deepStrictEqual(
        (dns.response?.["VpcSet"] as Array<{ Status: string }>).map((entry) => entry.Status),
        ["ENABLED", "DISABLED", "ERROR"]
      )
      double.putCustomDomain(demo.id, "other.tencentcloudcr.com")
      double.removeCustomDomain(demo.id, "img.tencentcloudcr.com")
      const domains = yield* sdkCall(double, "DescribeInstanceCustomizedDomain", { RegistryId: demo.id })
      assert.deepStrictEqual(
        (domains.response?.["DomainInfoList"] as Array<Record<string, unknown>>).map((entry) => [
          entry["RegistryId"],
          entry["DomainName"],
          entry["Status"]
        ]),
        [[demo.id, "other.tencentcloudcr.com", "SUCCESS"]]
      )
    }))
})

describe("TCR API double: failure injection", () => {
  it.live("fails the next N calls of an action with the injected code, then recovers", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      double.injectFailure("DescribeInstances", { code: "RequestLimitExceeded", message: "slow down" }, 2)
      const first = yield* sdkCall(double, "DescribeInstances", {})
      assert.strictEqual(first.code, "RequestLimitExceeded")
      assert.strictEqual(first.message, "slow down")
      // Other actions are unaffected.
      assert.strictEqual((yield* sdkCall(double, "DescribeInternalEndpoints", { RegistryId: "x" })).code, "ResourceNotFound")
      assert.strictEqual((yield* sdkCall(double, "DescribeInstances", {})).code, "RequestLimitExceeded")
      assert.isTrue((yield* sdkCall(double, "DescribeInstances", {})).ok)
      assert.deepStrictEqual(double.calls().map((call) => [call.action, call.errorCode]), [
        ["DescribeInstances", "RequestLimitExceeded"],
        ["DescribeInternalEndpoints", "ResourceNotFound"],
        ["DescribeInstances", "RequestLimitExceeded"],
        ["DescribeInstances", undefined]
      ])
    }))

  it.live("injects HTTP statuses, connection resets and wildcard failures, and clears them", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      double.injectFailure("DescribeInstances", { httpStatus: 503 })
      const unavailable = yield* sdkCall(double, "DescribeInstances", {})
      assert.strictEqual(unavailable.httpStatus, 503)
      double.injectFailure("*", { connection: "reset" })
      const reset = yield* sdkCall(double, "DescribeInstanceToken", { RegistryId: "x" })
      assert.isFalse(reset.ok)
      assert.isUndefined(reset.code)
      assert.isUndefined(reset.httpStatus)
      double.injectFailure("*", { code: "InternalError" }, 5)
      double.clearInjectedFailures()
      assert.isTrue((yield* sdkCall(double, "DescribeInstances", {})).ok)
      // Injected failures never bypass authentication.
      double.injectFailure("DescribeInstances", { code: "InternalError" })
      assert.strictEqual(
        (yield* sdkCall(double, "DescribeInstances", {}, { secretKey: "wrong" })).code,
        "AuthFailure.SignatureFailure"
      )
      assert.strictEqual((yield* sdkCall(double, "DescribeInstances", {})).code, "InternalError")
    }))

  it.live("stops listening on close", () =>
    Effect.gen(function*() {
      const double = yield* withDouble()
      yield* Effect.promise(() => double.close())
      const after = yield* sdkCall(double, "DescribeInstances", {})
      assert.isFalse(after.ok)
      assert.include(after.message, "ECONNREFUSED")
    }))
})
