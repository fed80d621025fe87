// The TcrApi service: the TCR Enterprise API (2019-09-24) actions the add-on needs, typed, decoded and retried.
//
// Transport is tencentcloud-sdk-nodejs-common (CommonClient), not the full tencentcloud-sdk-nodejs: the common core
// carries the same TC3-HMAC-SHA256 signing and HTTP transport in about 150 KB, while the full SDK is 49 MB of
// clients for every Tencent Cloud product, which would dominate the controller image. What the full SDK adds for us
// is only typings; we replace them with effect/Schema definitions of the few actions we call (tcr-wire.ts), which
// also decode responses at runtime instead of trusting them.
//
// Every call names its credentials and region, because one controller serves ImagePullSecrets that may point at
// different accounts and regions. Retryable failures (rate limits, internal errors, no response) are retried here
// with capped, jittered exponential backoff; callers see only the final outcome.
import { Context, Duration, Effect, Layer, type Redacted, Schema } from "effect"
import { type TcrCredentials, unusableApiKeyMessage } from "./tcr-credentials.ts"
import { defaultDomainOf } from "./tcr-domains.ts"
import { classifyFailure, scrubSecrets, TcrAuthError, type TcrError, TcrNotFoundError, TcrResponseError } from "./tcr-errors.ts"
import { defaultRetryPolicy, retrySchedule, type TcrRetryPolicy } from "./tcr-retry.ts"
import { defaultTcrEndpoint, exchange, makeAgent, parseEndpoint, type TransportSettings } from "./tcr-transport.ts"
import { measureTcrCall } from "./tcr-metrics.ts"
import * as Wire from "./tcr-wire.ts"

/** Whose account and which region a call is made in. */
export interface TcrTarget {
  readonly credentials: TcrCredentials
  /** A Tencent Cloud region such as "ap-guangzhou". */
  readonly region: string
}

/** A TCR Enterprise instance as DescribeInstances reports it. */
export interface TcrInstance {
  readonly id: string
  readonly name: string
  /** Running, Pending, Deploying, Unhealthy, FailedCreated, Isolate, Deleting, ... Only Running serves pulls. */
  readonly status: string
  readonly region: string
  /** The default domain, `<name>.tencentcloudcr.com`. */
  readonly publicDomain: string
  readonly registryType: string | undefined
  readonly internalEndpoint: string | undefined
  readonly createdAt: string | undefined
}

/** A token just issued by CreateInstanceToken: the docker login user name and password for the instance. */
export interface IssuedToken {
  readonly type: Wire.TokenType
  readonly username: string
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: Date
  /** Set for long-term tokens (DeleteInstanceToken needs it); temporary tokens have none. */
  readonly tokenId: string | undefined
}

/** A long-term token as DescribeInstanceToken lists it (the token value itself is never listed). */
export interface LongTermToken {
  readonly id: string
  readonly instanceId: string
  readonly description: string
  readonly enabled: boolean
  readonly createdAt: string | undefined
  readonly expiresAt: Date | undefined
}

/** A private-network access link between the instance and a VPC. */
export interface VpcLink {
  readonly vpcId: string
  readonly subnetId: string
  /** "Running" when usable; "Creating", "Deleting", "Failed", ... otherwise. */
  readonly status: string
  /** The private IP that the instance's domains resolve to inside this VPC. */
  readonly accessIp: string
  readonly running: boolean
}

/** Whether Tencent Cloud private DNS already resolves the instance's domain inside a VPC. */
export interface VpcDnsStatus {
  readonly vpcId: string
  readonly region: string | undefined
  /** As reported: ENABLE(D), DISABLE(D) or ERROR. */
  readonly status: string
  readonly enabled: boolean
}

/** A custom domain bound to the instance. */
export interface CustomDomain {
  readonly instanceId: string
  readonly domain: string
  readonly certId: string | undefined
  /** SUCCESS, FAILURE, CREATING or DELETING. */
  readonly status: string
}

