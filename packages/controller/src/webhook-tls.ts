// Owns the webhook's TLS without cert-manager: a self-managed CA and serving certificate kept in the
// tcr-assistant-webhook-server-cert Secret (created when missing, renewed before expiry), the CA bundle written into
// the Validating- and MutatingWebhookConfiguration, and a periodic re-read so every replica serves the current certificate.
// The configurations are watched: one created after we started (helm creates them after the Deployment), or whose
// bundle someone blanked or replaced (a `kubectl apply` or `helm upgrade` of a manifest without it), gets the bundle
// back at once, not at the next periodic check.
// Replicas race only through the apiserver: creates that meet 409 and updates with a stale resourceVersion re-read
// what the winner wrote and use it. A configuration that trusts another bundle than ours sends us to re-read the
// Secret before writing, so a replica that has not yet seen another's new CA adopts it instead of writing its old one
// back. What the stored material needs is decided in webhook-tls-material.ts.
import { createCertificateAuthority, issueCertificate, type PkiError } from "@tcr-assistant/kube/pki"
import { KubeClient, type KubeError, type KubeObject, makeInformer } from "@tcr-assistant/kube"
import { Clock, Duration, Effect, Schema, Semaphore, Stream } from "effect"
import { isIP } from "node:net"
import {
  materialOf,
  planTls,
  readStoredTls,
  type SecretObject,
  type StoredTls,
  toBase64,
  type TlsPlan,
  type WebhookCertificates
} from "./webhook-tls-material.ts"

export type { WebhookCertificates } from "./webhook-tls-material.ts"

export const defaultWebhookNamespace = "tcr-assistant-system"
export const webhookSecretName = "tcr-assistant-webhook-server-cert"
export const webhookServiceName = "tcr-assistant-webhook-service"
export const webhookConfigurationName = "tcr-assistant-validating-webhook-configuration"
export const mutatingWebhookConfigurationName = "tcr-assistant-mutating-webhook-configuration"

const dayMillis = 24 * 60 * 60 * 1000

export interface WebhookTlsOptions {
  readonly namespace?: string | undefined
  readonly secretName?: string | undefined
  readonly serviceName?: string | undefined
  /** The ValidatingWebhookConfiguration whose webhooks get the CA bundle; undefined skips the injection. */
  readonly webhookConfigurationName?: string | undefined
  /** The MutatingWebhookConfiguration (the Pod mutation) whose webhooks get it too; undefined skips it. */
  readonly mutatingWebhookConfigurationName?: string | undefined
  /** Names besides the Service's DNS names, e.g. `127.0.0.1` when the apiserver calls a URL. */
  readonly extraHosts?: ReadonlyArray<string> | undefined
  /** Default ten years. */
  readonly caValidityMillis?: number | undefined
  /** Default one year. */
  readonly certValidityMillis?: number | undefined
  /** Renew a certificate (the CA or the serving one) when it has less than this left; default 30 days. */
  readonly renewBeforeMillis?: number | undefined
  /** Re-read the Secret this often to pick up another replica's renewal and to renew in time; default 1 minute. */
  readonly checkIntervalMillis?: number | undefined
}

export class WebhookTlsError extends Schema.TaggedError<WebhookTlsError>()("WebhookTlsError", {
  message: Schema.String
}) {
  readonly retryable = true
}

/** Host names and addresses the serving certificate must cover. */
export const servingHosts = (options: WebhookTlsOptions): ReadonlyArray<string> => {
  const service = options.serviceName ?? webhookServiceName
  const namespace = options.namespace ?? defaultWebhookNamespace
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    ...(options.extraHosts ?? [])
  ]
}

