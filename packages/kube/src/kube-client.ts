// The Kubernetes API client service: raw JSON requests over one pooled HTTPS connection set, typed errors, and watch
// streams. It is the only module that talks HTTP to the apiserver. @kubernetes/client-node supplies kubeconfig
// loading and authentication (certificates, tokens, exec plugins); inside a pod with no kubeconfig the service
// account is read directly, so a deployed agent never loads client-node (about 90 MB of resident memory).
import type { KubeConfig } from "@kubernetes/client-node"
import { Clock, Context, Effect, Layer, Metric, Stream } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { Agent, request as undiciRequest } from "undici"
import { kubeErrorFromStatus, KubeUnavailable, type KubeError } from "./kube-error.ts"
import { durationBuckets, seriesOf } from "./prometheus.ts"

export type Query = Readonly<Record<string, string | number | boolean | undefined>>

export interface KubeRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly path: string
  readonly query?: Query
  readonly body?: unknown
  /** Content type of the body; PATCH defaults to JSON patch. */
  readonly contentType?: string
  /** What the request does, for error messages, e.g. `create Secret ns/name`. Never include request bodies. */
  readonly what?: string
}

export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  readonly object: any
}

export interface RequestCounts {
  readonly total: number
  readonly byVerb: Readonly<Record<string, number>>
}

export interface KubeClientOptions {
  /** Path of a kubeconfig file; default: the standard loading rules (KUBECONFIG, ~/.kube/config, in-cluster). */
  readonly kubeconfig?: string | undefined
  readonly context?: string | undefined
  /** Most connections kept open to the apiserver. */
  readonly connections?: number | undefined
  /** Where a pod's service account is mounted; default /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir?: string | undefined
}

export class KubeClient extends Context.Service<KubeClient, {
  readonly server: string
  readonly request: <A = any>(request: KubeRequest) => Effect.Effect<A, KubeError>
  /** A single watch connection; ends when the server closes it. Errors surface as failures of the stream. */
  readonly watch: (path: string, query: Query) => Stream.Stream<WatchEvent, KubeError>
  readonly requestCounts: () => RequestCounts
}>()("@tcr-assistant/kube/KubeClient") {
  static readonly layer = (options: KubeClientOptions = {}) => Layer.effect(KubeClient, makeKubeClient(options))
}

export const loadKubeConfig = async (options: KubeClientOptions): Promise<KubeConfig> => {
  const { KubeConfig } = await import("@kubernetes/client-node")
  const config = new KubeConfig()
  if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig)
  else config.loadFromDefault()
  if (options.context !== undefined) config.setCurrentContext(options.context)
  if (config.getCurrentCluster() === null) {
    throw new Error("no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run inside a cluster")
  }
  return config
}

const encodeQuery = (query: Query | undefined): string => {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.set(key, String(value))
  const text = params.toString()
  return text === "" ? "" : `?${text}`
}

