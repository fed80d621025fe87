// Owns serving /metrics the way kubebuilder's `--metrics-secure` does: HTTPS with a self-signed certificate made at
// start, every caller authenticated by a TokenReview of its bearer token and authorized by a SubjectAccessReview for
// `get` on the nonResourceURL /metrics; decisions are cached briefly so a scrape every few seconds costs no apiserver
// round trip.
import { Clock, Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { createServer } from "node:https"
import type { AddressInfo } from "node:net"
import { hostname } from "node:os"
import { KubeClient } from "./kube-client.ts"
import type { KubeError } from "./kube-error.ts"
import { prometheusContentType } from "./prometheus.ts"

export const metricsPath = "/metrics"

/** Where both programs serve secure metrics by default: kubebuilder's port. */
export const defaultSecureMetricsPort = 8443

/** How a program serves /metrics. */
export interface MetricsServingOptions {
  /** HTTPS with apiserver authentication and authorization; otherwise plain HTTP beside the probes. Default false. */
  readonly secure?: boolean | undefined
  /** Of the secure server; default 0.0.0.0:8443. */
  readonly host?: string | undefined
  readonly port?: number | undefined
}

export interface SecureMetricsOptions {
  readonly host: string
  /** 0 picks a free port; the log says which. */
  readonly port: number
  /** The exposition of one scrape. */
  readonly scrape: () => string
  /** How long an allowed (or refused) caller is remembered; default 60 s and 10 s. */
  readonly allowedTtlMillis?: number | undefined
  readonly deniedTtlMillis?: number | undefined
}

export class MetricsServerError extends Schema.TaggedError<MetricsServerError>()("MetricsServerError", {
  message: Schema.String
}) {
  readonly retryable = false
}

/** What the apiserver says about one caller. */
export type MetricsAccess =
  | { readonly _tag: "Unauthenticated"; readonly reason: string }
  | { readonly _tag: "Forbidden"; readonly user: string; readonly reason: string }
  | { readonly _tag: "Allowed"; readonly user: string }

interface TokenReviewStatus {
  readonly authenticated?: boolean
  readonly error?: string
  readonly user?: {
    readonly username?: string
    readonly uid?: string
    readonly groups?: ReadonlyArray<string>
    readonly extra?: Readonly<Record<string, ReadonlyArray<string>>>
  }
}

/** The bearer token of an Authorization header, or undefined. */
export const bearerToken = (authorization: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")
  return match?.[1]
}

/** Ask the apiserver who holds `token` and whether they may `get` /metrics. Never logs or returns the token. */
export const reviewMetricsAccess = Effect.fn("MetricsServer.reviewAccess")(function*(token: string) {
  const client = yield* KubeClient
  const review = yield* client.request<{ readonly status?: TokenReviewStatus }>({
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/tokenreviews",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
    what: "review the bearer token of a /metrics request"
  })
  const status = review.status ?? {}
  if (status.authenticated !== true || status.user?.username === undefined) {
    const access: MetricsAccess = { _tag: "Unauthenticated", reason: status.error ?? "the token is not valid" }
    return access
  }
  const user = status.user
  const decision = yield* client.request<{ readonly status?: { readonly allowed?: boolean; readonly reason?: string } }>({
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: user.username,
        ...(user.uid === undefined ? {} : { uid: user.uid }),
        groups: user.groups ?? [],
        ...(user.extra === undefined ? {} : { extra: user.extra }),
        nonResourceAttributes: { path: metricsPath, verb: "get" }
      }
    },
    what: `check whether ${user.username} may get ${metricsPath}`
  })
  const access: MetricsAccess = decision.status?.allowed === true
    ? { _tag: "Allowed", user: user.username! }
    : { _tag: "Forbidden", user: user.username!, reason: decision.status?.reason ?? "no RBAC rule allows get on /metrics" }
  return access
})

interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const text = (status: number, body: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  body
})

/** The reply to a request once its caller's access is known. */
export const secureMetricsReply = (access: MetricsAccess, scrape: () => string): Reply => {
  switch (access._tag) {
    case "Unauthenticated":
      return text(401, "Unauthorized\n", { "www-authenticate": "Bearer" })
    case "Forbidden":
      return text(403, `Forbidden: ${access.user} may not get ${metricsPath}\n`)
    case "Allowed":
      return { status: 200, headers: { "content-type": prometheusContentType }, body: scrape() }
  }
}