export interface CreateInstanceTokenInput extends TcrTarget {
  readonly instanceId: string
  /** "longterm" for the credential the add-on distributes; "temp" (about an hour) for tokens the controller renews. */
  readonly tokenType: Wire.TokenType
  /** The TKE cluster the token is for; gives the default description. */
  readonly clusterId?: string | undefined
  /** Overrides the default description `TKE cluster (<cluster id>) dedicated access credential`. */
  readonly description?: string | undefined
}

export interface DnsStatusQuery {
  readonly instanceId: string
  readonly vpcId: string
  /** The VPC link's private IP (VpcLink.accessIp). */
  readonly accessIp: string
  /** true: the default domain; false: the dedicated `-vpc` domain. */
  readonly usePublicDomain?: boolean | undefined
  readonly region?: string | undefined
}

/** The description Tencent's console add-on gives the cluster's long-term credential. */
export const defaultTokenDescription = (clusterId: string): string =>
  `TKE cluster (${clusterId}) dedicated access credential`

export interface TcrApiOptions {
  /** API origin; default https://tcr.tencentcloudapi.com. The host's first label must be `tcr`. */
  readonly endpoint?: string | undefined
  /**
   * An HTTP(S) proxy URL for the API. Proxy environment variables are deliberately not read here (the SDK would
   * honour `http_proxy` without NO_PROXY); the program's edge decides and passes the proxy explicitly. Ignored for
   * loopback endpoints.
   */
  readonly proxy?: string | undefined
  /** Per-request timeout; default 30 seconds. */
  readonly requestTimeout?: Duration.Input | undefined
  readonly retry?: Partial<TcrRetryPolicy> | undefined
}

/** The service options cannot work (for instance an endpoint whose host does not start with `tcr.`). */
export class TcrConfigError extends Schema.TaggedError<TcrConfigError>()("TcrConfigError", {
  message: Schema.String
}) {}

const pageSize = 100

const orUndefined = <A>(value: A | null | undefined): A | undefined => (value === null ? undefined : value)

const instanceOf = (registry: Wire.Registry, region: string): TcrInstance => ({
  id: registry.RegistryId,
  name: registry.RegistryName,
  status: registry.Status,
  region: orUndefined(registry.RegionName) ?? region,
  publicDomain: defaultDomainOf({ name: registry.RegistryName, publicDomain: orUndefined(registry.PublicDomain) }),
  registryType: orUndefined(registry.RegistryType),
  internalEndpoint: orUndefined(registry.InternalEndpoint),
  createdAt: orUndefined(registry.CreatedAt)
})

const dateOfMillis = (millis: number | null | undefined): Date | undefined =>
  millis === null || millis === undefined || millis <= 0 ? undefined : new Date(millis)

