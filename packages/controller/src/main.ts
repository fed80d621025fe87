// The controller-manager program: its options and its layer graph. The apiserver client feeds leader election, the
// event recorder and the admission webhook (served by every replica); the probe and metrics server watches them
// all; the controller itself runs only while this replica holds the lease. It runs until interrupted, and fails
// (so the process exits non-zero and Kubernetes restarts it) when the lease is lost.
import { InformerResync, KubeClient, type KubeError } from "@tcr-assistant/kube"
import { EventRecorder } from "@tcr-assistant/kube/events"
import { LeaderElector, type LeadershipLost } from "@tcr-assistant/kube/leader-election"
import { type ProgramLoggingOptions, withProgramLogging } from "@tcr-assistant/kube/logging"
import { defaultSecureMetricsPort, type MetricsServerError, type MetricsServingOptions, serveSecureMetrics } from "@tcr-assistant/kube/metrics-server"
import type { PkiError } from "@tcr-assistant/kube/pki"
import { ProcessMetricsLive } from "@tcr-assistant/kube/process-metrics"
import { metricRegistryLayer, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { Clock, Context, Effect, Layer, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { trackControllerManagerMetrics } from "./controller-metrics.ts"
import { type HealthServerError, informerProblem, startHealthServer, type StalenessLimits } from "./health.ts"
import { type Controller, startController } from "./reconciler.ts"
import type { TokenIssuer } from "./registry-token.ts"
import { startWebhookServer, type WebhookServer, type WebhookServerError } from "./webhook.ts"
import { type AdmissionSelection, makeAdmissionSelection } from "./admission-selection.ts"
import {
  defaultWebhookNamespace,
  makeWebhookTls,
  mutatingWebhookConfigurationName,
  type WebhookTls,
  webhookConfigurationName,
  type WebhookTlsError
} from "./webhook-tls.ts"

export interface ControllerManagerOptions {
  /** Default: the standard loading rules (KUBECONFIG, ~/.kube/config, in a pod its service account). */
  readonly kubeconfig?: string | undefined
  readonly context?: string | undefined
  /** Where the in-cluster service account is mounted; default /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir?: string | undefined
  /** The add-on's own namespace: the leader Lease, the webhook Secret, TCR API keys by default. */
  readonly namespace?: string | undefined
  /** Unique per replica (leader election, event source); default `<hostname>_<uuid>`. */
  readonly identity?: string | undefined
  /** Apiserver requests in flight at once; default 16. */
  readonly concurrency?: number | undefined
  readonly statusIntervalMillis?: number | undefined
  /** How often every informer relists although its watch looks healthy; default 5 minutes. */
  readonly informerResyncMillis?: number | undefined
  /** Mints registry tokens for ImagePullSecrets that name a TCR instance. */
  readonly tokenIssuer?: TokenIssuer | undefined
  readonly leaderElection?: {
    /** Default true. Off: this process always leads (one replica only!). */
    readonly enabled?: boolean | undefined
    /** Default tcr-assistant-controller-manager. */
    readonly leaseName?: string | undefined
    readonly leaseDurationMillis?: number | undefined
    readonly renewDeadlineMillis?: number | undefined
    readonly retryPeriodMillis?: number | undefined
  } | undefined
  readonly webhook?: {
    /** Default true. */
    readonly enabled?: boolean | undefined
    /** Default 0.0.0.0:9443. */
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly serviceName?: string | undefined
    readonly secretName?: string | undefined
    /** The ValidatingWebhookConfiguration that gets the CA bundle; null: none. */
    readonly configurationName?: string | null | undefined
    /** The MutatingWebhookConfiguration (the Pod mutation) that gets the CA bundle; null: none. */
    readonly mutatingConfigurationName?: string | null | undefined
    /** Extra names or IPs in the serving certificate (e.g. 127.0.0.1 when the apiserver calls a URL). */
    readonly extraHosts?: ReadonlyArray<string> | undefined
    readonly certValidityMillis?: number | undefined
    readonly renewBeforeMillis?: number | undefined
    readonly checkIntervalMillis?: number | undefined
  } | undefined
  /** /healthz, /readyz and /metrics; default 0.0.0.0:8080. */
  readonly health?: { readonly host?: string | undefined; readonly port?: number | undefined } | undefined
  /** Default: plain HTTP on the health server; `secure` serves it over HTTPS to callers the apiserver authorizes. */
  readonly metrics?: MetricsServingOptions | undefined
  readonly readiness?: StalenessLimits | undefined
  /** Default: JSON lines at Info. */
  readonly log?: ProgramLoggingOptions | undefined
  /**
   * Default false: Pods admitted without our Secret are only reported (status, metric, one Warning Event each).
   * True: those failing to pull that a controller owns are deleted, so that it recreates them with the Secret.
   */
  readonly deleteStuckPods?: boolean | undefined
}

export type ControllerManagerError =
  | LeadershipLost
  | WebhookTlsError
  | WebhookServerError
  | HealthServerError
  | MetricsServerError
  | PkiError
  | KubeError
  | AddonNamespaceMissing

/** The add-on's namespace (Lease, webhook Secret) does not exist: the add-on is not installed in this cluster. */
export class AddonNamespaceMissing extends Schema.TaggedError<AddonNamespaceMissing>()("AddonNamespaceMissing", {
  namespace: Schema.String
}) {
  readonly retryable = false
  override get message(): string {
    return `namespace ${this.namespace} does not exist: install the add-on first (kubectl apply --server-side -k manifests/)`
  }
}

/**
 * Fail at once, in words, when the namespace is missing, instead of later inside leader election or the webhook's
 * TLS. A client not allowed to read namespaces learns nothing here and goes on.
 */
const requireAddonNamespace = (namespace: string) =>
  KubeClient.use((client) =>
    client.request({ method: "GET", path: `/api/v1/namespaces/${namespace}`, what: `read namespace ${namespace}` })
  ).pipe(
    Effect.asVoid,
    Effect.catchTag("KubeNotFound", () => Effect.fail(new AddonNamespaceMissing({ namespace }))),
    Effect.catchTag("KubeRejected", (error) => (error.status === 403 ? Effect.void : Effect.fail(error)))
  )

/**
 * The webhooks as this replica serves them, leader or not: the server (ImagePullSecret validation and the Pod
 * mutation), its self-managed certificate, and the ImagePullSecret cache the mutation selects from.
 */
export class AdmissionWebhook extends Context.Service<AdmissionWebhook, {
  readonly server: WebhookServer
  readonly tls: WebhookTls
  readonly selection: AdmissionSelection
} | undefined>()("@tcr-assistant/controller/AdmissionWebhook") {
  static readonly layer = (options: NonNullable<ControllerManagerOptions["webhook"]> & { readonly namespace: string }) =>
    Layer.effect(
      AdmissionWebhook,
      Effect.gen(function*() {
        const tls = yield* makeWebhookTls({
          namespace: options.namespace,
          serviceName: options.serviceName,
          secretName: options.secretName,
          webhookConfigurationName: options.configurationName === null
            ? undefined
            : options.configurationName ?? webhookConfigurationName,
          mutatingWebhookConfigurationName: options.mutatingConfigurationName === null
            ? undefined
            : options.mutatingConfigurationName ?? mutatingWebhookConfigurationName,
          extraHosts: options.extraHosts,
          certValidityMillis: options.certValidityMillis,
          renewBeforeMillis: options.renewBeforeMillis,
          checkIntervalMillis: options.checkIntervalMillis
        })
        const selection = yield* makeAdmissionSelection()
        const server = yield* startWebhookServer({ host: options.host, port: options.port }, tls.current(), selection)
        tls.subscribe((material) => server.setTls(material))
        return { server, tls, selection }
      })
    )

  static readonly layerDisabled = Layer.succeed(AdmissionWebhook, undefined)
}

/** The controller while this replica leads, for the probes and metrics served by every replica; else undefined. */
export class ActiveController extends Context.Service<ActiveController, {
  readonly current: () => Controller | undefined
  readonly set: (controller: Controller | undefined) => void
}>()("@tcr-assistant/controller/ActiveController") {
  static readonly layer = Layer.sync(ActiveController, () => {
    let current: Controller | undefined
    return ActiveController.of({ current: () => current, set: (controller) => void (current = controller) })
  })
}

/** The leader-only part: the controller, published to ActiveController for as long as its scope lives. */
const LeaderControllerLive = (options: ControllerManagerOptions) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const active = yield* ActiveController
    const controller = yield* Effect.acquireRelease(
      startController({
        concurrency: options.concurrency,
        statusIntervalMillis: options.statusIntervalMillis,
        tokenIssuer: options.tokenIssuer,
        defaultCredentialsNamespace: options.namespace ?? defaultWebhookNamespace,
        stuckPods: { deleteStuckPods: options.deleteStuckPods, excludedNamespace: options.namespace ?? defaultWebhookNamespace }
      }),
      () => Effect.sync(() => active.set(undefined))
    )
    active.set(controller)
    yield* Effect.logInfo("controller started")
  }))

