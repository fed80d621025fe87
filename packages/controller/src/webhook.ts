// Owns the validating admission webhook for ImagePullSecrets: the pure AdmissionReview v1 handler (the same
// validation as the API package, every violation with its field path in one message, an internal error denies), the
// matchConditions that keep it out of cleanup, and the HTTPS server that serves it (and the Pod mutation) with a
// certificate that can be swapped without a restart.
import { formatViolations, kind as imagePullSecretKind, validateImagePullSecret } from "@tcr-assistant/api"
import { Effect, Schema } from "effect"
import { createServer, type Server } from "node:https"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { admissionReviewApiVersion, malformedReviewMessage, record, reviewResponse, reviewUid } from "./admission-review.ts"
import { mutatePath, type PodContext, type PodMutationResult, reviewPodMutation, type SelectingDistribution } from "./pod-mutation.ts"
import { recordAdmission } from "./webhook-metrics.ts"

export { admissionReviewApiVersion }
export const webhookPath = "/validate"

/**
 * When the apiserver calls the validating webhook at all (CEL, Kubernetes 1.30 and later): for what users write, a
 * spec on CREATE or a changed spec on UPDATE. Metadata-only updates (the controller releasing its finalizer, labels)
 * and objects being deleted never depend on a replica being up, so `failurePolicy: Fail` cannot block cleanup.
 */
export const validationMatchConditions = [
  { name: "not-being-deleted", expression: "!has(object.metadata.deletionTimestamp)" },
  {
    name: "spec-written",
    expression: "request.operation == 'CREATE' || !has(oldObject.spec) || !has(object.spec) || object.spec != oldObject.spec"
  }
] as const
/** The apiserver never sends more than 3 MiB; anything bigger is not an AdmissionReview. */
const maxBodyBytes = 3 * 1024 * 1024

export type ReviewResult = "allowed" | "denied" | "error" | "malformed"

export interface ReviewOutcome {
  readonly result: ReviewResult
  /** HTTP status of the webhook's own answer (200 for every well-formed review, allowed or not). */
  readonly httpStatus: number
  readonly body: unknown
}

interface AdmissionRequest {
  readonly uid: string
  readonly kind?: { readonly kind?: string }
  readonly operation?: string
  readonly object?: unknown
  readonly oldObject?: unknown
}

/** The password as the object carries it; a denial message must never contain it, whatever produced the message. */
const passwordOf = (object: unknown): string | undefined => {
  const password = record(record(record(object).spec).docker).password
  if (typeof password === "string") return password.length >= 3 ? password : undefined
  if (typeof password === "number" || typeof password === "boolean") return String(password).length >= 3 ? String(password) : undefined
  return undefined
}

export const redactCredentials = (message: string, object: unknown): string => {
  const password = passwordOf(object)
  return password === undefined ? message : message.split(password).join("[redacted]")
}

const response = (uid: string, allowed: boolean, status?: { code: number; reason: string; message: string }) =>
  reviewResponse(uid, allowed, { status })

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Decide one AdmissionReview. CREATE is validated; so is an UPDATE that changes the spec or the name. An UPDATE that
 * leaves both alone (finalizers, labels, the deletion itself) is allowed, so an object stored before the webhook
 * existed can still be cleaned up.
 */
export const reviewAdmission = (review: unknown): ReviewOutcome => {
  const request = record(record(review).request) as unknown as AdmissionRequest
  const uid = reviewUid(review)
  if (uid === undefined) return { result: "malformed", httpStatus: 400, body: { message: malformedReviewMessage } }
  try {
    if (request.kind?.kind !== undefined && request.kind.kind !== imagePullSecretKind) {
      return { result: "allowed", httpStatus: 200, body: response(uid, true) }
    }
    if (request.operation !== "CREATE" && request.operation !== "UPDATE") {
      return { result: "allowed", httpStatus: 200, body: response(uid, true) }
    }
    const object = request.object
    if (request.operation === "UPDATE") {
      const next = record(object)
      const previous = record(request.oldObject)
      const deleting = record(next.metadata).deletionTimestamp !== undefined
      if (deleting || (sameJson(next.spec, previous.spec) && record(next.metadata).name === record(previous.metadata).name)) {
        return { result: "allowed", httpStatus: 200, body: response(uid, true) }
      }
    }
    const violations = validateImagePullSecret(object)
    if (violations.length === 0) return { result: "allowed", httpStatus: 200, body: response(uid, true) }
    return {
      result: "denied",
      httpStatus: 200,
      body: response(uid, false, {
        code: 422,
        reason: "Invalid",
        message: redactCredentials(formatViolations(violations), object)
      })
    }
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    return {
      result: "error",
      httpStatus: 200,
      body: response(uid, false, {
        code: 500,
        reason: "InternalError",
        message: redactCredentials(`internal error while validating the ImagePullSecret: ${detail}`, request.object)
      })
    }
  }
}

export interface TlsMaterial {
  readonly certPem: string
  readonly keyPem: string
}

/** The webhook could not be served, typically because the port is taken. */
export class WebhookServerError extends Schema.TaggedError<WebhookServerError>()("WebhookServerError", {
  message: Schema.String
}) {
  readonly retryable = false
}

export interface WebhookServerOptions {
  /** Default 0.0.0.0. */
  readonly host?: string | undefined
  /** Default 9443, the port kubebuilder projects use; 0 picks a free port. */
  readonly port?: number | undefined
}

export interface WebhookStats {
  readonly requests: Readonly<Record<ReviewResult, number>>
  /** Pod mutation reviews by result (served only when the server was given a PodMutationSource). */
  readonly podMutations: Readonly<Record<PodMutationResult, number>>
}