export const makeWebhookTls = Effect.fn("WebhookTls.make")(function*(options: WebhookTlsOptions = {}) {
  const client = yield* KubeClient
  const namespace = options.namespace ?? defaultWebhookNamespace
  const secretName = options.secretName ?? webhookSecretName
  const hosts = servingHosts(options)
  const renewBeforeMillis = options.renewBeforeMillis ?? 30 * dayMillis
  const caValidityDays = (options.caValidityMillis ?? 3650 * dayMillis) / dayMillis
  const certValidityDays = (options.certValidityMillis ?? 365 * dayMillis) / dayMillis
  if (Math.min(caValidityDays, certValidityDays) * dayMillis <= renewBeforeMillis) {
    return yield* Effect.die(new Error("webhook certificates must be valid for longer than renewBeforeMillis"))
  }
  const secretsPath = `/api/v1/namespaces/${namespace}/secrets`
  const secretPath = `${secretsPath}/${secretName}`
  const secretWhat = `Secret ${namespace}/${secretName}`
  const tlsError = (error: KubeError | PkiError) => new WebhookTlsError({ message: error.message })

  const issue = (stored: StoredTls, plan: Exclude<TlsPlan, "Keep">) =>
    Effect.gen(function*() {
      const ca = plan === "NewAuthority"
        ? yield* createCertificateAuthority({ commonName: "tcr-assistant-webhook-ca", validityDays: caValidityDays })
        : { certPem: stored.caPem, keyPem: stored.caKeyPem }
      const serving = yield* issueCertificate(ca, {
        commonName: hosts[2] ?? hosts[0]!,
        dnsNames: hosts.filter((host) => isIP(host) === 0),
        ipAddresses: hosts.filter((host) => isIP(host) !== 0),
        usage: "server",
        validityDays: certValidityDays
      })
      const data: Record<string, string> = {
        "ca.crt": toBase64(ca.certPem),
        "ca.key": toBase64(ca.keyPem),
        "tls.crt": toBase64(serving.certPem),
        "tls.key": toBase64(serving.keyPem)
      }
      // A new CA keeps the old one in the bundle until it expires, so replicas still serving the old certificate
      // stay trusted until they reload.
      const previous = plan === "NewAuthority" ? stored.caPem : stored.previousCaPem
      if (previous !== "") data["ca-previous.crt"] = toBase64(previous)
      return data
    })

  const secretBody = (existing: SecretObject | undefined, data: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "Secret",
    ...existing,
    metadata: {
      ...(existing?.metadata ?? {}),
      name: secretName,
      namespace,
      labels: {
        ...existing?.metadata.labels,
        "app.kubernetes.io/name": "tcr-assistant",
        "app.kubernetes.io/component": "webhook"
      }
    },
    type: existing?.type ?? "Opaque",
    data: { ...(existing?.data ?? {}), ...data }
  })

  /** Read the Secret, write new material if it needs it, and return what is now stored. Losing a race re-reads. */
  const ensureOnce: Effect.Effect<WebhookCertificates | undefined, KubeError | PkiError> = Effect.gen(function*() {
    const existing = yield* client
      .request<SecretObject>({ method: "GET", path: secretPath, what: `read ${secretWhat}` })
      .pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
    const now = yield* Clock.currentTimeMillis
    const stored = readStoredTls(existing)
    const plan = planTls(stored, hosts, renewBeforeMillis, now)
    if (plan === "Keep") return materialOf(stored, now)
    const data = yield* issue(stored, plan)
    const body = secretBody(existing, data)
    const written = yield* (existing === undefined
      ? client.request<SecretObject>({ method: "POST", path: secretsPath, body, what: `create ${secretWhat}` })
      : client.request<SecretObject>({ method: "PUT", path: secretPath, body, what: `update ${secretWhat}` })
    ).pipe(Effect.catchTag("KubeConflict", () => Effect.succeed(undefined)))
    if (written === undefined) return undefined
    yield* Effect.logInfo(plan === "NewAuthority" ? "issued a new webhook CA and certificate" : "renewed the webhook certificate").pipe(
      Effect.annotateLogs({ kind: "Secret", namespace, name: secretName })
    )
    return materialOf(readStoredTls(written), yield* Clock.currentTimeMillis)
  })

  const ensure = Effect.gen(function*() {
    for (let attempt = 0; attempt < 5; attempt++) {
      const material = yield* ensureOnce
      if (material !== undefined) return material
    }
    return yield* new WebhookTlsError({ message: `${secretWhat} kept changing under us` })
  }).pipe(Effect.mapError((error) => (error._tag === "WebhookTlsError" ? error : tlsError(error))))

  interface WebhookConfiguration extends KubeObject {
    readonly webhooks?: ReadonlyArray<{ readonly name: string; readonly clientConfig?: { readonly caBundle?: string } }>
  }
  /** Whether every webhook of the configuration trusts the bundle. */
  const trusts = (configuration: WebhookConfiguration, caBundlePem: string) => {
    const caBundle = toBase64(caBundlePem)
    return (configuration.webhooks ?? []).every((webhook) => webhook.clientConfig?.caBundle === caBundle)
  }

  const configurations = [
    { resource: "validatingwebhookconfigurations", kind: "ValidatingWebhookConfiguration", name: options.webhookConfigurationName },
    { resource: "mutatingwebhookconfigurations", kind: "MutatingWebhookConfiguration", name: options.mutatingWebhookConfigurationName }
  ].flatMap(({ name, ...rest }) => (name === undefined ? [] : [{ ...rest, name }]))

  /** Make every webhook of one configuration trust the bundle; true when it already did or now does. */
  const injectInto = (configuration: (typeof configurations)[number], caBundlePem: string) =>
    Effect.gen(function*() {
      const path = `/apis/admissionregistration.k8s.io/v1/${configuration.resource}/${configuration.name}`
      const what = `${configuration.kind} ${configuration.name}`
      const stored = yield* client
        .request<WebhookConfiguration>({ method: "GET", path, what: `read ${what}` })
        .pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
      if (stored === undefined) return false
      if (trusts(stored, caBundlePem)) return true
      const caBundle = toBase64(caBundlePem)
      const updated = {
        ...stored,
        webhooks: (stored.webhooks ?? []).map((webhook) => ({ ...webhook, clientConfig: { ...webhook.clientConfig, caBundle } }))
      }
      const written = yield* client
        .request({ method: "PUT", path, body: updated, what: `update ${what}` })
        .pipe(Effect.as(true), Effect.catchTag("KubeConflict", () => Effect.succeed(false)))
      if (written) yield* Effect.logInfo("wrote the CA bundle").pipe(Effect.annotateLogs({ kind: configuration.kind, name: configuration.name }))
      return written
    })

  /** Every configuration of ours trusts the bundle: true when all of them do (a missing one is retried later). */
  const injectCaBundle = (caBundlePem: string) =>
    Effect.forEach(configurations, (configuration) => injectInto(configuration, caBundlePem)).pipe(
      Effect.map((results) => results.every(Boolean)),
      Effect.mapError(tlsError)
    )

  let current = yield* ensure
  let bundleInjected = yield* injectCaBundle(current.caBundlePem).pipe(
    Effect.catch((error) => Effect.logWarning("could not write the CA bundle").pipe(Effect.annotateLogs({ error: error.message }), Effect.as(false)))
  )
  const listeners = new Set<(material: WebhookCertificates) => void>()

  /** Re-read the Secret; write the bundle when it changed, when a write is still owed, or when `force`d. */
  const refreshOnce = (force: boolean) => Effect.gen(function*() {
    const next = yield* ensure
    const changed = next.certPem !== current.certPem || next.keyPem !== current.keyPem
    const bundleChanged = next.caBundlePem !== current.caBundlePem
    current = next
    if (changed) {
      for (const listener of listeners) listener(next)
      yield* Effect.logInfo("loaded a new webhook certificate").pipe(
        Effect.annotateLogs({ kind: "Secret", namespace, name: secretName, notAfter: next.notAfter.toISOString() })
      )
    }
    if (force || bundleChanged || !bundleInjected) bundleInjected = yield* injectCaBundle(next.caBundlePem)
  }).pipe(
    Effect.catch((error: WebhookTlsError) =>
      Effect.logWarning("webhook certificate check failed").pipe(
        Effect.annotateLogs({ kind: "Secret", namespace, name: secretName, error: error.message })
      )
    )
  )
  // The periodic check and the watches take turns, so one decision sees the other's outcome.
  const turns = yield* Semaphore.make(1)
  const refresh = (force: boolean) => turns.withPermit(refreshOnce(force))

  const checkEvery = Duration.millis(options.checkIntervalMillis ?? 60_000)
  yield* Effect.forkScoped(Effect.forever(Effect.sleep(checkEvery).pipe(Effect.andThen(refresh(false)))))

  for (const configuration of configurations) {
    const informer = yield* makeInformer<WebhookConfiguration>({
      name: `webhook-tls-${configuration.resource}`,
      path: `/apis/admissionregistration.k8s.io/v1/${configuration.resource}`,
      fieldSelector: `metadata.name=${configuration.name}`,
      // Only what `trusts` reads.
      transform: (object) => ({
        metadata: { name: object.metadata.name, resourceVersion: object.metadata.resourceVersion },
        webhooks: (object.webhooks ?? []).map((webhook) => ({ name: webhook.name, clientConfig: { caBundle: webhook.clientConfig?.caBundle } }))
      })
    })
    yield* informer.events.pipe(
      Stream.runForEach((event) =>
        event.type === "Upsert" && !trusts(event.object, current.caBundlePem) ? refresh(true) : Effect.void
      ),
      Effect.forkScoped
    )
  }

  return {
    current: () => current,
    /** Called with the new material whenever the serving certificate changes. */
    subscribe: (listener: (material: WebhookCertificates) => void) => {
      listeners.add(listener)
    },
    /** Expiry of the serving certificate, for metrics. */
    notAfter: () => current.notAfter,
    bundleInjected: () => bundleInjected
  }
})

export type WebhookTls = Effect.Success<ReturnType<typeof makeWebhookTls>>