/** /healthz, /readyz and the metrics, served by every replica, leader or not. */
const ProbesAndMetricsLive = (options: ControllerManagerOptions) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const elector = yield* LeaderElector
    const events = yield* EventRecorder
    const webhook = yield* AdmissionWebhook
    const active = yield* ActiveController
    const context = yield* Effect.context<never>()
    // Probes are answered outside Effect, at the time of the program's Clock.
    const clock = yield* Clock.Clock
    const readinessProblems = () => {
      if (!elector.isLeader()) return undefined
      const running = active.current()
      if (running === undefined) return "controller starting"
      const now = clock.currentTimeMillisUnsafe()
      const problems = running.informers.flatMap((informer) => {
        const problem = informerProblem(informer.health(), now, options.readiness)
        return problem === undefined ? [] : [`${informer.name}: ${problem}`]
      })
      return problems.length === 0 ? undefined : problems.join("; ")
    }
    const scrape = () => scrapePrometheusUnsafe(context)
    const secureMetrics = options.metrics?.secure === true
    yield* trackControllerManagerMetrics({
      controller: active.current,
      isLeader: elector.isLeader,
      certificateNotAfter: () => webhook?.tls.notAfter(),
      events: events.stats
    })
    yield* startHealthServer(options.health ?? {}, {
      liveness: [{ name: "ping", check: () => undefined }],
      readiness: [
        {
          name: "webhook",
          check: () => (webhook === undefined || webhook.tls.notAfter().getTime() > clock.currentTimeMillisUnsafe() ? undefined : "serving certificate expired")
        },
        {
          // Until it has synced, the Pod mutation would add nothing: keep this replica out of the Service meanwhile.
          name: "pod-mutation",
          check: () => {
            if (webhook === undefined) return undefined
            for (const informer of webhook.selection.informers) {
              const problem = informerProblem(informer.health(), clock.currentTimeMillisUnsafe(), options.readiness)
              if (problem !== undefined) return `${informer.name.replace(/^admission-/, "")}: ${problem}`
            }
            return undefined
          }
        },
        { name: "informers", check: readinessProblems }
      ],
      metrics: secureMetrics ? undefined : scrape
    })
    if (secureMetrics) {
      yield* serveSecureMetrics({ host: options.metrics?.host ?? "0.0.0.0", port: options.metrics?.port ?? defaultSecureMetricsPort, scrape })
    }
  }))

