// Owns the controller-manager's probe endpoints, over plain HTTP: /healthz (the process answers), /readyz (every
// readiness check passes; `?verbose` lists them the way kube-apiserver does), and /metrics when it is not served
// securely on a port of its own (kube/metrics-server.ts).
import type { InformerHealth } from "@tcr-assistant/kube"
import { Effect, Schema } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { prometheusContentType } from "@tcr-assistant/kube/prometheus"

export interface HealthCheck {
  readonly name: string
  /** undefined when healthy, else why not. */
  readonly check: () => string | undefined
}

export interface HealthEndpoints {
  readonly liveness: ReadonlyArray<HealthCheck>
  readonly readiness: ReadonlyArray<HealthCheck>
  /** Plain-HTTP /metrics; undefined when metrics are served securely elsewhere. */
  readonly metrics?: (() => string) | undefined
}

export interface HealthServerOptions {
  /** Default 0.0.0.0. */
  readonly host?: string | undefined
  /** Default 8080; 0 picks a free port. */
  readonly port?: number | undefined
}

export class HealthServerError extends Schema.TaggedError<HealthServerError>()("HealthServerError", {
  message: Schema.String
}) {
  readonly retryable = false
}

export interface StalenessLimits {
  /** A watch that has been down (restarting) this long makes the informer stale; default 30 s. */
  readonly watchDownMillis?: number | undefined
  /** No list, event or bookmark for this long makes it stale even if the connection looks open; default 10 min. */
  readonly silentMillis?: number | undefined
}

/** Why an informer's cache cannot be trusted right now, or undefined when it can. */
export const informerProblem = (health: InformerHealth, now: number, limits: StalenessLimits = {}): string | undefined => {
  const since = Math.round((now - health.lastEventAt) / 1000)
  if (!health.synced) return "cache not synced yet"
  if (!health.watching && now - health.lastEventAt > (limits.watchDownMillis ?? 30_000)) return `watch down, last event ${since}s ago`
  if (now - health.lastEventAt > (limits.silentMillis ?? 600_000)) return `no watch event for ${since}s`
  return undefined
}

interface Reply {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

const plain = (status: number, body: string): Reply => ({ status, contentType: "text/plain; charset=utf-8", body })

const runChecks = (checks: ReadonlyArray<HealthCheck>, verbose: boolean): Reply => {
  const results = checks.map((check) => {
    let problem: string | undefined
    try {
      problem = check.check()
    } catch (error) {
      problem = `check failed: ${error instanceof Error ? error.message : String(error)}`
    }
    return { name: check.name, problem }
  })
  const failed = results.filter((result) => result.problem !== undefined)
  const lines = results.map((result) => (result.problem === undefined ? `[+]${result.name} ok` : `[-]${result.name} failed: ${result.problem}`))
  if (failed.length === 0) return plain(200, verbose ? `${lines.join("\n")}\nok\n` : "ok\n")
  return plain(503, `${lines.join("\n")}\nnot ready\n`)
}

/** The answer to one request. */
export const healthReply = (method: string, url: string, endpoints: HealthEndpoints): Reply => {
  if (method !== "GET" && method !== "HEAD") return plain(405, "method not allowed\n")
  const [path, query = ""] = url.split("?")
  const verbose = new URLSearchParams(query).has("verbose")
  switch (path) {
    case "/healthz":
    case "/livez":
      return runChecks(endpoints.liveness, verbose)
    case "/readyz":
      return runChecks(endpoints.readiness, verbose)
    case "/metrics":
      return endpoints.metrics === undefined
        ? plain(404, "not found: /metrics is served over HTTPS on the metrics port\n")
        : { status: 200, contentType: prometheusContentType, body: endpoints.metrics() }
    default:
      return plain(404, "not found\n")
  }
}

/** Serve the endpoints in the current scope; returns the port actually bound. */
export const startHealthServer = Effect.fn("HealthServer.start")(function*(options: HealthServerOptions, endpoints: HealthEndpoints) {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let reply: Reply
    try {
      reply = healthReply(request.method ?? "GET", request.url ?? "/", endpoints)
    } catch (error) {
      reply = plain(500, `${error instanceof Error ? error.message : String(error)}\n`)
    }
    response.writeHead(reply.status, { "content-type": reply.contentType, "cache-control": "no-store" })
    response.end(request.method === "HEAD" ? undefined : reply.body)
  })
  const host = options.host ?? "0.0.0.0"
  const port = options.port ?? 8080
  yield* Effect.acquireRelease(
    Effect.callback<void, HealthServerError>((resume) => {
      server.once("error", (error) => resume(Effect.fail(new HealthServerError({ message: `listen on ${host}:${port}: ${error.message}` }))))
      server.listen(port, host, () => resume(Effect.void))
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  const bound = (server.address() as AddressInfo).port
  yield* Effect.logInfo(endpoints.metrics === undefined ? "serving /healthz and /readyz" : "serving /healthz, /readyz and /metrics").pipe(
    Effect.annotateLogs({ port: bound })
  )
  return bound
})