/** What the Pod mutation selects from: this replica's current view of the ImagePullSecrets. */
export interface PodMutationSource {
  readonly distributions: () => ReadonlyArray<SelectingDistribution>
  /** The labels of the Pod's namespace and ServiceAccount, where known; names only otherwise. */
  readonly context?: PodContext | undefined
}

export interface WebhookServer {
  /** The port actually bound. */
  readonly port: number
  /** Swap the serving certificate; new connections use it at once. */
  readonly setTls: (tls: TlsMaterial) => void
  readonly stats: () => WebhookStats
}

const readBody = (request: IncomingMessage) =>
  new Promise<string | undefined>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        resolve(undefined)
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

/** Start the HTTPS server in the current scope; it stops (dropping idle connections) when the scope closes. */
export const startWebhookServer = Effect.fn("WebhookServer.start")(function*(
  options: WebhookServerOptions,
  tls: TlsMaterial,
  podMutation?: PodMutationSource
) {
  const requests: Record<ReviewResult, number> = { allowed: 0, denied: 0, error: 0, malformed: 0 }
  const podMutations: Record<PodMutationResult, number> = { patched: 0, unchanged: 0, malformed: 0 }
  // The request handler runs outside Effect: its log lines are forked into the context the server started in.
  const context = yield* Effect.context<never>()
  const log = (effect: Effect.Effect<void>) => void Effect.runForkWith(context)(effect)

  const mutate = async (req: IncomingMessage, res: ServerResponse, source: PodMutationSource, started: number) => {
    const counted = (result: PodMutationResult) => {
      podMutations[result]++
      recordAdmission(context, { webhook: "mutate-pods", operation: "CREATE", result,
        seconds: (performance.now() - started) / 1000 })
    }
    const text = await readBody(req)
    if (text === undefined) {
      counted("malformed")
      return send(res, 413, { message: "request body too large" })
    }
    const parsed = parseJson(text)
    const outcome = reviewPodMutation(parsed, source.distributions(), source.context)
    counted(outcome.result)
    send(res, outcome.httpStatus, outcome.body)
    const request = record(record(parsed).request)
    const metadata = record(record(request.object).metadata)
    log(
      (outcome.result === "patched" ? Effect.logInfo("added pull secrets to a pod") : Effect.logDebug("pod admission")).pipe(
        Effect.annotateLogs({
          kind: "Pod",
          namespace: String(request.namespace ?? ""),
          name: String(metadata.name ?? metadata.generateName ?? ""),
          result: outcome.result,
          ...(outcome.added.length > 0 ? { secrets: outcome.added.join(",") } : {})
        })
      )
    )
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now()
    const path = (req.url ?? "").split("?")[0]
    const served = podMutation === undefined ? webhookPath : `${webhookPath} and ${mutatePath}`
    if (path !== webhookPath && (path !== mutatePath || podMutation === undefined)) {
      return send(res, 404, { message: `not found; the webhooks are served at ${served}` })
    }
    if (req.method !== "POST") return send(res, 405, { message: "use POST" })
    if (path === mutatePath && podMutation !== undefined) return mutate(req, res, podMutation, started)
    const text = await readBody(req)
    const parsed = parseJson(text)
    const outcome: ReviewOutcome = text === undefined
      ? { result: "malformed", httpStatus: 413, body: { message: "request body too large" } }
      : reviewAdmission(parsed)
    const request = record(record(parsed).request)
    const name = String(record(record(request.object).metadata).name ?? "")
    const operation = String(request.operation ?? "")
    requests[outcome.result]++
    recordAdmission(context, { webhook: "validate-imagepullsecret", operation, result: outcome.result, seconds: (performance.now() - started) / 1000 })
    send(res, outcome.httpStatus, outcome.body)
    if (outcome.result === "allowed") {
      log(Effect.logDebug("admission allowed").pipe(Effect.annotateLogs({ kind: imagePullSecretKind, name, operation })))
    } else {
      const message = String(record(record(record(outcome.body).response).status).message ?? record(outcome.body).message ?? "")
      log(
        Effect.logInfo("admission refused").pipe(
          Effect.annotateLogs({ kind: imagePullSecretKind, name, operation, result: outcome.result, reason: message })
        )
      )
    }
  }

  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: "TLSv1.2" }, (req, res) => {
    const started = performance.now()
    handle(req, res).catch(() => {
      requests.error++
      recordAdmission(context, { webhook: "validate-imagepullsecret", operation: "", result: "error", seconds: (performance.now() - started) / 1000 })
      if (!res.headersSent) send(res, 500, { message: "internal error" })
      else res.destroy()
    })
  })
  // A client that sends garbage instead of a TLS handshake must not crash the process.
  server.on("tlsClientError", () => {})
  server.on("clientError", (_error, socket) => socket.destroy())

  const host = options.host ?? "0.0.0.0"
  const port = yield* Effect.callback<number, WebhookServerError>((resume) => {
    const onError = (error: Error) =>
      resume(Effect.fail(new WebhookServerError({ message: `listen on ${host}:${options.port ?? 9443}: ${error.message}` })))
    server.once("error", onError)
    server.listen({ host, port: options.port ?? 9443 }, () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    })
  })
  yield* Effect.addFinalizer(() =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeIdleConnections()
    })
  )
  yield* Effect.logInfo("webhook server listening").pipe(Effect.annotateLogs({ port, path: podMutation === undefined ? webhookPath : `${webhookPath},${mutatePath}` }))

  const webhook: WebhookServer = {
    port,
    setTls: (next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem, minVersion: "TLSv1.2" }),
    stats: () => ({ requests: { ...requests }, podMutations: { ...podMutations } })
  }
  return webhook
})
