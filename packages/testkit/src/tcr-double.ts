// A local stand-in for the Tencent Cloud TCR API (2019-09-24) on 127.0.0.1: the real wire protocol and signature
// checks over in-memory instances, VPC links, custom domains and tokens, with a typed control API for tests.
//
// Protocol, as tcr.tencentcloudapi.com speaks it: JSON POST to "/", the action in X-TC-Action, X-TC-Version,
// X-TC-Region, X-TC-Timestamp (unix seconds) and an optional X-TC-Token (STS session token), a TC3-HMAC-SHA256
// Authorization header, and HTTP 200 answers of `{ Response: { ..., RequestId } }` or
// `{ Response: { Error: { Code, Message }, RequestId } }`. Request fields are checked against each action's documented
// parameters, so a misspelt field fails with UnknownParameter as it would in the cloud.
//
// The endpoint is `http://tcr.localhost:<port>`: the SDK names the signing service after the host's first label.
// Clients must resolve `tcr.localhost` to 127.0.0.1 themselves (RFC 6761; glibc does not) - @tcr-assistant/tcr does.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export const tcrDoubleApiVersion = "2019-09-24"

/** The instance states DescribeInstances reports; only Running serves pulls and issues tokens. */
export type DoubleInstanceStatus =
  | "Running"
  | "Pending"
  | "Deploying"
  | "Unhealthy"
  | "FailedCreated"
  | "Isolate"
  | "Deleting"

export type DoubleVpcLinkStatus = "Running" | "Creating" | "Deleting" | "Failed"

export interface DoubleVpcLink {
  readonly vpcId: string
  readonly subnetId: string
  readonly accessIp: string
  readonly status: DoubleVpcLinkStatus
}

export interface DoubleCustomDomain {
  readonly domain: string
  readonly certId: string
  /** SUCCESS, FAILURE, CREATING or DELETING. */
  readonly status: string
}

/** A snapshot of one instance. */
export interface DoubleInstance {
  readonly id: string
  readonly name: string
  readonly region: string
  readonly status: DoubleInstanceStatus
  readonly registryType: string
  readonly createdAt: Date
  /** `<name>.tencentcloudcr.com`. */
  readonly defaultDomain: string
  /** `<name>-vpc.tencentcloudcr.com`. */
  readonly privateDomain: string
  readonly customDomains: ReadonlyArray<DoubleCustomDomain>
  readonly vpcLinks: ReadonlyArray<DoubleVpcLink>
}

/** A snapshot of one issued token (temporary ones included, which the API itself never lists). */
export interface DoubleToken {
  /** The long-term token ID; temporary tokens get an internal ID the API never reveals. */
  readonly id: string
  readonly instanceId: string
  readonly type: "longterm" | "temp"
  readonly username: string
  readonly token: string
  readonly description: string
  readonly enabled: boolean
  readonly createdAt: Date
  readonly expiresAt: Date
}

export interface SeedInstance {
  /** Default: a fresh `tcr-xxxxxxxx`. */
  readonly id?: string
  readonly name: string
  /** Default: the double's default region. */
  readonly region?: string
  /** Default: Running. */
  readonly status?: DoubleInstanceStatus
  readonly registryType?: string
  readonly customDomains?: ReadonlyArray<string | (Partial<DoubleCustomDomain> & { readonly domain: string })>
  readonly vpcLinks?: ReadonlyArray<Partial<DoubleVpcLink> & { readonly vpcId: string; readonly accessIp: string }>
}

/** What an injected failure does to a matching call. */
export type InjectedFailure =
  /** Answer with this API error (HTTP 200 with the error envelope), e.g. "RequestLimitExceeded". */
  | { readonly code: string; readonly message?: string }
  /** Answer with this HTTP status and no envelope, like a failing gateway. */
  | { readonly httpStatus: number }
  /** Close the connection without answering. */
  | { readonly connection: "reset" }

/** One request the double answered, for tests that must count attempts. */
export interface RecordedCall {
  readonly action: string
  readonly region: string
  /** The error code answered, or undefined for a success. */
  readonly errorCode: string | undefined
  readonly requestId: string
}

export type TokenCheck = "valid" | "expired" | "disabled" | "unknown"

