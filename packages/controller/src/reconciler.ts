// The controller: informers feed a keyed work queue; each key's reconcile reads the caches, asks the pure policy and
// the target's machine what to do, and executes at most one API request per step. Status is aggregated from the
// machines and written, coalesced, only when it changed.
import { dockerConfigSecretData, group, managedSecretName, plural, selectorMatches, version } from "@tcr-assistant/api"
import {
  KubeClient,
  makeInformer,
  makeMutationCache,
  type MutationCache,
  objectKey,
  type Informer,
  type KubeError,
  type KubeObject,
  resourceRevision
} from "@tcr-assistant/kube"
import { Duration, Effect, FiberMap, Redacted, Stream } from "effect"
import { toDistribution, type Distribution, type RawImagePullSecret } from "./distribution.ts"
import {
  type Command,
  managedByLabel,
  managedByValue,
  type ObservedSecret,
  type ObservedServiceAccount,
  ownerAnnotation,
  type Plan,
  planImagePullSecret,
  planSecret,
  planServiceAccount,
  type SecretDesire,
  type ServiceAccountDesire
} from "./plan.ts"
import { renewalDelayMillis, type TokenIssuer } from "./registry-token.ts"
import { aggregateStatus, type TargetView } from "./status.ts"
import { decodeTargetKey, encodeTargetKey, type TargetKey } from "./target.ts"
import { initialTarget, stepTarget, type TargetAction, type TargetEvent, type TargetSnapshot, targetState } from "./target-machine.ts"
import { Histogram } from "./metrics.ts"
import { makeWorkQueue } from "./work-queue.ts"
import type { ImagePullSecretStatus } from "@tcr-assistant/api"

export interface ControllerOptions {
  /** Requests in flight at once. */
  readonly concurrency?: number | undefined
  /** Status writes per ImagePullSecret are coalesced over this period. */
  readonly statusIntervalMillis?: number | undefined
  /** Most not-ready targets listed in a status. */
  readonly maxStatusTargets?: number | undefined
  /** Mints registry tokens for ImagePullSecrets with spec.tcr; without it such objects report TokenUnavailable. */
  readonly tokenIssuer?: TokenIssuer | undefined
  /** Namespace of credentialsSecretRef when the reference names none. */
  readonly defaultCredentialsNamespace?: string | undefined
  /** Called on every failure worth an Event on the ImagePullSecret. */
  readonly onTargetFailure?: ((ips: string, reason: string, message: string) => void) | undefined
}

export interface ControllerStats {
  reconciles: number
  conflicts: number
  failures: number
  statusWrites: number
  /** Reconcile durations in seconds, for the histogram. */
  readonly durations: Array<number>
  /** Reconcile durations as a Prometheus histogram (it never drops observations, unlike `durations`). */
  readonly reconcileSeconds: Histogram
  /** ServiceAccount patches that lost a race (409, or a failed resourceVersion test), counted apart for metrics. */
  serviceAccountConflicts: number
}

type Namespace = KubeObject & { readonly status?: { readonly phase?: string } }
type ServiceAccount = KubeObject & ObservedServiceAccount
type Secret = KubeObject & ObservedSecret
type ImagePullSecretObject = KubeObject & RawImagePullSecret & { readonly status?: ImagePullSecretStatus }

const ipsPath = `/apis/${group}/${version}/${plural}`