/** Every replica's services, then the controller under leadership: it runs while the lease is held. */
const controllerManager = (options: ControllerManagerOptions, identity: string) =>
  Effect.gen(function*() {
    const elector = yield* LeaderElector
    yield* Effect.logInfo("controller-manager started").pipe(
      Effect.annotateLogs({ identity, leaderElection: options.leaderElection?.enabled ?? true, webhook: options.webhook?.enabled !== false })
    )
    return yield* elector.runAsLeader(Layer.launch(LeaderControllerLive(options)))
  })

/**
 * Run the controller-manager until interrupted (SIGTERM: stop the controller, release the lease, close the servers).
 * Fails with LeadershipLost when the lease could not be renewed: the process must then exit non-zero.
 */
export const runControllerManager = (options: ControllerManagerOptions = {}): Effect.Effect<never, ControllerManagerError> => {
  const identity = options.identity ?? `${hostname()}_${randomUUID()}`
  const namespace = options.namespace ?? defaultWebhookNamespace
  const election = options.leaderElection ?? {}
  const webhook = options.webhook ?? {}
  const kube = KubeClient.layer({
    kubeconfig: options.kubeconfig,
    context: options.context,
    serviceAccountDir: options.serviceAccountDir,
    connections: options.concurrency
  })
  const services = Layer.mergeAll(
    election.enabled === false
      ? LeaderElector.layerAlwaysLeader(identity)
      : LeaderElector.layer({
        namespace,
        name: election.leaseName,
        identity,
        leaseDurationMillis: election.leaseDurationMillis,
        renewDeadlineMillis: election.renewDeadlineMillis,
        retryPeriodMillis: election.retryPeriodMillis
      }),
    EventRecorder.layer({ component: "tcr-assistant-controller", instance: identity }),
    ActiveController.layer
  ).pipe(Layer.provideMerge(kube), Layer.provideMerge(ProcessMetricsLive({ program: "controller" })))
  // The webhooks (their TLS), the probes and the metrics come up while the lease is sought and the caches fill:
  // the controller needs none of them, and waiting for them cost its first write about 0.3 s.
  const servers = ProbesAndMetricsLive(options).pipe(
    Layer.provide(webhook.enabled === false ? AdmissionWebhook.layerDisabled : AdmissionWebhook.layer({ ...webhook, namespace }))
  )
  const needsNamespace = election.enabled !== false || webhook.enabled !== false
  return Effect.gen(function*() {
    // Before the services: without its namespace the webhook's TLS setup would fail with a less useful error.
    if (needsNamespace) yield* requireAddonNamespace(namespace).pipe(Effect.provide(kube))
    // Either failing stops the other; neither ends otherwise.
    const [never] = yield* Effect.all([controllerManager(options, identity), Layer.launch(servers)], { concurrency: "unbounded" }).pipe(
      Effect.provide(services),
      Effect.scoped
    )
    return never
  }).pipe(
    withProgramLogging(options.log),
    (program) => options.informerResyncMillis === undefined ? program : Effect.provideService(program, InformerResync, options.informerResyncMillis),
    // Last, so every layer above (the apiserver client's counters included) records into this program's registry.
    Effect.provide(metricRegistryLayer)
  )
}