export interface TcrDoubleOptions {
  readonly secretId?: string
  readonly secretKey?: string
  /** When set, every request must carry it as X-TC-Token (STS temporary credentials). */
  readonly sessionToken?: string
  /** The account UIN, which CreateInstanceToken returns as the user name. */
  readonly uin?: string
  readonly defaultRegion?: string
  /** Lifetime of temporary tokens; the API's is one hour. */
  readonly tempTokenLifetimeMillis?: number
  /** Lifetime of long-term tokens; the API's is ten years. */
  readonly longTermTokenLifetimeMillis?: number
  /** Port on 127.0.0.1; default 0, a free one. */
  readonly port?: number
  /** Called with every request answered, as it is recorded. */
  readonly onCall?: (call: RecordedCall) => void
}

export interface TcrDouble {
  /** `http://tcr.localhost:<port>`, for TcrApiOptions.endpoint. */
  readonly endpoint: string
  readonly port: number
  readonly secretId: string
  readonly secretKey: string
  readonly sessionToken: string | undefined
  readonly uin: string
  seedInstance(seed: SeedInstance): DoubleInstance
  setInstanceStatus(instanceId: string, status: DoubleInstanceStatus): void
  removeInstance(instanceId: string): void
  /** Adds a VPC link, or replaces the one with the same VPC ID. */
  putVpcLink(
    instanceId: string,
    link: Partial<DoubleVpcLink> & { readonly vpcId: string; readonly accessIp: string }
  ): void
  setVpcLinkStatus(instanceId: string, vpcId: string, status: DoubleVpcLinkStatus): void
  removeVpcLink(instanceId: string, vpcId: string): void
  /** Whether Tencent Cloud private DNS resolves the instance's default (or `-vpc`) domain in a VPC. */
  setPrivateDns(instanceId: string, vpcId: string, enabled: boolean, options?: { readonly usePublicDomain?: boolean }): void
  putCustomDomain(instanceId: string, domain: string | (Partial<DoubleCustomDomain> & { readonly domain: string })): void
  removeCustomDomain(instanceId: string, domain: string): void
  instance(instanceId: string): DoubleInstance | undefined
  instances(): ReadonlyArray<DoubleInstance>
  /** Every token issued and not deleted, optionally of one instance. */
  tokens(instanceId?: string): ReadonlyArray<DoubleToken>
  /** What a registry would say to `docker login -u username -p token` right now. */
  checkToken(username: string, token: string): TokenCheck
  setTokenLifetime(lifetime: { readonly tempMillis?: number; readonly longTermMillis?: number }): void
  /**
   * The account's CAM policy stops allowing these actions: every call of one answers UnauthorizedOperation, as the
   * API does for a sub-account whose policy lacks `tcr:<action>`. Replaces the previous denial list.
   */
  denyActions(actions: ReadonlyArray<string>): void
  /** Disables or enables a long-term token, as the console's switch does. */
  setTokenEnabled(tokenId: string, enabled: boolean): void
  /** The next `times` calls of `action` ("*" for any action) fail this way, after the signature has been checked. */
  injectFailure(action: string, failure: InjectedFailure, times?: number): void
  clearInjectedFailures(): void
  /** Moves the double's clock: a positive skew makes the caller's timestamps look that far in the past. */
  setClockSkew(millis: number): void
  /** Every request answered so far, oldest first. */
  calls(): ReadonlyArray<RecordedCall>
  close(): Promise<void>
}

// The request parameters of each action, from the API reference and tencentcloud-sdk-nodejs tcr_models.d.ts.
type Spec =
  | "string"
  | "int"
  | "boolean"
  | { readonly array: Spec }
  | { readonly object: Readonly<Record<string, Field>> }
interface Field {
  readonly spec: Spec
  readonly required: boolean
}
const req = (spec: Spec): Field => ({ spec, required: true })
const opt = (spec: Spec): Field => ({ spec, required: false })

interface ApiError {
  readonly code: string
  readonly message: string
}

const validate = (fields: Readonly<Record<string, Field>>, value: unknown, path: string): ApiError | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { code: "InvalidParameter", message: `${path === "" ? "The request body" : path} must be an object.` }
  }
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!(key in fields)) {
      return { code: "UnknownParameter", message: `The parameter \`${path}${key}\` is not recognized.` }
    }
  }
  for (const [key, field] of Object.entries(fields)) {
    const present = record[key]
    if (present === undefined || present === null) {
      if (field.required) {
        return { code: "MissingParameter", message: `The request is missing a required parameter \`${path}${key}\`.` }
      }
      continue
    }
    const problem = check(field.spec, present, `${path}${key}`)
    if (problem !== undefined) return problem
  }
  return undefined
}

