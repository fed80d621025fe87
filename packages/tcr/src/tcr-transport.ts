// How a TCR API call leaves the process: the endpoint, the connection agent (proxy policy, loopback resolution) and
// one signed request through the official SDK's CommonClient, with its failure reduced to plain data.
//
// Two properties of tencentcloud-sdk-nodejs-common shape this module:
// - It sends every request through `http_proxy` from the environment unless it is given an agent, and it has no
//   NO_PROXY support. We therefore always pass our own agent, and use a proxy only when one is configured explicitly
//   (and never for a loopback endpoint).
// - It derives the TC3 signing service name from the first label of the endpoint host. A local endpoint must
//   therefore be reached by a name such as `tcr.localhost`; RFC 6761 reserves `.localhost` names for loopback, but
//   glibc's resolver does not implement that, so our agent resolves them to 127.0.0.1 itself.
import * as Http from "node:http"
import * as Https from "node:https"
import type { LookupFunction } from "node:net"
import { Redacted } from "effect"
import { CommonClient } from "tencentcloud-sdk-nodejs-common"
import type { TcrCredentials } from "./tcr-credentials.ts"
import type { RawFailure } from "./tcr-errors.ts"
import { tcrApiVersion } from "./tcr-wire.ts"

/** The public TCR API endpoint. */
export const defaultTcrEndpoint = "https://tcr.tencentcloudapi.com"

/** A parsed endpoint: protocol plus `host[:port]`, as the SDK wants them. */
export interface TcrEndpoint {
  readonly protocol: "http://" | "https://"
  /** `host[:port]`. */
  readonly host: string
  readonly hostname: string
  /** True for `localhost`, `*.localhost` and 127.0.0.0/8: resolved to 127.0.0.1 and never proxied. */
  readonly loopback: boolean
}

/**
 * Parses `https://tcr.tencentcloudapi.com`, `tcr.tencentcloudapi.com` or `http://tcr.localhost:8080`.
 * Returns a reason string when the endpoint cannot work (bad URL, a path, or a first host label other than `tcr`).
 */
export const parseEndpoint = (endpoint: string): TcrEndpoint | string => {
  const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    return `"${endpoint}" is not a URL`
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `"${endpoint}" must use http or https`
  if (url.pathname !== "/" || url.search !== "" || url.username !== "" || url.password !== "") {
    return `"${endpoint}" must be a bare origin such as https://tcr.tencentcloudapi.com`
  }
  const hostname = url.hostname.toLowerCase()
  if (hostname.split(".")[0] !== "tcr") {
    return `the host of "${endpoint}" must start with "tcr.": the API signature names the service after that label`
  }
  const loopback = hostname === "localhost" || hostname.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(hostname)
  return { protocol: url.protocol === "http:" ? "http://" : "https://", host: url.host, hostname, loopback }
}

const loopbackLookup: LookupFunction = (_hostname, options, callback) => {
  if (options.all === true) {
    ;(callback as unknown as (err: null, addresses: ReadonlyArray<{ address: string; family: number }>) => void)(
      null,
      [{ address: "127.0.0.1", family: 4 }]
    )
  } else {
    callback(null, "127.0.0.1", 4)
  }
}

/** The agent every call of one service instance shares; destroy it when the service is released. */
export const makeAgent = (endpoint: TcrEndpoint): Http.Agent => {
  const options: Http.AgentOptions = { keepAlive: true, ...(endpoint.loopback ? { lookup: loopbackLookup } : {}) }
  return endpoint.protocol === "http://" ? new Http.Agent(options) : new Https.Agent(options)
}

/** Everything fixed for the life of the service. */
export interface TransportSettings {
  readonly endpoint: TcrEndpoint
  /** Our agent, or undefined when `proxy` is used (the SDK then builds its own proxy agent). */
  readonly agent: Http.Agent | undefined
  readonly proxy: string | undefined
  readonly requestTimeoutSeconds: number
}

/** The outcome of one HTTP exchange: the `Response` object of a success, or what went wrong. */
export type Exchange =
  | { readonly _tag: "Success"; readonly response: unknown }
  | { readonly _tag: "Failure"; readonly failure: RawFailure }

const failureOf = (error: unknown): RawFailure => {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    readonly code?: unknown
    readonly httpCode?: unknown
    readonly message?: unknown
    readonly requestId?: unknown
  }
  return {
    code: typeof e.code === "string" && e.code !== "" ? e.code : undefined,
    httpStatus: typeof e.httpCode === "number" ? e.httpCode : undefined,
    message: typeof e.message === "string" ? e.message : String(error),
    requestId: typeof e.requestId === "string" && e.requestId !== "" ? e.requestId : undefined
  }
}

/** Sends one signed API request. Never rejects: failures come back as data. */
export const exchange = async (
  settings: TransportSettings,
  credentials: TcrCredentials,
  region: string,
  action: string,
  body: unknown,
  signal: AbortSignal
): Promise<Exchange> => {
  try {
    const client = new CommonClient(settings.endpoint.host, tcrApiVersion, {
      credential: {
        secretId: Redacted.value(credentials.secretId),
        secretKey: Redacted.value(credentials.secretKey),
        ...(credentials.sessionToken._tag === "Some" ? { token: Redacted.value(credentials.sessionToken.value) } : {})
      },
      region,
      profile: {
        signMethod: "TC3-HMAC-SHA256",
        httpProfile: {
          reqMethod: "POST",
          protocol: settings.endpoint.protocol,
          reqTimeout: settings.requestTimeoutSeconds,
          ...(settings.agent === undefined ? {} : { agent: settings.agent }),
          ...(settings.proxy === undefined ? {} : { proxy: settings.proxy })
        }
      }
    })
    const response: unknown = await client.request(action, body, { signal })
    return { _tag: "Success", response }
  } catch (error) {
    return { _tag: "Failure", failure: failureOf(error) }
  }
}