const makeTcrApi = Effect.fnUntraced(function*(options: TcrApiOptions) {
  const endpoint = parseEndpoint(options.endpoint ?? defaultTcrEndpoint)
  if (typeof endpoint === "string") {
    return yield* new TcrConfigError({ message: `invalid TCR API endpoint: ${endpoint}` })
  }
  const proxy = endpoint.loopback ? undefined : options.proxy
  const agent = proxy === undefined
    ? yield* Effect.acquireRelease(Effect.sync(() => makeAgent(endpoint)), (agent) => Effect.sync(() => agent.destroy()))
    : undefined
  const settings: TransportSettings = {
    endpoint,
    agent,
    proxy,
    requestTimeoutSeconds: Math.max(1, Math.ceil(Duration.toSeconds(options.requestTimeout ?? "30 seconds")))
  }
  const schedule = retrySchedule({ ...defaultRetryPolicy, ...options.retry })

  /** One action, decoded, with retries; `instanceId` only serves error reporting. */
  const call = <Request, Response>(
    action: Wire.TcrAction<Request, Response>,
    target: TcrTarget,
    body: Request,
    instanceId: string | undefined
  ): Effect.Effect<Response, TcrError> => {
    const context = {
      action: action.name,
      region: target.region,
      instanceId,
      secrets: target.credentials.secretValues()
    }
    const decode = Schema.decodeUnknownEffect(action.response)
    // A request that does not match its own schema is a bug here, not a condition callers can handle.
    const encoded = Schema.encodeEffect(action.request)(body).pipe(Effect.orDie)
    const attempt = encoded.pipe(
      Effect.flatMap((wireBody) =>
        Effect.promise((signal) => exchange(settings, target.credentials, target.region, action.name, wireBody, signal))
      ),
      Effect.flatMap((result): Effect.Effect<Response, TcrError> => {
        if (result._tag === "Failure") return Effect.fail(classifyFailure(result.failure, context))
        return decode(result.response).pipe(
          Effect.tap(() =>
            Effect.logDebug("TCR API call succeeded").pipe(
              Effect.annotateLogs({
                action: action.name,
                region: target.region,
                requestId: String((result.response as { RequestId?: unknown } | null)?.RequestId ?? "")
              })
            )
          ),
          Effect.mapError((issue) =>
            new TcrResponseError({
              action: action.name,
              code: "UnexpectedResponse",
              message: `TCR ${action.name} in ${target.region}: the response does not have the documented shape: ${
                scrubSecrets(issue.message, context.secrets)
              }`
            })
          )
        )
      })
    )
    // Keys that cannot go into a header would fail in the HTTP client with a message quoting the signed header.
    const unusable = target.credentials.unusableField()
    if (unusable !== undefined) {
      return Effect.fail(new TcrAuthError({
        action: action.name,
        code: "InvalidCredentials",
        message: `TCR ${action.name} in ${target.region}: the API key's ${unusableApiKeyMessage(unusable)}`
      }))
    }
    return measureTcrCall(action.name, attempt).pipe(
      Effect.retry(schedule),
      Effect.withSpan(`TcrApi.${action.name}`, { attributes: { "tcr.region": target.region } })
    )
  }

  const describeInstances = Effect.fn("TcrApi.describeInstances")(function*(
    request: TcrTarget & { readonly instanceIds?: ReadonlyArray<string> | undefined }
  ) {
    const found: Array<TcrInstance> = []
    for (let offset = 0;; offset += pageSize) {
      const page = yield* call(
        Wire.DescribeInstances,
        request,
        {
          ...(request.instanceIds === undefined ? {} : { Registryids: request.instanceIds }),
          Offset: offset,
          Limit: pageSize
        },
        request.instanceIds?.[0]
      )
      const registries = page.Registries ?? []
      for (const registry of registries) found.push(instanceOf(registry, request.region))
      const total = page.TotalCount ?? found.length
      if (registries.length === 0 || found.length >= total) return found
    }
  })

  const getInstance = Effect.fn("TcrApi.getInstance")(function*(
    request: TcrTarget & { readonly instanceId: string }
  ) {
    const instances = yield* describeInstances({ ...request, instanceIds: [request.instanceId] })
    const instance = instances.find((candidate) => candidate.id === request.instanceId)
    if (instance === undefined) {
      return yield* new TcrNotFoundError({
        action: "DescribeInstances",
        code: "ResourceNotFound",
        message: `TCR instance ${request.instanceId} does not exist in region ${request.region}`,
        region: request.region,
        instanceId: request.instanceId
      })
    }
    return instance
  })

  const createInstanceToken = Effect.fn("TcrApi.createInstanceToken")(function*(request: CreateInstanceTokenInput) {
    const description = request.description ??
      (request.clusterId === undefined ? undefined : defaultTokenDescription(request.clusterId))
    const response = yield* call(
      Wire.CreateInstanceToken,
      request,
      {
        RegistryId: request.instanceId,
        TokenType: request.tokenType,
        ...(description === undefined ? {} : { Desc: description })
      },
      request.instanceId
    )
    const username = orUndefined(response.Username)
    if (username === undefined || username === "") {
      return yield* new TcrResponseError({
        action: "CreateInstanceToken",
        code: "UnexpectedResponse",
        message: `TCR CreateInstanceToken in ${request.region}: the response carries no Username`,
        requestId: response.RequestId
      })
    }
    const tokenId = orUndefined(response.TokenId)
    return {
      type: request.tokenType,
      username,
      token: response.Token,
      expiresAt: new Date(response.ExpTime),
      tokenId: tokenId === "" ? undefined : tokenId
    } satisfies IssuedToken
  })

  const describeInstanceTokens = Effect.fn("TcrApi.describeInstanceTokens")(function*(
    request: TcrTarget & { readonly instanceId: string }
  ) {
    const found: Array<LongTermToken> = []
    for (let offset = 0;; offset += pageSize) {
      const page = yield* call(
        Wire.DescribeInstanceToken,
        request,
        { RegistryId: request.instanceId, Offset: offset, Limit: pageSize },
        request.instanceId
      )
      const tokens = page.Tokens ?? []
      for (const token of tokens) {
        found.push({
          id: token.Id,
          instanceId: token.RegistryId,
          description: orUndefined(token.Desc) ?? "",
          enabled: token.Enabled,
          createdAt: orUndefined(token.CreatedAt),
          expiresAt: dateOfMillis(token.ExpiredAt)
        })
      }
      const total = page.TotalCount ?? found.length
      if (tokens.length === 0 || found.length >= total) return found
    }
  })

  const deleteInstanceToken = Effect.fn("TcrApi.deleteInstanceToken")(function*(
    request: TcrTarget & { readonly instanceId: string; readonly tokenId: string }
  ) {
    yield* call(
      Wire.DeleteInstanceToken,
      request,
      { RegistryId: request.instanceId, TokenId: request.tokenId },
      request.instanceId
    )
  })

  const modifyInstanceTokenDescription = Effect.fn("TcrApi.modifyInstanceTokenDescription")(function*(
    request: TcrTarget & { readonly instanceId: string; readonly tokenId: string; readonly description: string }
  ) {
    yield* call(
      Wire.ModifyInstanceToken,
      request,
      { RegistryId: request.instanceId, TokenId: request.tokenId, Desc: request.description, ModifyFlag: 1 },
      request.instanceId
    )
  })

  const describeInternalEndpoints = Effect.fn("TcrApi.describeInternalEndpoints")(function*(
    request: TcrTarget & { readonly instanceId: string }
  ) {
    const response = yield* call(
      Wire.DescribeInternalEndpoints,
      request,
      { RegistryId: request.instanceId },
      request.instanceId
    )
    return (response.AccessVpcSet ?? []).map((link): VpcLink => {
      const status = orUndefined(link.Status) ?? ""
      return {
        vpcId: orUndefined(link.VpcId) ?? "",
        subnetId: orUndefined(link.SubnetId) ?? "",
        status,
        accessIp: orUndefined(link.AccessIp) ?? "",
        running: status === "Running"
      }
    })
  })

  const describeInternalEndpointDnsStatus = Effect.fn("TcrApi.describeInternalEndpointDnsStatus")(function*(
    request: TcrTarget & { readonly queries: ReadonlyArray<DnsStatusQuery> }
  ) {
    if (request.queries.length === 0) return []
    const response = yield* call(
      Wire.DescribeInternalEndpointDnsStatus,
      request,
      {
        VpcSet: request.queries.map((query) => ({
          InstanceId: query.instanceId,
          VpcId: query.vpcId,
          EniLBIp: query.accessIp,
          ...(query.usePublicDomain === undefined ? {} : { UsePublicDomain: query.usePublicDomain }),
          ...(query.region === undefined ? {} : { RegionName: query.region })
        }))
      },
      request.queries[0]?.instanceId
    )
    return (response.VpcSet ?? []).map((entry): VpcDnsStatus => {
      const status = orUndefined(entry.Status) ?? ""
      return {
        vpcId: orUndefined(entry.VpcId) ?? "",
        region: orUndefined(entry.Region),
        status,
        enabled: status.toUpperCase().startsWith("ENABLE")
      }
    })
  })

  const describeCustomizedDomains = Effect.fn("TcrApi.describeCustomizedDomains")(function*(
    request: TcrTarget & { readonly instanceId: string }
  ) {
    const found: Array<CustomDomain> = []
    for (let offset = 0;; offset += pageSize) {
      const page = yield* call(
        Wire.DescribeInstanceCustomizedDomain,
        request,
        { RegistryId: request.instanceId, Offset: offset, Limit: pageSize },
        request.instanceId
      )
      const domains = page.DomainInfoList ?? []
      for (const domain of domains) {
        found.push({
          instanceId: domain.RegistryId,
          domain: domain.DomainName.toLowerCase(),
          certId: orUndefined(domain.CertId),
          status: domain.Status
        })
      }
      const total = page.TotalCount ?? found.length
      if (domains.length === 0 || found.length >= total) return found
    }
  })

  return TcrApi.of({
    describeInstances,
    getInstance,
    createInstanceToken,
    describeInstanceTokens,
    deleteInstanceToken,
    modifyInstanceTokenDescription,
    describeInternalEndpoints,
    describeInternalEndpointDnsStatus,
    describeCustomizedDomains
  })
})