const check = (spec: Spec, value: unknown, path: string): ApiError | undefined => {
  const wrongType = (type: string): ApiError => ({
    code: "InvalidParameter",
    message: `The value of parameter \`${path}\` must be of type ${type}.`
  })
  if (spec === "string") return typeof value === "string" ? undefined : wrongType("String")
  if (spec === "int") return Number.isInteger(value) ? undefined : wrongType("Integer")
  if (spec === "boolean") return typeof value === "boolean" ? undefined : wrongType("Boolean")
  if ("array" in spec) {
    if (!Array.isArray(value)) return wrongType("Array")
    for (const [index, item] of value.entries()) {
      const problem = check(spec.array, item, `${path}.${index}`)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  return validate(spec.object, value, `${path}.`)
}

const paging = { Limit: opt("int"), Offset: opt("int") }

const actionParameters: Readonly<Record<string, Readonly<Record<string, Field>>>> = {
  DescribeInstances: {
    Registryids: opt({ array: "string" }),
    ...paging,
    Filters: opt({ array: { object: { Name: req("string"), Values: req({ array: "string" }) } } }),
    AllRegion: opt("boolean")
  },
  CreateInstanceToken: { RegistryId: req("string"), TokenType: opt("string"), Desc: opt("string") },
  DescribeInstanceToken: { RegistryId: req("string"), ...paging },
  DeleteInstanceToken: { RegistryId: req("string"), TokenId: req("string") },
  ModifyInstanceToken: {
    RegistryId: req("string"),
    TokenId: req("string"),
    Enable: opt("boolean"),
    Desc: opt("string"),
    ModifyFlag: opt("int")
  },
  DescribeInternalEndpoints: { RegistryId: req("string") },
  DescribeInternalEndpointDnsStatus: {
    VpcSet: req({
      array: {
        object: {
          InstanceId: req("string"),
          VpcId: req("string"),
          EniLBIp: req("string"),
          UsePublicDomain: opt("boolean"),
          RegionName: opt("string")
        }
      }
    })
  },
  DescribeInstanceCustomizedDomain: { RegistryId: req("string"), ...paging }
}

// Region IDs as DescribeInstances reports them in RegionId, for the regions the double knows.
const regionIds: Readonly<Record<string, number>> = {
  "ap-guangzhou": 1,
  "ap-shanghai": 4,
  "ap-hongkong": 5,
  "na-toronto": 6,
  "ap-shanghai-fsi": 7,
  "ap-beijing": 8,
  "ap-singapore": 9,
  "ap-shenzhen-fsi": 11,
  "na-siliconvalley": 15,
  "ap-chengdu": 16,
  "eu-frankfurt": 17,
  "ap-seoul": 18,
  "ap-chongqing": 19,
  "ap-mumbai": 21,
  "na-ashburn": 22,
  "ap-bangkok": 23,
  "ap-tokyo": 25,
  "ap-nanjing": 33,
  "sa-saopaulo": 74,
  "ap-jakarta": 72
}

interface InstanceState {
  id: string
  name: string
  region: string
  status: DoubleInstanceStatus
  registryType: string
  createdAt: Date
  customDomains: Array<DoubleCustomDomain>
  vpcLinks: Array<DoubleVpcLink>
  /** `${vpcId}/${usePublicDomain}` -> enabled. */
  privateDns: Map<string, boolean>
}

interface TokenState {
  id: string
  instanceId: string
  type: "longterm" | "temp"
  username: string
  token: string
  description: string
  enabled: boolean
  createdAt: Date
  expiresAt: Date
}

interface Injection {
  readonly action: string
  readonly failure: InjectedFailure
  remaining: number
}

type Outcome =
  | { readonly ok: Record<string, unknown> }
  | { readonly error: ApiError }

const signatureWindowSeconds = 300

const sha256Hex = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex")
const hmac = (key: string | Buffer, data: string): Buffer => createHmac("sha256", key).update(data).digest()
const utcDate = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString().slice(0, 10)
const randomId = (prefix: string, length: number): string => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  const bytes = randomBytes(length)
  return prefix + Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join("")
}
const isoSeconds = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, "Z")