const transportError = (what: string, cause: unknown) =>
  new KubeUnavailable({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

const apiserverRequests = Metric.counter("tcr_assistant_apiserver_requests_total", {
  description: "Requests sent to the apiserver, by Kubernetes verb, resource (with /subresource) and HTTP code (<error>: no answer).",
  incremental: true
})
const apiserverLatency = Metric.histogram("tcr_assistant_apiserver_request_duration_seconds", {
  description: "Time from sending a request to the apiserver to its answer (for watches: to the response headers).",
  boundaries: durationBuckets
})

/** The verb and resource of a request the way the apiserver's own metrics and RBAC name them. */
export const requestAttributes = (method: string, path: string): { readonly verb: string; readonly resource: string } => {
  const segments = path.split("?")[0]!.split("/").filter((segment) => segment !== "")
  const rest = segments[0] === "api" ? segments.slice(2) : segments[0] === "apis" ? segments.slice(3) : segments
  const namespaced = rest[0] === "namespaces" && rest.length >= 3
  const [resource = "", name, subresource] = namespaced ? rest.slice(2) : rest
  const named = name !== undefined
  const verb = method === "WATCH"
    ? "watch"
    : method === "GET"
    ? (named ? "get" : "list")
    : method === "POST"
    ? "create"
    : method === "PUT"
    ? "update"
    : method === "PATCH"
    ? "patch"
    : method === "DELETE"
    ? (named ? "delete" : "deletecollection")
    : method.toLowerCase()
  return { verb, resource: subresource === undefined ? resource : `${resource}/${subresource}` }
}

const requestSeries = seriesOf(apiserverRequests)
const latencySeries = seriesOf(apiserverLatency)

/** Count one request and its latency; `code` is the HTTP status, or undefined when none came back. */
const recordRequest = (method: string, path: string, code: number | undefined, started: number) =>
  Effect.map(Effect.context<never>(), (context) => {
    const { verb, resource } = requestAttributes(method, path)
    requestSeries({ verb, resource, code: code === undefined ? "<error>" : String(code) }).updateUnsafe(1, context)
    latencySeries({ verb, resource }).updateUnsafe((performance.now() - started) / 1000, context)
  })

/** Authentication headers are refreshed this often, so rotated service-account tokens are picked up. */
const headerRefreshMillis = 30_000

/** Where and how to reach the apiserver. */
interface Connection {
  readonly server: string
  readonly tls: { ca?: any; cert?: any; key?: any; rejectUnauthorized: boolean; servername?: string }
  readonly headers: () => Promise<Record<string, string>>
}

const defaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

/**
 * The in-cluster connection, when the standard loading rules would pick it: no explicit kubeconfig, no KUBECONFIG,
 * no ~/.kube/config, and a pod's service account mounted.
 */
const inClusterConnection = (options: KubeClientOptions): Connection | undefined => {
  const serviceAccountDir = options.serviceAccountDir ?? defaultServiceAccountDir
  const host = process.env.KUBERNETES_SERVICE_HOST
  const port = process.env.KUBERNETES_SERVICE_PORT
  if (options.kubeconfig !== undefined || options.context !== undefined || process.env.KUBECONFIG) return undefined
  if (existsSync(join(homedir(), ".kube", "config")) || !host || !port || !existsSync(join(serviceAccountDir, "token"))) {
    return undefined
  }
  const ca = readFileSync(join(serviceAccountDir, "ca.crt"))
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    tls: { ca, rejectUnauthorized: true },
    // Bound service-account tokens rotate: read the file again at every refresh.
    headers: async () => ({ authorization: `Bearer ${readFileSync(join(serviceAccountDir, "token"), "utf8").trim()}` })
  }
}

const kubeconfigConnection = async (options: KubeClientOptions): Promise<Connection> => {
  const config = await loadKubeConfig(options)
  const cluster = config.getCurrentCluster()!
  const tlsOptions: { ca?: any; cert?: any; key?: any; rejectUnauthorized?: boolean; headers?: Record<string, any> } = {}
  await config.applyToHTTPSOptions(tlsOptions as any)
  return {
    server: cluster.server.replace(/\/+$/, ""),
    tls: {
      ca: tlsOptions.ca,
      cert: tlsOptions.cert,
      key: tlsOptions.key,
      rejectUnauthorized: cluster.skipTLSVerify ? false : tlsOptions.rejectUnauthorized ?? true,
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {})
    },
    headers: async () => {
      const refreshed: { headers?: Record<string, any> } = {}
      await config.applyToHTTPSOptions(refreshed as any)
      return { ...(refreshed.headers as Record<string, string> | undefined) }
    }
  }
}

