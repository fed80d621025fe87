// The Kubernetes API client service: raw JSON requests over one pooled HTTPS connection set, typed errors, and watch
// streams. It is the only module that talks HTTP to the apiserver; @kubernetes/client-node supplies kubeconfig
// loading and authentication (certificates, tokens, exec plugins, in-cluster service account).
import { KubeConfig } from "@kubernetes/client-node"
import { Context, Effect, Layer, Stream } from "effect"
import { createInterface } from "node:readline"
import { Agent, request as undiciRequest } from "undici"
import { kubeErrorFromStatus, KubeUnavailable, type KubeError } from "./kube-error.ts"

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

export const loadKubeConfig = (options: KubeClientOptions): KubeConfig => {
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

/** Authentication headers are refreshed this often, so rotated service-account tokens are picked up. */
const headerRefreshMillis = 30_000

export const makeKubeClient = Effect.fn("KubeClient.make")(function*(options: KubeClientOptions) {
  const config = yield* Effect.try({
    try: () => loadKubeConfig(options),
    catch: (cause) => new KubeUnavailable({ message: cause instanceof Error ? cause.message : String(cause) })
  })
  const cluster = config.getCurrentCluster()!
  const server = cluster.server.replace(/\/+$/, "")
  const tlsOptions: { ca?: any; cert?: any; key?: any; rejectUnauthorized?: boolean; headers?: Record<string, any> } = {}
  yield* Effect.tryPromise({
    try: () => config.applyToHTTPSOptions(tlsOptions as any),
    catch: (cause) => transportError("load credentials from kubeconfig", cause)
  })
  const agent = new Agent({
    connections: options.connections ?? 64,
    keepAliveTimeout: 30_000,
    connect: {
      ca: tlsOptions.ca,
      cert: tlsOptions.cert,
      key: tlsOptions.key,
      rejectUnauthorized: cluster.skipTLSVerify ? false : tlsOptions.rejectUnauthorized ?? true,
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {})
    }
  })
  yield* Effect.addFinalizer(() => Effect.promise(() => agent.close()).pipe(Effect.ignore))

  let headers: Record<string, string> = { ...(tlsOptions.headers as Record<string, string> | undefined) }
  let headersAt = Date.now()
  const authHeaders = async (): Promise<Record<string, string>> => {
    if (Date.now() - headersAt > headerRefreshMillis) {
      const refreshed: { headers?: Record<string, any> } = {}
      await config.applyToHTTPSOptions(refreshed as any)
      headers = { ...(refreshed.headers as Record<string, string> | undefined) }
      headersAt = Date.now()
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
    return Effect.tryPromise({
      try: async (signal) => {
        count(req.method)
        const contentType = req.contentType ?? (req.method === "PATCH" ? "application/json-patch+json" : "application/json")
        const response = await undiciRequest(`${server}${req.path}${encodeQuery(req.query)}`, {
          dispatcher: agent,
          method: req.method,
          signal,
          headers: {
            ...(await authHeaders()),
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
    }).pipe(
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
        const response = yield* Effect.tryPromise({
          try: async () => {
            count("WATCH")
            return await undiciRequest(`${server}${path}${encodeQuery({ ...query, watch: true })}`, {
              dispatcher: agent,
              method: "GET",
              signal: controller.signal,
              headers: { ...(await authHeaders()), accept: "application/json" },
              headersTimeout: 60_000,
              // A watch is quiet for as long as nothing changes; the caller bounds it with timeoutSeconds.
              bodyTimeout: 0
            })
          },
          catch: (cause) => transportError(what, cause)
        })
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