const readBody = (request: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

/** The request body as JSON, or undefined when it is not JSON (the handler path reports that). */
const parsedBody = (body: Buffer): unknown => {
  try {
    return JSON.parse(body.toString("utf8"))
  } catch {
    return undefined
  }
}

const headerOf = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** Starts the double on a free port of 127.0.0.1. */
export const startTcrDouble = async (options: TcrDoubleOptions = {}): Promise<TcrDouble> => {
  const secretId = options.secretId ?? `AKID${randomBytes(16).toString("hex")}`
  const secretKey = options.secretKey ?? randomBytes(24).toString("base64url")
  const sessionToken = options.sessionToken
  const uin = options.uin ?? "100012345678"
  const defaultRegion = options.defaultRegion ?? "ap-guangzhou"
  let tempLifetime = options.tempTokenLifetimeMillis ?? 3_600_000
  let longTermLifetime = options.longTermTokenLifetimeMillis ?? 3650 * 86_400_000
  let skewMillis = 0
  const instances = new Map<string, InstanceState>()
  const tokens = new Map<string, TokenState>()
  const injections: Array<Injection> = []
  let denied = new Set<string>()
  const recorded: Array<RecordedCall> = []
  const record = (call: RecordedCall) => {
    recorded.push(call)
    options.onCall?.(call)
  }
  const now = (): number => Date.now() + skewMillis

  const instanceOrThrow = (instanceId: string): InstanceState => {
    const instance = instances.get(instanceId)
    if (instance === undefined) throw new Error(`tcr double: no instance ${instanceId}`)
    return instance
  }

  const snapshot = (instance: InstanceState): DoubleInstance => ({
    id: instance.id,
    name: instance.name,
    region: instance.region,
    status: instance.status,
    registryType: instance.registryType,
    createdAt: instance.createdAt,
    defaultDomain: `${instance.name}.tencentcloudcr.com`,
    privateDomain: `${instance.name}-vpc.tencentcloudcr.com`,
    customDomains: instance.customDomains.map((domain) => ({ ...domain })),
    vpcLinks: instance.vpcLinks.map((link) => ({ ...link }))
  })

  const customDomainOf = (domain: string | (Partial<DoubleCustomDomain> & { readonly domain: string })) => {
    const spec = typeof domain === "string" ? { domain } : domain
    return {
      domain: spec.domain.toLowerCase(),
      certId: spec.certId ?? randomId("cert-", 8),
      status: spec.status ?? "SUCCESS"
    }
  }
  const vpcLinkOf = (link: Partial<DoubleVpcLink> & { readonly vpcId: string; readonly accessIp: string }) => ({
    vpcId: link.vpcId,
    subnetId: link.subnetId ?? `subnet-${link.vpcId.replace(/^vpc-/, "")}`,
    accessIp: link.accessIp,
    status: link.status ?? "Running"
  })

  /** The instance named by an instance-scoped request, if it exists in the request's region. */
  const instanceInRegion = (region: string, instanceId: string): InstanceState | ApiError => {
    const instance = instances.get(instanceId)
    if (instance === undefined || instance.region !== region) {
      return {
        code: "ResourceNotFound",
        message: `The instance ${instanceId} does not exist in region ${region}.`
      }
    }
    return instance
  }
  const isError = (value: InstanceState | ApiError): value is ApiError => "code" in value

  const page = <A>(items: ReadonlyArray<A>, body: Record<string, unknown>, defaultLimit: number) => {
    const offset = (body["Offset"] as number | undefined) ?? 0
    const limit = (body["Limit"] as number | undefined) ?? defaultLimit
    if (offset < 0) return { code: "InvalidParameter", message: "Offset must not be negative." } satisfies ApiError
    if (limit < 1 || limit > 100) {
      return { code: "InvalidParameter", message: "Limit must be between 1 and 100." } satisfies ApiError
    }
    return items.slice(offset, offset + limit)
  }

  const handlers: Readonly<Record<string, (region: string, body: Record<string, unknown>) => Outcome>> = {
    DescribeInstances: (region, body) => {
      const ids = body["Registryids"] as ReadonlyArray<string> | undefined
      const filters = (body["Filters"] ?? []) as ReadonlyArray<{ Name: string; Values: ReadonlyArray<string> }>
      for (const filter of filters) {
        if (filter.Name !== "RegistryName" && filter.Name !== "RegistryId") {
          return { error: { code: "InvalidParameter", message: `Unsupported filter \`${filter.Name}\`.` } }
        }
      }
      const matching = [...instances.values()].filter((instance) =>
        (body["AllRegion"] === true || instance.region === region) &&
        (ids === undefined || ids.length === 0 || ids.includes(instance.id)) &&
        filters.every((filter) => filter.Values.includes(filter.Name === "RegistryName" ? instance.name : instance.id))
      )
      const selected = page(matching, body, 20)
      if (!Array.isArray(selected)) return { error: selected }
      return {
        ok: {
          TotalCount: matching.length,
          Registries: selected.map((instance) => ({
            RegistryId: instance.id,
            RegistryName: instance.name,
            RegistryType: instance.registryType,
            Status: instance.status,
            PublicDomain: `${instance.name}.tencentcloudcr.com`,
            CreatedAt: isoSeconds(instance.createdAt),
            RegionName: instance.region,
            RegionId: regionIds[instance.region] ?? 0,
            EnableAnonymous: false,
            TokenValidTime: Math.round(tempLifetime / 3_600_000),
            InternalEndpoint: instance.vpcLinks[0]?.accessIp ?? "",
            TagSpecification: null,
            ExpiredAt: "",
            PayMod: 0,
            RenewFlag: 0,
            DeletionProtection: false
          }))
        }
      }
    },

    CreateInstanceToken: (region, body) => {
      const instance = instanceInRegion(region, body["RegistryId"] as string)
      if (isError(instance)) return { error: instance }
      const type = (body["TokenType"] as string | undefined) ?? "temp"
      if (type !== "temp" && type !== "longterm") {
        return { error: { code: "InvalidParameter", message: "TokenType must be `longterm` or `temp`." } }
      }
      if (instance.status !== "Running") {
        return {
          error: {
            code: "ResourceInsufficient.ErrorInstanceNotRunning",
            message: `The instance ${instance.id} is ${instance.status}, not Running.`
          }
        }
      }
      const createdAt = new Date(now())
      const token: TokenState = {
        id: type === "longterm" ? randomId("", 20) : randomId("temp-", 20),
        instanceId: instance.id,
        type,
        username: uin,
        token: `${randomBytes(24).toString("base64url")}.${randomBytes(48).toString("base64url")}`,
        description: (body["Desc"] as string | undefined) ?? "",
        enabled: true,
        createdAt,
        expiresAt: new Date(createdAt.getTime() + (type === "temp" ? tempLifetime : longTermLifetime))
      }
      tokens.set(token.id, token)
      return {
        ok: {
          Username: token.username,
          Token: token.token,
          ExpTime: token.expiresAt.getTime(),
          TokenId: type === "longterm" ? token.id : ""
        }
      }
    },

    DescribeInstanceToken: (region, body) => {
      const instance = instanceInRegion(region, body["RegistryId"] as string)
      if (isError(instance)) return { error: instance }
      const longTerm = [...tokens.values()].filter((token) => token.instanceId === instance.id && token.type === "longterm")
      const selected = page(longTerm, body, 20)
      if (!Array.isArray(selected)) return { error: selected }
      return {
        ok: {
          TotalCount: longTerm.length,
          Tokens: selected.map((token) => ({
            Id: token.id,
            Desc: token.description,
            RegistryId: token.instanceId,
            Enabled: token.enabled,
            CreatedAt: isoSeconds(token.createdAt),
            ExpiredAt: token.expiresAt.getTime()
          }))
        }
      }
    },

    DeleteInstanceToken: (region, body) => {
      const instance = instanceInRegion(region, body["RegistryId"] as string)
      if (isError(instance)) return { error: instance }
      const tokenId = body["TokenId"] as string
      const token = tokens.get(tokenId)
      if (token === undefined || token.instanceId !== instance.id || token.type !== "longterm") {
        return { error: { code: "ResourceNotFound", message: `The token ${tokenId} does not exist.` } }
      }
      tokens.delete(tokenId)
      return { ok: {} }
    },

    ModifyInstanceToken: (region, body) => {
      const instance = instanceInRegion(region, body["RegistryId"] as string)
      if (isError(instance)) return { error: instance }
      const tokenId = body["TokenId"] as string
      const token = tokens.get(tokenId)
      if (token === undefined || token.instanceId !== instance.id || token.type !== "longterm") {
        return { error: { code: "ResourceNotFound", message: `The token ${tokenId} does not exist.` } }
      }
      // ModifyFlag 1 changes the description; 2 (the default) enables or disables the token.
      const flag = (body["ModifyFlag"] as number | undefined) ?? 2
      if (flag === 1) {
        const description = body["Desc"] as string | undefined
        if (description === undefined) {
          return { error: { code: "InvalidParameter", message: "Desc is required when ModifyFlag is 1." } }
        }
        token.description = description
        return { ok: {} }
      }
      if (flag === 2) {
        const enable = body["Enable"] as boolean | undefined
        if (enable === undefined) {
          return { error: { code: "InvalidParameter", message: "Enable is required when ModifyFlag is 2." } }
        }
        token.enabled = enable
        return { ok: {} }
      }
      return { error: { code: "InvalidParameterValue", message: `ModifyFlag must be 1 or 2, not ${flag}.` } }
    },

    DescribeInternalEndpoints: (region, body) => {
      const instance = instanceInRegion(region, body["RegistryId"] as string)
      if (isError(instance)) return { error: instance }
      return {
        ok: {
          AccessVpcSet: instance.vpcLinks.map((link) => ({
            VpcId: link.vpcId,
            SubnetId: link.subnetId,
            Status: link.status,
            AccessIp: link.accessIp
          })),
          TotalCount: instance.vpcLinks.length
        }
      }
    },

    DescribeInternalEndpointDnsStatus: (region, body) => {
      const entries = body["VpcSet"] as ReadonlyArray<{
        InstanceId: string
        VpcId: string
        EniLBIp: string
        UsePublicDomain?: boolean
        RegionName?: string
      }>
      const results: Array<Record<string, unknown>> = []
      for (const entry of entries) {
        const instance = instanceInRegion(region, entry.InstanceId)
        if (isError(instance)) return { error: instance }
        const link = instance.vpcLinks.find((candidate) => candidate.vpcId === entry.VpcId)
        const enabled = instance.privateDns.get(`${entry.VpcId}/${entry.UsePublicDomain === true}`) ?? false
        results.push({
          Region: entry.RegionName ?? instance.region,
          VpcId: entry.VpcId,
          Status: link === undefined || link.accessIp !== entry.EniLBIp ? "ERROR" : enabled ? "ENABLED" : "DISABLED"
        })
      }
      return { ok: { VpcSet: results } }
    },

    DescribeInstanceCustomizedDomain: (region, body) => {
      const instance = instanceInRegion(region, body["RegistryId"] as string)
      if (isError(instance)) return { error: instance }
      const selected = page(instance.customDomains, body, 20)
      if (!Array.isArray(selected)) return { error: selected }
      return {
        ok: {
          DomainInfoList: selected.map((domain) => ({
            RegistryId: instance.id,
            CertId: domain.certId,
            DomainName: domain.domain,
            Status: domain.status
          })),
          TotalCount: instance.customDomains.length
        }
      }
    }
  }

  /** Checks the TC3-HMAC-SHA256 signature the way the API does; returns the error to answer, if any. */
  const authenticate = (request: IncomingMessage, body: Buffer): ApiError | undefined => {
    const authorization = headerOf(request, "authorization") ?? ""
    const match = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/tc3_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/
      .exec(authorization)
    if (match === null) {
      return { code: "AuthFailure.SignatureFailure", message: "The Authorization header is missing or malformed." }
    }
    const [, credentialId, date, service, signedHeaders, signature] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
      string
    ]
    const timestamp = Number(headerOf(request, "x-tc-timestamp"))
    if (!Number.isInteger(timestamp)) {
      return { code: "MissingParameter", message: "The request is missing a required parameter `Timestamp`." }
    }
    const nowSeconds = Math.floor(now() / 1000)
    if (Math.abs(nowSeconds - timestamp) > signatureWindowSeconds) {
      return {
        code: "AuthFailure.SignatureExpire",
        message: `Signature expired. Timestamp: ${timestamp}, server time: ${nowSeconds}; they must be within five minutes.`
      }
    }
    if (credentialId !== secretId) {
      return { code: "AuthFailure.SecretIdNotFound", message: "The SecretId is not found, please ensure it exists." }
    }
    if (service !== "tcr" || date !== utcDate(timestamp)) {
      return {
        code: "AuthFailure.SignatureFailure",
        message: "The provided credentials could not be validated: the credential scope does not match."
      }
    }
    const headerNames = signedHeaders.split(";")
    if (!headerNames.includes("host") || !headerNames.includes("content-type")) {
      return { code: "AuthFailure.SignatureFailure", message: "SignedHeaders must include content-type and host." }
    }
    // The SDK signs the URL's host name without the port; the public endpoint never has one.
    const canonicalHeaders = headerNames.map((name) => {
      const raw = headerOf(request, name) ?? ""
      const value = name === "host" ? raw.replace(/:\d+$/, "") : raw
      return `${name}:${value.trim().toLowerCase()}\n`
    }).join("")
    const canonicalRequest = [
      request.method ?? "",
      "/",
      "",
      canonicalHeaders,
      signedHeaders,
      sha256Hex(body)
    ].join("\n")
    const scope = `${date}/${service}/tc3_request`
    const stringToSign = ["TC3-HMAC-SHA256", String(timestamp), scope, sha256Hex(canonicalRequest)].join("\n")
    const signingKey = hmac(hmac(hmac(`TC3${secretKey}`, date), service), "tc3_request")
    const expected = Buffer.from(hmac(signingKey, stringToSign).toString("hex"))
    const given = Buffer.from(signature)
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return {
        code: "AuthFailure.SignatureFailure",
        message: "The provided credentials could not be validated. Please check your signature is correct."
      }
    }
    const token = headerOf(request, "x-tc-token")
    if (token !== sessionToken) {
      return { code: "AuthFailure.TokenFailure", message: "The session token is invalid or missing." }
    }
    return undefined
  }

  const takeInjection = (action: string): InjectedFailure | undefined => {
    const index = injections.findIndex((injection) => injection.action === action || injection.action === "*")
    if (index < 0) return undefined
    const injection = injections[index]!
    injection.remaining -= 1
    if (injection.remaining <= 0) injections.splice(index, 1)
    return injection.failure
  }

  const answer = (response: ServerResponse, traceId: string | undefined, payload: Record<string, unknown>) => {
    response.statusCode = 200
    response.setHeader("Content-Type", "application/json")
    if (traceId !== undefined) response.setHeader("X-TC-TraceId", traceId)
    response.end(JSON.stringify({ Response: payload }))
  }

  const serve = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request)
    const requestId = randomUUID()
    const traceId = headerOf(request, "x-tc-traceid")
    const action = headerOf(request, "x-tc-action") ?? ""
    const region = headerOf(request, "x-tc-region") ?? ""
    const fail = (error: ApiError) => {
      record({ action, region, errorCode: error.code, requestId })
      answer(response, traceId, { Error: { Code: error.code, Message: error.message }, RequestId: requestId })
    }
    if (request.method !== "POST" || (request.url ?? "/") !== "/") {
      return fail({ code: "UnsupportedProtocol", message: "Only POST to / is supported by this endpoint." })
    }
    if (!(headerOf(request, "content-type") ?? "").toLowerCase().startsWith("application/json")) {
      return fail({ code: "InvalidParameter", message: "Content-Type must be application/json." })
    }
    const authFailure = authenticate(request, body)
    if (authFailure !== undefined) return fail(authFailure)
    if (headerOf(request, "x-tc-version") !== tcrDoubleApiVersion) {
      return fail({ code: "NoSuchVersion", message: "The requested API version does not exist for TCR." })
    }
    const handler = handlers[action]
    const parameters = actionParameters[action]
    if (handler === undefined || parameters === undefined) {
      return fail({ code: "InvalidAction", message: `The requested action \`${action}\` does not exist.` })
    }
    if (region === "") {
      return fail({ code: "MissingParameter", message: "The request is missing a required parameter `Region`." })
    }
    if (regionIds[region] === undefined && ![...instances.values()].some((instance) => instance.region === region)) {
      return fail({ code: "UnsupportedRegion", message: `The region \`${region}\` is not supported.` })
    }
    if (denied.has(action)) {
      const registryId = (parsedBody(body) as { RegistryId?: unknown } | undefined)?.RegistryId
      const instanceId = typeof registryId === "string" ? registryId : "*"
      return fail({
        code: "UnauthorizedOperation",
        message: `You are not authorized to perform operation (tcr:${action}). Check if you have been granted the permission (tcr:${action}) on resource (qcs::tcr:${region}:uin/${uin}:instance/${instanceId}).`
      })
    }
    const injected = takeInjection(action)
    if (injected !== undefined) {
      if ("connection" in injected) {
        record({ action, region, errorCode: "ConnectionReset", requestId })
        request.socket.destroy()
        return
      }
      if ("httpStatus" in injected) {
        record({ action, region, errorCode: `HTTP ${injected.httpStatus}`, requestId })
        response.statusCode = injected.httpStatus
        response.setHeader("Content-Type", "text/plain")
        response.end("injected failure")
        return
      }
      return fail({ code: injected.code, message: injected.message ?? `Injected failure ${injected.code}.` })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString("utf8"))
    } catch {
      return fail({ code: "InvalidParameter", message: "The request body is not valid JSON." })
    }
    const invalid = validate(parameters, parsed, "")
    if (invalid !== undefined) return fail(invalid)
    const outcome = handler(region, parsed as Record<string, unknown>)
    if ("error" in outcome) return fail(outcome.error)
    record({ action, region, errorCode: undefined, requestId })
    answer(response, traceId, { ...outcome.ok, RequestId: requestId })
  }

  const server: Server = createServer((request, response) => {
    serve(request, response).catch((error: unknown) => {
      response.statusCode = 500
      response.end(String(error))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined

  return {
    endpoint: `http://tcr.localhost:${port}`,
    port,
    secretId,
    secretKey,
    sessionToken,
    uin,
    seedInstance: (seed) => {
      const name = seed.name.toLowerCase()
      const id = seed.id ?? randomId("tcr-", 8)
      const state: InstanceState = {
        id,
        name,
        region: seed.region ?? defaultRegion,
        status: seed.status ?? "Running",
        registryType: seed.registryType ?? "standard",
        createdAt: new Date(now()),
        customDomains: (seed.customDomains ?? []).map(customDomainOf),
        vpcLinks: (seed.vpcLinks ?? []).map(vpcLinkOf),
        privateDns: new Map()
      }
      instances.set(id, state)
      return snapshot(state)
    },
    setInstanceStatus: (instanceId, status) => {
      instanceOrThrow(instanceId).status = status
    },
    removeInstance: (instanceId) => {
      instances.delete(instanceId)
      for (const [id, token] of tokens) if (token.instanceId === instanceId) tokens.delete(id)
    },
    putVpcLink: (instanceId, link) => {
      const instance = instanceOrThrow(instanceId)
      instance.vpcLinks = [...instance.vpcLinks.filter((existing) => existing.vpcId !== link.vpcId), vpcLinkOf(link)]
    },
    setVpcLinkStatus: (instanceId, vpcId, status) => {
      const instance = instanceOrThrow(instanceId)
      instance.vpcLinks = instance.vpcLinks.map((link) => (link.vpcId === vpcId ? { ...link, status } : link))
    },
    removeVpcLink: (instanceId, vpcId) => {
      const instance = instanceOrThrow(instanceId)
      instance.vpcLinks = instance.vpcLinks.filter((link) => link.vpcId !== vpcId)
    },
    setPrivateDns: (instanceId, vpcId, enabled, dnsOptions) => {
      instanceOrThrow(instanceId).privateDns.set(`${vpcId}/${dnsOptions?.usePublicDomain === true}`, enabled)
    },
    putCustomDomain: (instanceId, domain) => {
      const instance = instanceOrThrow(instanceId)
      const added = customDomainOf(domain)
      instance.customDomains = [
        ...instance.customDomains.filter((existing) => existing.domain !== added.domain),
        added
      ]
    },
    removeCustomDomain: (instanceId, domain) => {
      const instance = instanceOrThrow(instanceId)
      instance.customDomains = instance.customDomains.filter((existing) => existing.domain !== domain.toLowerCase())
    },
    instance: (instanceId) => {
      const instance = instances.get(instanceId)
      return instance === undefined ? undefined : snapshot(instance)
    },
    instances: () => [...instances.values()].map(snapshot),
    tokens: (instanceId) =>
      [...tokens.values()]
        .filter((token) => instanceId === undefined || token.instanceId === instanceId)
        .map((token) => ({ ...token })),
    checkToken: (username, token) => {
      const found = [...tokens.values()].find((candidate) => candidate.token === token)
      if (found === undefined || found.username !== username) return "unknown"
      if (!found.enabled) return "disabled"
      return found.expiresAt.getTime() <= now() ? "expired" : "valid"
    },
    setTokenLifetime: (lifetime) => {
      if (lifetime.tempMillis !== undefined) tempLifetime = lifetime.tempMillis
      if (lifetime.longTermMillis !== undefined) longTermLifetime = lifetime.longTermMillis
    },
    injectFailure: (action, failure, times = 1) => {
      injections.push({ action, failure, remaining: times })
    },
    denyActions: (actions) => {
      denied = new Set(actions)
    },
    setTokenEnabled: (tokenId, enabled) => {
      const token = tokens.get(tokenId)
      if (token === undefined) throw new Error(`tcr double: no token ${tokenId}`)
      token.enabled = enabled
    },
    clearInjectedFailures: () => {
      injections.length = 0
    },
    setClockSkew: (millis) => {
      skewMillis = millis
    },
    calls: () => [...recorded],
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)))
        server.closeAllConnections()
      })
      return closing
    }
  }
}

/** The double for the life of a Scope, e.g. an `it.effect` test or a test layer. */
export const tcrDoubleScoped = (options: TcrDoubleOptions = {}): Effect.Effect<TcrDouble, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startTcrDouble(options)),
    (double) => Effect.promise(() => double.close())
  )