/** Most callers remembered at once; scrapers are few, so this only bounds a flood of random tokens. */
const maxCachedCallers = 256

/** Serve /metrics over HTTPS in the current scope; returns the port actually bound. Needs the apiserver client. */
export const serveSecureMetrics = Effect.fn("MetricsServer.serveSecure")(function*(options: SecureMetricsOptions) {
  // The PKI code is loaded only here: an agent serving plain metrics never pays for it.
  const { createCertificateAuthority, issueCertificate } = yield* Effect.promise(() => import("./pki.ts"))
  const ca = yield* createCertificateAuthority({ commonName: "tcr-assistant-metrics-ca", validityDays: 3650 })
  const serving = yield* issueCertificate(ca, {
    commonName: hostname(),
    dnsNames: [hostname(), "localhost"],
    ipAddresses: ["127.0.0.1"],
    usage: "server",
    validityDays: 3650
  })
  const context = yield* Effect.context<KubeClient>()
  // The server's callbacks run outside Effect: they read the time from the program's Clock all the same.
  const clock = yield* Clock.Clock
  const cache = new Map<string, { readonly access: MetricsAccess; readonly until: number }>()
  const remember = (key: string, access: MetricsAccess) => {
    if (cache.size >= maxCachedCallers) cache.delete(cache.keys().next().value!)
    const ttl = access._tag === "Allowed" ? options.allowedTtlMillis ?? 60_000 : options.deniedTtlMillis ?? 10_000
    cache.set(key, { access, until: clock.currentTimeMillisUnsafe() + ttl })
  }

  const accessOf = async (token: string | undefined): Promise<MetricsAccess> => {
    if (token === undefined) return { _tag: "Unauthenticated", reason: "no bearer token" }
    const key = createHash("sha256").update(token).digest("hex")
    const cached = cache.get(key)
    if (cached !== undefined && cached.until > clock.currentTimeMillisUnsafe()) return cached.access
    const access = await Effect.runPromiseWith(context)(reviewMetricsAccess(token))
    remember(key, access)
    return access
  }

  const log = (effect: Effect.Effect<void>) => void Effect.runForkWith(context)(effect)
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? "/").split("?")[0]
    let reply: Reply
    if (path !== metricsPath) reply = text(404, "not found\n")
    else if (request.method !== "GET" && request.method !== "HEAD") reply = text(405, "method not allowed\n")
    else {
      let access: MetricsAccess | undefined
      try {
        access = await accessOf(bearerToken(request.headers.authorization))
      } catch (error) {
        const message = (error as Partial<KubeError>)?.message ?? String(error)
        log(Effect.logWarning("cannot check a metrics request with the apiserver").pipe(Effect.annotateLogs({ error: message })))
      }
      if (access === undefined) reply = text(500, "cannot check the request with the apiserver\n")
      else {
        if (access._tag === "Forbidden") {
          log(Effect.logInfo("metrics request refused").pipe(Effect.annotateLogs({ user: access.user, reason: access.reason })))
        }
        try {
          reply = secureMetricsReply(access, options.scrape)
        } catch (error) {
          reply = text(500, `cannot render the metrics: ${error instanceof Error ? error.message : String(error)}\n`)
        }
      }
    }
    response.writeHead(reply.status, { ...reply.headers, "cache-control": "no-store" })
    response.end(request.method === "HEAD" ? undefined : reply.body)
  }

  const server = createServer({ cert: serving.certPem, key: serving.keyPem, minVersion: "TLSv1.2" }, (request, response) => {
    void handle(request, response)
  })
  server.on("tlsClientError", () => {})
  server.on("clientError", (_error, socket) => socket.destroy())
  yield* Effect.acquireRelease(
    Effect.callback<void, MetricsServerError>((resume) => {
      server.once("error", (error) => resume(Effect.fail(new MetricsServerError({ message: `listen on ${options.host}:${options.port}: ${error.message}` }))))
      server.listen(options.port, options.host, () => resume(Effect.void))
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  const port = (server.address() as AddressInfo).port
  yield* Effect.logInfo("serving /metrics over HTTPS to callers the apiserver authorizes").pipe(Effect.annotateLogs({ port }))
  return port
})