/** JSON with object keys sorted: the apiserver returns a custom resource's keys sorted, whatever order we sent. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner
  )

const jitter = (millis: number) => Math.round(millis / 2 + Math.random() * (millis / 2))

const isTerminating = (namespace: Namespace) =>
  namespace.metadata.deletionTimestamp !== undefined || namespace.status?.phase === "Terminating"

export const startController = Effect.fn("Controller.start")(function*(options: ControllerOptions = {}) {
  const client = yield* KubeClient
  const stats: ControllerStats = {
    reconciles: 0,
    conflicts: 0,
    failures: 0,
    statusWrites: 0,
    durations: [],
    reconcileSeconds: new Histogram(),
    serviceAccountConflicts: 0
  }

  const imagePullSecrets = yield* makeInformer<ImagePullSecretObject>({ name: "imagepullsecrets", path: ipsPath })
  const namespaces = yield* makeInformer<Namespace>({ name: "namespaces", path: "/api/v1/namespaces" })
  const serviceAccounts = yield* makeInformer<ServiceAccount>({
    name: "serviceaccounts",
    path: "/api/v1/serviceaccounts",
    // Keep only what the controller reads: at ten thousand namespaces this is most of the memory.
    transform: (sa) => ({
      metadata: {
        name: sa.metadata.name,
        namespace: sa.metadata.namespace,
        resourceVersion: sa.metadata.resourceVersion,
        ...(sa.metadata.deletionTimestamp !== undefined ? { deletionTimestamp: sa.metadata.deletionTimestamp } : {})
      },
      ...(sa.imagePullSecrets !== undefined ? { imagePullSecrets: sa.imagePullSecrets } : {})
    })
  })
  const secrets = yield* makeInformer<Secret>({
    name: "secrets",
    path: "/api/v1/secrets",
    labelSelector: `${managedByLabel}=${managedByValue}`
  })
  const informers: ReadonlyArray<Informer<any>> = [imagePullSecrets, namespaces, serviceAccounts, secrets]
  // What the controller plans from: each informer's store, with our own writes and reads standing in until it
  // shows them.
  const observedImagePullSecrets = makeMutationCache(imagePullSecrets)
  const observedServiceAccounts = makeMutationCache(serviceAccounts)
  const observedSecrets = makeMutationCache(secrets)

  // --- derived state -----------------------------------------------------------------------------------------
  const distributions = new Map<string, Distribution>()
  const serviceAccountsByNamespace = new Map<string, Set<string>>()
  const machines = new Map<string, TargetSnapshot>()
  /** Target keys with a machine, per ImagePullSecret, for status and cleanup. */
  const membership = new Map<string, Set<string>>()
  const dirtyStatus = new Set<string>()
  /** Our last status write per ImagePullSecret, and the version it produced: the cache may not show it yet. */
  const lastWrittenStatus = new Map<string, { readonly text: string; readonly resourceVersion: bigint }>()

  const distributionOf = (ips: string): Distribution | undefined => {
    const object = imagePullSecrets.get(ips)
    if (object === undefined) return undefined
    const cached = distributions.get(ips)
    if (cached !== undefined && cached.generation === (object.metadata.generation ?? 0) && cached.owner.uid === object.metadata.uid && cached.deleting === (object.metadata.deletionTimestamp !== undefined)) {
      return cached
    }
    const fresh = toDistribution(object)
    distributions.set(ips, fresh)
    return fresh
  }

  // --- work queue -----------------------------------------------------------------------------------------------
  const enqueue = (key: TargetKey) => queue.add(encodeTargetKey(key))

  const enqueueNamespace = (ns: string) => {
    for (const ips of imagePullSecrets.values()) {
      const name = ips.metadata.name
      enqueue({ kind: "Secret", ips: name, namespace: ns })
      for (const sa of serviceAccountsByNamespace.get(ns) ?? []) enqueue({ kind: "ServiceAccount", ips: name, namespace: ns, serviceAccount: sa })
    }
  }
  const enqueueImagePullSecret = (ips: string) => {
    enqueue({ kind: "ImagePullSecret", ips })
    for (const ns of namespaces.values()) {
      const name = ns.metadata.name
      enqueue({ kind: "Secret", ips, namespace: name })
      for (const sa of serviceAccountsByNamespace.get(name) ?? []) enqueue({ kind: "ServiceAccount", ips, namespace: name, serviceAccount: sa })
    }
    // Targets in namespaces that are gone from the cache still need their machines settled.
    for (const key of membership.get(ips) ?? []) queue.add(key)
  }

  // --- registry tokens for spec.tcr ------------------------------------------------------------------------------
  interface TokenState {
    readonly fingerprint: string
    readonly data: Readonly<Record<string, string>> | undefined
    readonly error: string | undefined
  }
  const tokens = new Map<string, TokenState>()
  const runTokenLoop = yield* FiberMap.makeRuntime<never, string>()

  const secretDataOf = (distribution: Distribution): Readonly<Record<string, string>> | undefined => {
    if (distribution.source._tag === "Docker") return distribution.data
    const state = tokens.get(distribution.name)
    return state?.fingerprint === distribution.source.fingerprint ? state.data : undefined
  }
  const tokenProblemOf = (distribution: Distribution): string | undefined => {
    if (distribution.source._tag !== "Tcr") return undefined
    const state = tokens.get(distribution.name)
    return state?.fingerprint === distribution.source.fingerprint ? state.error : undefined
  }

  const readApiKeys = (namespace: string, name: string) =>
    client.request<{ data?: Record<string, string> }>({
      method: "GET",
      path: `/api/v1/namespaces/${namespace}/secrets/${name}`,
      what: `read credentials Secret ${namespace}/${name}`
    }).pipe(
      Effect.mapError((error) => error.message),
      Effect.flatMap((secret) => {
        const value = (key: string) => {
          const encoded = secret.data?.[key]
          return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8")
        }
        const secretId = value("secretId")
        const secretKey = value("secretKey")
        if (secretId === undefined || secretKey === undefined) {
          return Effect.fail(`Secret ${namespace}/${name} must have the keys secretId and secretKey`)
        }
        return Effect.succeed({ secretId, secretKey, sessionToken: value("sessionToken") })
      })
    )

  /** Mint, publish and renew the token of one ImagePullSecret until the loop is replaced or the controller stops. */
  const tokenLoop = (ips: string, source: Extract<Distribution["source"], { _tag: "Tcr" }>) =>
    Effect.gen(function*() {
      let failures = 0
      while (true) {
        const issuer = options.tokenIssuer
        const ref = source.tcr.credentialsSecretRef
        const attempt = issuer === undefined
          ? Effect.fail("this controller has no TCR API access configured")
          : readApiKeys(ref.namespace ?? options.defaultCredentialsNamespace ?? "tcr-assistant-system", ref.name).pipe(
            Effect.flatMap((keys) => issuer.issue(source.tcr, keys).pipe(Effect.mapError((error) => error.message)))
          )
        const issuedAt = Date.now()
        const outcome = yield* Effect.result(attempt)
        const previous = tokens.get(ips)
        const kept = previous?.fingerprint === source.fingerprint ? previous.data : undefined
        if (outcome._tag === "Success") {
          failures = 0
          const token = outcome.success
          tokens.set(ips, {
            fingerprint: source.fingerprint,
            data: dockerConfigSecretData({ server: token.server, username: token.username, password: Redacted.value(token.password) }),
            error: undefined
          })
          enqueueImagePullSecret(ips)
          dirtyStatus.add(ips)
          yield* Effect.logInfo("registry token issued").pipe(
            Effect.annotateLogs({ kind: "ImagePullSecret", name: ips, expiresAt: token.expiresAt.toISOString() })
          )
          yield* Effect.sleep(Duration.millis(renewalDelayMillis(issuedAt, token.expiresAt.getTime())))
        } else {
          failures++
          // Keep distributing the last good token while it lasts; report why a new one cannot be had.
          tokens.set(ips, { fingerprint: source.fingerprint, data: kept, error: outcome.failure })
          dirtyStatus.add(ips)
          options.onTargetFailure?.(ips, "TokenUnavailable", outcome.failure)
          yield* Effect.sleep(Duration.millis(jitter(Math.min(300_000, 1_000 * 2 ** Math.min(failures, 9)))))
        }
      }
    })

  /** Start, restart or stop the token loop to match the ImagePullSecret. */
  const syncTokenLoop = (ips: string) => {
    const distribution = imagePullSecrets.get(ips) === undefined ? undefined : distributionOf(ips)
    if (distribution === undefined || distribution.deleting || distribution.source._tag !== "Tcr") {
      if (tokens.delete(ips)) runTokenLoop(ips, Effect.void)
      return
    }
    const source = distribution.source
    if (tokens.get(ips)?.fingerprint === source.fingerprint) return
    tokens.set(ips, { fingerprint: source.fingerprint, data: undefined, error: undefined })
    runTokenLoop(ips, tokenLoop(ips, source))
  }

  // --- desires -----------------------------------------------------------------------------------------------------
  const secretDesire = (ips: string, ns: string): SecretDesire => {
    const distribution = distributionOf(ips)
    const namespace = namespaces.get(ns)
    const name = managedSecretName(ips)
    if (distribution !== undefined && distribution.violations.length > 0 && !distribution.deleting) {
      return { _tag: "Skip", reason: "InvalidSpec", message: "the ImagePullSecret spec is invalid; existing objects are left as they are" }
    }
    if (distribution === undefined || distribution.deleting || namespace === undefined || !selectorMatches(distribution.namespaces, ns)) {
      return { _tag: "Absent", namespace: ns, name, ips }
    }
    const data = secretDataOf(distribution)
    if (data === undefined) {
      // No token yet (or it cannot be had): leave whatever is there as it is rather than remove working credentials.
      return { _tag: "Skip", reason: "TokenPending", message: "waiting for a registry token from the TCR instance" }
    }
    if (isTerminating(namespace)) return { _tag: "Skip", reason: "NamespaceTerminating", message: `namespace ${ns} is being deleted` }
    return { _tag: "Present", namespace: ns, name, data, owner: distribution.owner }
  }

  const serviceAccountDesire = (ips: string, ns: string, sa: string): ServiceAccountDesire => {
    const distribution = distributionOf(ips)
    const namespace = namespaces.get(ns)
    const secretName = managedSecretName(ips)
    if (distribution !== undefined && distribution.violations.length > 0 && !distribution.deleting) {
      return { _tag: "Skip", reason: "InvalidSpec", message: "the ImagePullSecret spec is invalid; existing objects are left as they are" }
    }
    if (
      distribution === undefined || distribution.deleting || namespace === undefined ||
      !selectorMatches(distribution.namespaces, ns) || !selectorMatches(distribution.serviceAccounts, sa)
    ) {
      return { _tag: "Absent", namespace: ns, serviceAccount: sa, secretName }
    }
    if (isTerminating(namespace)) return { _tag: "Skip", reason: "NamespaceTerminating", message: `namespace ${ns} is being deleted` }
    const secretMachine = machines.get(encodeTargetKey({ kind: "Secret", ips, namespace: ns }))
    const secretReady = secretMachine !== undefined && targetState(secretMachine) === "Ready"
    return { _tag: "Present", namespace: ns, serviceAccount: sa, secretName, secretReady }
  }

  /** ServiceAccounts in a namespace that still carry the ImagePullSecret's entry. */
  const serviceAccountsWithEntry = (ns: string, secretName: string): number => {
    let count = 0
    for (const sa of serviceAccountsByNamespace.get(ns) ?? []) {
      const observed = observedServiceAccounts.get(`${ns}/${sa}`)
      if (observed?.imagePullSecrets?.some((entry) => entry.name === secretName)) count++
    }
    return count
  }

  /** Objects of ours the ImagePullSecret still has in the cluster; its finalizer waits for zero. */
  const remainingObjects = (ips: string): number => {
    const secretName = managedSecretName(ips)
    let count = 0
    for (const secret of secrets.values()) if (secret.metadata.annotations?.[ownerAnnotation] === ips) count++
    for (const ns of serviceAccountsByNamespace.keys()) count += serviceAccountsWithEntry(ns, secretName)
    return count
  }

  // --- executing one command -----------------------------------------------------------------------------------------
  type Outcome =
    | { readonly _tag: "Done"; readonly object: KubeObject | null }
    | { readonly _tag: "Stale" }
    | { readonly _tag: "Terminating" }
    | { readonly _tag: "Failed"; readonly retryable: boolean; readonly reason: string; readonly message: string }

  const classify = (error: KubeError, command: Command): Outcome => {
    switch (error._tag) {
      case "KubeConflict":
        stats.conflicts++
        return { _tag: "Stale" }
      case "KubeRejected":
        if (error.namespaceTerminating) return { _tag: "Terminating" }
        // Our patches always apply to the object they were planned from. One that does not apply (a failed `test`,
        // a list emptied meanwhile) met a newer object: the apiserver answers 422 with a generic message and, unlike
        // a validation error, no causes, before it even compares resourceVersions. Read again; it is no failure.
        if (error.status === 422 && error.causes.length === 0 && "patch" in command) {
          stats.conflicts++
          return { _tag: "Stale" }
        }
        return { _tag: "Failed", retryable: true, reason: error.reason || `HTTP${error.status}`, message: error.message }
      case "KubeNotFound":
        return { _tag: "Done", object: null }
      default:
        return { _tag: "Failed", retryable: true, reason: error._tag, message: error.message }
    }
  }

  const execute = (command: Command): Effect.Effect<Outcome> => {
    const run = (() => {
      switch (command._tag) {
        case "CreateSecret":
          return client.request<KubeObject>({
            method: "POST",
            path: `/api/v1/namespaces/${command.namespace}/secrets`,
            body: command.body,
            what: `create Secret ${command.namespace}/${(command.body as any).metadata.name}`
          })
        case "PatchSecret":
          return client.request<KubeObject>({
            method: "PATCH",
            path: `/api/v1/namespaces/${command.namespace}/secrets/${command.name}`,
            body: command.patch,
            what: `update Secret ${command.namespace}/${command.name}`
          })
        case "DeleteSecret":
          return client
            .request<KubeObject>({
              method: "DELETE",
              path: `/api/v1/namespaces/${command.namespace}/secrets/${command.name}`,
              body: { kind: "DeleteOptions", apiVersion: "v1", preconditions: { uid: command.uid, resourceVersion: command.resourceVersion } },
              what: `delete Secret ${command.namespace}/${command.name}`
            })
            .pipe(Effect.as(null))
        case "PatchServiceAccount":
          return client.request<KubeObject>({
            method: "PATCH",
            path: `/api/v1/namespaces/${command.namespace}/serviceaccounts/${command.name}`,
            body: command.patch,
            what: `update ServiceAccount ${command.namespace}/${command.name}`
          })
        case "PatchImagePullSecret":
          return client.request<KubeObject>({
            method: "PATCH",
            path: `${ipsPath}/${command.name}`,
            body: command.patch,
            what: `update ImagePullSecret ${command.name}`
          })
      }
    })()
    return (run as Effect.Effect<KubeObject | null, KubeError>).pipe(
      Effect.map((object): Outcome => ({ _tag: "Done", object })),
      Effect.catch((error: KubeError) =>
        // Creating in a namespace that is gone is not a success: wait quietly for the namespace informer to notice,
        // rather than planning the same create again at once.
        Effect.succeed<Outcome>(command._tag === "CreateSecret" && error._tag === "KubeNotFound" ? { _tag: "Terminating" } : classify(error, command))
      )
    )
  }

  // --- the interpreter ---------------------------------------------------------------------------------------------------
  interface Subject {
    readonly observed: MutationCache<any>
    readonly objectKey: string
    readonly plan: () => Plan
    readonly refreshPath: string
  }

  const subjectOf = (target: TargetKey): Subject => {
    switch (target.kind) {
      case "Secret": {
        const name = managedSecretName(target.ips)
        return {
          observed: observedSecrets,
          objectKey: `${target.namespace}/${name}`,
          refreshPath: `/api/v1/namespaces/${target.namespace}/secrets/${name}`,
          plan: () => {
            const desire = secretDesire(target.ips, target.namespace)
            if (desire._tag === "Absent" && serviceAccountsWithEntry(target.namespace, name) > 0) {
              return { _tag: "Wait", reason: "RemovingServiceAccountEntries", message: "ServiceAccount entries are removed before the Secret" }
            }
            return planSecret(desire, observedSecrets.get(`${target.namespace}/${name}`))
          }
        }
      }
      case "ServiceAccount":
        return {
          observed: observedServiceAccounts,
          objectKey: `${target.namespace}/${target.serviceAccount}`,
          refreshPath: `/api/v1/namespaces/${target.namespace}/serviceaccounts/${target.serviceAccount}`,
          plan: () =>
            planServiceAccount(
              serviceAccountDesire(target.ips, target.namespace, target.serviceAccount),
              observedServiceAccounts.get(`${target.namespace}/${target.serviceAccount}`)
            )
        }
      case "ImagePullSecret":
        return {
          observed: observedImagePullSecrets,
          objectKey: target.ips,
          refreshPath: `${ipsPath}/${target.ips}`,
          plan: () => {
            const observed = observedImagePullSecrets.get(target.ips)
            const deleting = observed?.metadata.deletionTimestamp !== undefined
            return planImagePullSecret(observed, deleting ? remainingObjects(target.ips) : 0)
          }
        }
    }
  }

  const refresh = (subject: Subject) =>
    Effect.suspend(() => {
      const known = subject.observed.knownRevision(subject.objectKey)
      return client.request<KubeObject>({ method: "GET", path: subject.refreshPath, what: `read ${subject.objectKey}` }).pipe(
        Effect.map((object) => subject.observed.recordObject(subject.objectKey, object)),
        Effect.catchTag("KubeNotFound", () => Effect.sync(() => subject.observed.recordAbsent(subject.objectKey, known))),
        Effect.catch(() => Effect.void)
      )
    })

  const viewOf = (target: TargetKey, snapshot: TargetSnapshot): TargetView | undefined => {
    const state = targetState(snapshot)
    if (state === "Removed" || target.kind === "ImagePullSecret") return undefined
    return {
      kind: target.kind,
      namespace: target.namespace,
      name: target.kind === "Secret" ? managedSecretName(target.ips) : target.serviceAccount,
      state,
      reason: snapshot.context.reason,
      message: snapshot.context.message,
      since: snapshot.context.since
    }
  }

  const store = (key: string, target: TargetKey, snapshot: TargetSnapshot) => {
    const state = targetState(snapshot)
    const previous = machines.get(key)
    const changed = previous === undefined || targetState(previous) !== state || previous.context.reason !== snapshot.context.reason
    if (state === "Removed") {
      machines.delete(key)
      const members = membership.get(target.ips)
      members?.delete(key)
      if (members !== undefined && members.size === 0) membership.delete(target.ips)
      // Any removal may be the last object the finalizer waits for: it counts objects in the caches, which also
      // change for targets that have no machine left, so waiting for the last member to go is not enough.
      if (target.kind !== "ImagePullSecret" && imagePullSecrets.get(target.ips)?.metadata.deletionTimestamp !== undefined) {
        enqueue({ kind: "ImagePullSecret", ips: target.ips })
      }
    } else {
      machines.set(key, snapshot)
      let members = membership.get(target.ips)
      if (members === undefined) membership.set(target.ips, (members = new Set()))
      members.add(key)
    }
    if (changed) {
      dirtyStatus.add(target.ips)
      // The namespace's Secret became usable: its ServiceAccounts may reference it now.
      if (target.kind === "Secret" && state === "Ready") {
        for (const sa of serviceAccountsByNamespace.get(target.namespace) ?? []) {
          enqueue({ kind: "ServiceAccount", ips: target.ips, namespace: target.namespace, serviceAccount: sa })
        }
      }
      if (target.kind === "ServiceAccount" && state === "Removed") {
        enqueue({ kind: "Secret", ips: target.ips, namespace: target.namespace })
      }
    }
  }

  /** Steps per reconcile before yielding the worker; a target that needs more is simply queued again. */
  const maxSteps = 6

  const reconcile = (key: string): Effect.Effect<void> =>
    Effect.gen(function*() {
      const started = performance.now()
      stats.reconciles++
      const target = decodeTargetKey(key)
      const subject = subjectOf(target)
      let snapshot = machines.get(key) ?? initialTarget()
      // A conflict is someone else's object we do not watch: look at it again before deciding.
      if (targetState(snapshot) === "Conflict") yield* refresh(subject)
      // Applying and Removing mean "request in flight" and ignore new plans; a reconcile that stops before sending
      // its request must not store them, or the target never moves again. It stores the state before that plan.
      let resumable = snapshot
      const feed = (event: TargetEvent): ReadonlyArray<TargetAction> => {
        const [next, actions] = stepTarget(snapshot, event)
        snapshot = next
        if (!actions.some((action) => action.type === "execute")) resumable = next
        return actions
      }
      let actions = feed({ type: "PLANNED", plan: subject.plan(), now: Date.now() })
      for (let step = 0; step < maxSteps; step++) {
        const execute_ = actions.find((action) => action.type === "execute")
        const retry = actions.find((action) => action.type === "retryAfter")
        const wantsRefresh = actions.some((action) => action.type === "refresh")
        if (retry !== undefined) queue.addAfter(key, jitter(retry.millis))
        if (wantsRefresh) {
          yield* refresh(subject)
          actions = feed({ type: "PLANNED", plan: subject.plan(), now: Date.now() })
          continue
        }
        if (execute_ === undefined) break
        const known = subject.observed.knownRevision(subject.objectKey)
        const outcome = yield* execute(execute_.command)
        const now = Date.now()
        switch (outcome._tag) {
          case "Done":
            if (outcome.object === null) subject.observed.recordAbsent(subject.objectKey, known)
            else subject.observed.recordObject(subject.objectKey, outcome.object)
            feed({ type: "SUCCEEDED", now })
            actions = feed({ type: "PLANNED", plan: subject.plan(), now })
            break
          case "Stale":
            if (target.kind === "ServiceAccount") stats.serviceAccountConflicts++
            actions = feed({ type: "STALE", now })
            break
          case "Terminating":
            feed({ type: "SUCCEEDED", now })
            actions = feed({
              type: "PLANNED",
              plan: { _tag: "Skip", reason: "NamespaceTerminating", message: "the namespace is being deleted" },
              now
            })
            break
          case "Failed":
            stats.failures++
            options.onTargetFailure?.(target.ips, outcome.reason, outcome.message)
            actions = feed({ type: "FAILED", retryable: outcome.retryable, reason: outcome.reason, message: outcome.message, now })
            break
        }
      }
      if (actions.some((action) => action.type === "execute" || action.type === "refresh")) queue.add(key)
      store(key, target, actions.some((action) => action.type === "execute") ? resumable : snapshot)
      const seconds = (performance.now() - started) / 1000
      stats.durations.push(seconds)
      stats.reconcileSeconds.observe(seconds)
      if (stats.durations.length > 10_000) stats.durations.splice(0, 5_000)
    })

  const queue = yield* makeWorkQueue({ concurrency: options.concurrency ?? 16, process: reconcile })

  // --- informer events -> keys ----------------------------------------------------------------------------------------
  type Handler<T> = (event: { type: "Upsert" | "Delete"; object: T; previous?: T | undefined }) => void

  /** Per informer: retire its mutations once it has relisted. */
  const relistChecks: Array<() => void> = []

  const drain = <T extends KubeObject>(informer: Informer<T>, handle: Handler<T>, observed?: MutationCache<T>) => {
    let relists = informer.health().relists
    relistChecks.push(() => {
      if (informer.health().relists === relists) return
      relists = informer.health().relists
      // Our writes the relisted store no longer holds are gone; no event will say so, so act on one.
      for (const object of observed?.retireAfterRelist() ?? []) handle({ type: "Delete", object })
    })
    return informer.events.pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          // A mutation is dropped lazily once the store is as new, which an empty store never is: a deletion seen
          // after our last write must not leave that write standing in for the object.
          if (event.type === "Delete") observed?.storeDeleted(objectKey(event.object))
          handle(event)
        })
      ),
      Effect.forkScoped
    )
  }

  yield* drain(imagePullSecrets, (event) => {
    const name = event.object.metadata.name
    distributions.delete(name)
    syncTokenLoop(name)
    if (event.type === "Delete") {
      lastWrittenStatus.delete(name)
    } else {
      dirtyStatus.add(name)
      // Only a change of what is asked for needs a full pass; status writes and finalizer edits do not.
      const previous = event.type === "Upsert" ? event.previous : undefined
      if (
        previous !== undefined && previous.metadata.generation === event.object.metadata.generation &&
        (previous.metadata.deletionTimestamp === undefined) === (event.object.metadata.deletionTimestamp === undefined) &&
        previous.metadata.uid === event.object.metadata.uid
      ) {
        enqueue({ kind: "ImagePullSecret", ips: name })
        return
      }
    }
    enqueueImagePullSecret(name)
  }, observedImagePullSecrets)
  yield* drain(namespaces, (event) => {
    const previous = event.type === "Upsert" ? event.previous : undefined
    if (previous !== undefined && isTerminating(previous) === isTerminating(event.object)) return
    // The ServiceAccount index follows the ServiceAccount informer alone: informers are not ordered with each other,
    // and a namespace deleted and created again may already have new ServiceAccounts there.
    enqueueNamespace(event.object.metadata.name)
    for (const ips of imagePullSecrets.values()) dirtyStatus.add(ips.metadata.name)
  })
  yield* drain(serviceAccounts, (event) => {
    const ns = event.object.metadata.namespace ?? ""
    const name = event.object.metadata.name
    let names = serviceAccountsByNamespace.get(ns)
    if (event.type === "Delete") {
      names?.delete(name)
      if (names?.size === 0) serviceAccountsByNamespace.delete(ns)
    } else {
      if (names === undefined) serviceAccountsByNamespace.set(ns, (names = new Set()))
      names.add(name)
    }
    for (const ips of imagePullSecrets.values()) {
      enqueue({ kind: "ServiceAccount", ips: ips.metadata.name, namespace: ns, serviceAccount: name })
      dirtyStatus.add(ips.metadata.name)
    }
  }, observedServiceAccounts)
  yield* drain(secrets, (event) => {
    const ips = event.object.metadata.annotations?.[ownerAnnotation]
    if (ips !== undefined && event.object.metadata.namespace !== undefined) {
      enqueue({ kind: "Secret", ips, namespace: event.object.metadata.namespace })
    }
  }, observedSecrets)

  // --- status -----------------------------------------------------------------------------------------------------------
  const desiredCounts = (distribution: Distribution) => {
    let secretsDesired = 0
    let serviceAccountsDesired = 0
    if (distribution.deleting || distribution.violations.length > 0) return { secretsDesired, serviceAccountsDesired }
    for (const ns of namespaces.values()) {
      const name = ns.metadata.name
      if (!selectorMatches(distribution.namespaces, name) || isTerminating(ns)) continue
      secretsDesired++
      for (const sa of serviceAccountsByNamespace.get(name) ?? []) {
        if (selectorMatches(distribution.serviceAccounts, sa)) serviceAccountsDesired++
      }
    }
    return { secretsDesired, serviceAccountsDesired }
  }

  const writeStatus = (ips: string) =>
    Effect.gen(function*() {
      const object = imagePullSecrets.get(ips)
      const distribution = distributionOf(ips)
      if (object === undefined || distribution === undefined) return
      const targets: Array<TargetView> = []
      for (const key of membership.get(ips) ?? []) {
        const snapshot = machines.get(key)
        const view = snapshot === undefined ? undefined : viewOf(decodeTargetKey(key), snapshot)
        if (view !== undefined) targets.push(view)
      }
      const status = aggregateStatus({
        distribution,
        credentialProblem: tokenProblemOf(distribution),
        ...desiredCounts(distribution),
        targets,
        previous: object.status,
        now: new Date(),
        maxTargets: options.maxStatusTargets ?? 20
      })
      const text = canonicalJson(status)
      // Compare with what the cluster holds: our last write while the cache has not caught up with it, else the
      // cache. (Comparing with a stale cache alone could skip a write that undoes our newer one, and remembering
      // that skip as written kept the wrong status once the cache caught up.)
      const written = lastWrittenStatus.get(ips)
      const current = written !== undefined && resourceRevision(object) < written.resourceVersion ? written.text : canonicalJson(object.status)
      if (current === text) return
      yield* client
        .request<KubeObject>({
          method: "PATCH",
          path: `${ipsPath}/${ips}/status`,
          // The status is ours alone: replace it whole. A merge patch would keep keys that are gone from maps such
          // as targetsByState ("Pending: 3" long after every target is ready).
          body: [{ op: "add", path: "/status", value: status }],
          what: `update status of ImagePullSecret ${ips}`
        })
        .pipe(
          Effect.tap((updated) =>
            Effect.sync(() => {
              stats.statusWrites++
              lastWrittenStatus.set(ips, { text, resourceVersion: resourceRevision(updated) })
            })
          ),
          // The object is gone (the informer has not seen it yet): its Delete event ends the matter; retrying at
          // every status interval until then would only hammer the apiserver.
          Effect.catchTag("KubeNotFound", () => Effect.void),
          Effect.catch((error: KubeError) =>
            Effect.sync(() => dirtyStatus.add(ips)).pipe(
              Effect.andThen(Effect.logWarning("status update failed").pipe(Effect.annotateLogs({ imagePullSecret: ips, error: error.message })))
            )
          )
        )
    })

  yield* Effect.forkScoped(
    Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(options.statusIntervalMillis ?? 1000)
        for (const check of relistChecks) check()
        const due = [...dirtyStatus]
        dirtyStatus.clear()
        for (const ips of due) yield* writeStatus(ips)
      }
    })
  )

  return {
    informers,
    stats,
    queueDepth: () => queue.depth(),
    /** True when caches are synced and nothing is queued, in flight or waiting for a status write. */
    quiescent: () => informers.every((informer) => informer.health().synced) && queue.idle() && dirtyStatus.size === 0,
    /** Targets waiting out a backoff or a conflict's periodic re-check. */
    pendingRetries: () => queue.delayed(),
    /** Retry every waiting target now (tests use it to reach quiescence without waiting out backoff). */
    retryNow: () => queue.addDelayedNow(),
    machineCount: () => machines.size,
    objectKeyOf: objectKey
  }
})

export type Controller = Effect.Success<ReturnType<typeof startController>>