export class TcrApi extends Context.Service<TcrApi, {
  /** DescribeInstances in the target region; all instances when `instanceIds` is absent. */
  readonly describeInstances: (
    request: TcrTarget & { readonly instanceIds?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<TcrInstance>, TcrError>
  /** One instance; fails with TcrNotFoundError when the region has no instance with that ID. */
  readonly getInstance: (
    request: TcrTarget & { readonly instanceId: string }
  ) => Effect.Effect<TcrInstance, TcrError>
  /** CreateInstanceToken. */
  readonly createInstanceToken: (request: CreateInstanceTokenInput) => Effect.Effect<IssuedToken, TcrError>
  /** DescribeInstanceToken: every long-term token of the instance (all pages). */
  readonly describeInstanceTokens: (
    request: TcrTarget & { readonly instanceId: string }
  ) => Effect.Effect<ReadonlyArray<LongTermToken>, TcrError>
  /** DeleteInstanceToken; a token that is already gone fails with TcrNotFoundError. */
  readonly deleteInstanceToken: (
    request: TcrTarget & { readonly instanceId: string; readonly tokenId: string }
  ) => Effect.Effect<void, TcrError>
  /** ModifyInstanceToken with ModifyFlag 1: a long-term token's description, changed in place. */
  readonly modifyInstanceTokenDescription: (
    request: TcrTarget & { readonly instanceId: string; readonly tokenId: string; readonly description: string }
  ) => Effect.Effect<void, TcrError>
  /** DescribeInternalEndpoints: the instance's VPC access links. */
  readonly describeInternalEndpoints: (
    request: TcrTarget & { readonly instanceId: string }
  ) => Effect.Effect<ReadonlyArray<VpcLink>, TcrError>
  /** DescribeInternalEndpointDnsStatus for each queried VPC link. */
  readonly describeInternalEndpointDnsStatus: (
    request: TcrTarget & { readonly queries: ReadonlyArray<DnsStatusQuery> }
  ) => Effect.Effect<ReadonlyArray<VpcDnsStatus>, TcrError>
  /** DescribeInstanceCustomizedDomain: every custom domain of the instance (all pages). */
  readonly describeCustomizedDomains: (
    request: TcrTarget & { readonly instanceId: string }
  ) => Effect.Effect<ReadonlyArray<CustomDomain>, TcrError>
}>()("@tcr-assistant/tcr/TcrApi") {
  /** The service with explicit options (endpoint override, proxy, timeouts, retry policy). */
  static layerWith(options: TcrApiOptions): Layer.Layer<TcrApi, TcrConfigError> {
    return Layer.effect(TcrApi, makeTcrApi(options))
  }

  /** The service against the public endpoint, no proxy, default timeouts and retries. */
  static readonly layer: Layer.Layer<TcrApi, TcrConfigError> = TcrApi.layerWith({})
}
