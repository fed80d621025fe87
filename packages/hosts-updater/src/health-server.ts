// The agent's HTTP endpoints: /healthz (the process answers), /readyz (it follows the config) and /metrics (here over
// plain HTTP, or over HTTPS with apiserver authorization on a port of its own).
// Plain node:http rather than Effect's HTTP stack: three fixed routes do not need a router, and the agent runs on
// every node under a 100Mi memory limit, where the extra modules cost more than a tenth of it.
import { serveSecureMetrics } from "@tcr-assistant/kube/metrics-server"
import { prometheusContentType, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { Effect, Layer, Schema } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { trackUpdaterMetrics } from "./updater-metrics.ts"
import { unreadyReasons, UpdaterStatus, type UpdaterSnapshot } from "./updater-status.ts"

export interface HealthServerOptions {
  readonly host: string
  /** 0 picks a free port; the log says which. */
  readonly port: number
  /** Serve /metrics here, over plain HTTP (else it is served securely elsewhere, or not at all). */
  readonly metrics: boolean
}

/** The endpoints could not be served, typically because the port is taken. */
export class HealthServerError extends Schema.TaggedError<HealthServerError>()("HealthServerError", {
  message: Schema.String
}) {
  readonly retryable = false
}

interface Reply {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

const text = (status: number, body: string): Reply => ({ status, contentType: "text/plain; charset=utf-8", body })

/** The answer to one request, from the agent's current snapshot; `metrics` renders a scrape, when served here. */
export const healthReply = (
  method: string,
  path: string,
  snapshot: UpdaterSnapshot,
  now: number,
  metrics: (() => string) | undefined
): Reply => {
  if (method !== "GET" && method !== "HEAD") return text(405, "method not allowed\n")
  switch (path) {
    case "/healthz":
      return text(200, "ok\n")
    case "/readyz": {
      const reasons = unreadyReasons(snapshot, now)
      return reasons.length === 0 ? text(200, "ok\n") : text(503, reasons.map((r) => `not ready: ${r}\n`).join(""))
    }
    case "/metrics":
      return metrics === undefined
        ? text(404, "not found: /metrics is served over HTTPS on the metrics port\n")
        : { status: 200, contentType: prometheusContentType, body: metrics() }
    default:
      return text(404, "not found\n")
  }
}

/** Serves /metrics over HTTPS to callers the apiserver authorizes, for as long as the layer lives. Needs a KubeClient. */
export const SecureMetricsLive = (options: { readonly host: string; readonly port: number }) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    yield* serveSecureMetrics({ ...options, scrape: () => scrapePrometheusUnsafe(context) })
  }))

/** Serves the endpoints for as long as the layer lives. */
export const HealthServerLive = (options: HealthServerOptions) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const status = yield* UpdaterStatus
    yield* trackUpdaterMetrics(status.snapshot)
    const context = yield* Effect.context<never>()
    const scrape = options.metrics ? () => scrapePrometheusUnsafe(context) : undefined
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const path = (request.url ?? "/").split("?")[0] ?? "/"
      let reply: Reply
      try {
        reply = healthReply(request.method ?? "GET", path, status.snapshot(), Date.now(), scrape)
      } catch (error) {
        // A bug in rendering must cost one answer, not the agent.
        reply = text(500, `${error instanceof Error ? error.message : String(error)}\n`)
      }
      response.writeHead(reply.status, { "content-type": reply.contentType, "cache-control": "no-store" })
      response.end(request.method === "HEAD" ? undefined : reply.body)
    })
    yield* Effect.acquireRelease(
      Effect.callback<void, HealthServerError>((resume) => {
        server.once("error", (error) =>
          resume(Effect.fail(new HealthServerError({ message: `listen on ${options.host}:${options.port}: ${error.message}` })))
        )
        server.listen(options.port, options.host, () => resume(Effect.void))
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const address = server.address()
    const where = typeof address === "object" && address !== null ? `${address.address}:${address.port}` : String(address)
    yield* Effect.logInfo(`serving /healthz, /readyz${options.metrics ? " and /metrics" : ""} on ${where}`)
  }))