export const makeKubeClient = Effect.fn("KubeClient.make")(function*(options: KubeClientOptions) {
  const connection = yield* Effect.tryPromise({
    try: async () => inClusterConnection(options) ?? (await kubeconfigConnection(options)),
    catch: (cause) => new KubeUnavailable({ message: cause instanceof Error ? cause.message : String(cause) })
  })
  const server = connection.server
  const agent = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: 30_000,
    connect: connection.tls
  })
  yield* Effect.addFinalizer(() => Effect.promise(() => agent.close()).pipe(Effect.ignore))

  let headers: Record<string, string> = yield* Effect.tryPromise({
    try: () => connection.headers(),
    catch: (cause) => transportError("load credentials", cause)
  })
  let headersAt = yield* Clock.currentTimeMillis
  /** The credentials to send at `now`, refreshed when they are older than headerRefreshMillis. */
  const authHeaders = async (now: number): Promise<Record<string, string>> => {
    if (now - headersAt > headerRefreshMillis) {
      headers = await connection.headers()
      headersAt = now
    }
    return headers
  }

  const counts: Record<string, number> = {}
  let total = 0
  const count = (verb: string) => {
    total++
    counts[verb] = (counts[verb] ?? 0) + 1
  }

  const request = <A>(req: KubeRequest): Effect.Effect<A, KubeError> => {
    const what = req.what ?? `${req.method} ${req.path}`
    let started = 0
    return Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.tryPromise({
      try: async (signal) => {
        started = performance.now()
        count(req.method)
        const contentType = req.contentType ?? (req.method === "PATCH" ? "application/json-patch+json" : "application/json")
        const response = await undiciRequest(`${server}${req.path}${encodeQuery(req.query)}`, {
          dispatcher: agent,
          method: req.method,
          signal,
          headers: {
            ...(await authHeaders(now)),
            accept: "application/json",
            ...(req.body !== undefined ? { "content-type": contentType } : {})
          },
          body: req.body === undefined ? null : JSON.stringify(req.body),
          headersTimeout: 60_000,
          bodyTimeout: 60_000
        })
        const text = await response.body.text()
        let parsed: unknown = undefined
        try {
          parsed = text === "" ? undefined : JSON.parse(text)
        } catch {
          parsed = undefined
        }
        return { status: response.statusCode, body: parsed }
      },
      catch: (cause) => transportError(what, cause)
    })).pipe(
      Effect.tapError(() => recordRequest(req.method, req.path, undefined, started)),
      Effect.tap(({ status }) => recordRequest(req.method, req.path, status, started)),
      Effect.flatMap(({ status, body }) =>
        status >= 200 && status < 300 ? Effect.succeed(body as A) : Effect.fail(kubeErrorFromStatus(status, body, what))
      )
    )
  }

  const watch = (path: string, query: Query): Stream.Stream<WatchEvent, KubeError> =>
    Stream.unwrap(
      Effect.gen(function*() {
        const controller = new AbortController()
        yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        const what = `watch ${path}`
        const started = performance.now()
        const now = yield* Clock.currentTimeMillis
        const response = yield* Effect.tryPromise({
          try: async () => {
            count("WATCH")
            return await undiciRequest(`${server}${path}${encodeQuery({ ...query, watch: true })}`, {
              dispatcher: agent,
              method: "GET",
              signal: controller.signal,
              headers: { ...(await authHeaders(now)), accept: "application/json" },
              headersTimeout: 60_000,
              // A watch is quiet for as long as nothing changes; the caller bounds it with timeoutSeconds.
              bodyTimeout: 0
            })
          },
          catch: (cause) => transportError(what, cause)
        }).pipe(Effect.tapError(() => recordRequest("WATCH", path, undefined, started)))
        yield* recordRequest("WATCH", path, response.statusCode, started)
        if (response.statusCode !== 200) {
          const text = yield* Effect.promise(() => response.body.text().catch(() => ""))
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch {
            body = undefined
          }
          return yield* Effect.fail(kubeErrorFromStatus(response.statusCode, body, what))
        }
        // Aborting the request on scope close errors the body; the iterator below ends, so the event is expected.
        response.body.on("error", () => {})
        const lines = createInterface({ input: response.body, crlfDelay: Infinity })
        lines.on("error", () => {})
        return Stream.fromAsyncIterable(lines, (cause) => transportError(what, cause)).pipe(
          Stream.filter((line) => line.trim() !== ""),
          Stream.mapEffect((line) =>
            Effect.try({
              try: () => JSON.parse(line) as WatchEvent,
              catch: (cause) => transportError(`${what}: undecodable event`, cause)
            })
          )
        )
      })
    )

  return KubeClient.of({
    server,
    request,
    watch,
    requestCounts: () => ({ total, byVerb: { ...counts } })
  })
})
