// The cluster operations install, status and uninstall share: where each kind of object lives in the API, server-side
// apply with our field manager, deletes that treat "already gone" as done, and polling until a condition holds.
import { KubeClient, type KubeError } from "@tcr-assistant/kube"
import { Duration, Effect, Schedule, Schema } from "effect"
import { fieldManager, imagePullSecretsPath, type ObservedImagePullSecret } from "./addon-record.ts"

/** A manifest object: enough to know where it goes. */
export interface Manifest {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown }
  readonly [key: string]: unknown
}

interface ResourceType {
  readonly plural: string
  readonly namespaced: boolean
}

// The kinds the add-on consists of. A manifest of any other kind is a bug in the manifests, reported as such.
const resourceTypes: Readonly<Record<string, ResourceType>> = {
  "v1/Namespace": { plural: "namespaces", namespaced: false },
  "v1/ServiceAccount": { plural: "serviceaccounts", namespaced: true },
  "v1/Secret": { plural: "secrets", namespaced: true },
  "v1/ConfigMap": { plural: "configmaps", namespaced: true },
  "v1/Service": { plural: "services", namespaced: true },
  "apps/v1/Deployment": { plural: "deployments", namespaced: true },
  "apps/v1/DaemonSet": { plural: "daemonsets", namespaced: true },
  "rbac.authorization.k8s.io/v1/ClusterRole": { plural: "clusterroles", namespaced: false },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": { plural: "clusterrolebindings", namespaced: false },
  "rbac.authorization.k8s.io/v1/Role": { plural: "roles", namespaced: true },
  "rbac.authorization.k8s.io/v1/RoleBinding": { plural: "rolebindings", namespaced: true },
  "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": {
    plural: "validatingwebhookconfigurations",
    namespaced: false
  },
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": {
    plural: "mutatingwebhookconfigurations",
    namespaced: false
  },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": { plural: "customresourcedefinitions", namespaced: false },
  "coordination.k8s.io/v1/Lease": { plural: "leases", namespaced: true },
  "policy/v1/PodDisruptionBudget": { plural: "poddisruptionbudgets", namespaced: true },
  "tcr.tencentcloudcr.com/v1/ImagePullSecret": { plural: "imagepullsecrets", namespaced: false }
}

/** A manifest names a kind install does not know how to place. */
export class UnknownManifestKind extends Schema.TaggedError<UnknownManifestKind>()("UnknownManifestKind", {
  apiVersion: Schema.String,
  kind: Schema.String,
  name: Schema.String
}) {
  override get message(): string {
    return `the add-on manifests contain ${this.kind} ${this.name} (${this.apiVersion}), which install does not know how to apply`
  }
}

/** `Kind namespace/name` or `Kind name`, for progress lines and errors. */
export const describeObject = (object: Manifest): string =>
  `${object.kind} ${object.metadata.namespace === undefined ? "" : `${object.metadata.namespace}/`}${object.metadata.name}`

/** The API path of one object (for GET, PATCH and DELETE). */
export const objectPath = (object: Manifest): Effect.Effect<string, UnknownManifestKind> => {
  const type = resourceTypes[`${object.apiVersion}/${object.kind}`]
  if (type === undefined) {
    return Effect.fail(new UnknownManifestKind({ apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name }))
  }
  const base = object.apiVersion.includes("/") ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`
  const namespace = type.namespaced ? `/namespaces/${encodeURIComponent(object.metadata.namespace ?? "default")}` : ""
  return Effect.succeed(`${base}${namespace}/${type.plural}/${encodeURIComponent(object.metadata.name)}`)
}

/** Server-side apply of one object, owned by install's field manager (taking over fields others set). */
export const applyObject = Effect.fn("AddonCluster.apply")(function*(object: Manifest) {
  const client = yield* KubeClient
  const path = yield* objectPath(object)
  return yield* client.request<Manifest>({
    method: "PATCH",
    path,
    query: { fieldManager, force: true },
    contentType: "application/apply-patch+yaml",
    body: object,
    what: `apply ${describeObject(object)}`
  })
})

/** Reads one object; undefined when it does not exist. */
export const getObject = <A>(path: string, what: string): Effect.Effect<A | undefined, KubeError, KubeClient> =>
  KubeClient.use((client) =>
    client.request<A>({ method: "GET", path, what }).pipe(
      Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined))
    ))

/** Deletes one object; true when it existed. */
export const deleteObject = (
  path: string,
  what: string,
  options: { readonly uid?: string | undefined; readonly propagation?: "Background" | "Foreground" } = {}
): Effect.Effect<boolean, KubeError, KubeClient> =>
  KubeClient.use((client) =>
    client.request({
      method: "DELETE",
      path,
      body: {
        kind: "DeleteOptions",
        apiVersion: "v1",
        propagationPolicy: options.propagation ?? "Background",
        ...(options.uid === undefined ? {} : { preconditions: { uid: options.uid } })
      },
      what
    }).pipe(
      Effect.as(true),
      Effect.catchTag("KubeNotFound", () => Effect.succeed(false))
    ))

/**
 * A custom resource the apiserver does not serve yet: for a moment after its CRD is Established (or created), its
 * collection answers 503 ServiceUnavailable while the handler is installed, then 429 "storage is (re)initializing"
 * until its watch cache has synced.
 */
const notServedYet = (error: { readonly _tag: string }): boolean => {
  if (error._tag !== "KubeUnavailable") return false
  const status = (error as Extract<KubeError, { _tag: "KubeUnavailable" }>).status
  return status === 503 || status === 429
}

/** Retries a request on a custom resource while the apiserver does not serve it yet, for at most 30 seconds. */
export const retryWhileNotServed = <A, E extends { readonly _tag: string }, R>(request: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  request.pipe(
    Effect.retry({
      while: notServedYet,
      schedule: Schedule.spaced("250 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))
    })
  )

/** Every ImagePullSecret in the cluster; none when the CRD is not installed. */
export const listImagePullSecrets = Effect.fn("AddonCluster.listImagePullSecrets")(function*(labelSelector?: string) {
  const client = yield* KubeClient
  const list = yield* retryWhileNotServed(client.request<{ readonly items?: ReadonlyArray<ObservedImagePullSecret> }>({
    method: "GET",
    path: imagePullSecretsPath,
    ...(labelSelector === undefined ? {} : { query: { labelSelector } }),
    what: "list ImagePullSecrets"
  })).pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed({ items: [] })))
  return list.items ?? []
})

/** Lists a collection path; items only. */
export const listObjects = <A>(path: string, what: string, query?: Readonly<Record<string, string>>) =>
  KubeClient.use((client) =>
    client.request<{ readonly items?: ReadonlyArray<A> }>({ method: "GET", path, ...(query === undefined ? {} : { query }), what })
      .pipe(Effect.map((list) => list.items ?? [])))

/** Whether the apiserver answers and who we are to it; the first thing every command does. */
export const checkReachable = Effect.fn("AddonCluster.checkReachable")(function*() {
  const client = yield* KubeClient
  yield* client.request({ method: "GET", path: "/version", what: `reach the cluster at ${client.server}` })
  return client.server
})

/** Both webhook configurations rely on matchConditions, generally available since Kubernetes 1.30. */
export const minimumKubernetesVersion = { major: 1, minor: 30 } as const

/**
 * Why the apiserver's /version is too old for the add-on, or undefined when it is recent enough (or unreadable:
 * a provider's odd version string must not block an install). Providers append to minor, e.g. "30+".
 */
export const kubernetesVersionProblem = (version: { readonly major?: unknown; readonly minor?: unknown; readonly gitVersion?: unknown }) => {
  const major = Number.parseInt(String(version.major ?? ""), 10)
  const minor = Number.parseInt(String(version.minor ?? ""), 10)
  if (Number.isNaN(major) || Number.isNaN(minor)) return undefined
  const { major: needMajor, minor: needMinor } = minimumKubernetesVersion
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined
  return `the cluster runs Kubernetes ${String(version.gitVersion ?? `${major}.${minor}`)}; tcr-assistant needs ${needMajor}.${needMinor} or later (its webhooks use matchConditions)`
}

/** The apiserver's version, read once by install. */
export const readServerVersion = KubeClient.use((client) =>
  client.request<{ readonly major?: string; readonly minor?: string; readonly gitVersion?: string }>({
    method: "GET",
    path: "/version",
    what: "read the cluster's version"
  })
)

export type Poll<A> = { readonly _tag: "Done"; readonly value: A } | { readonly _tag: "Waiting"; readonly detail: string }

/** Something did not happen in time; `detail` is the last thing the poll saw. */
export class WaitTimedOut extends Schema.TaggedError<WaitTimedOut>()("WaitTimedOut", {
  what: Schema.String,
  detail: Schema.String,
  seconds: Schema.Number
}) {
  override get message(): string {
    return `${this.what} did not happen within ${this.seconds}s: ${this.detail}`
  }
}

/** Repeats `check` (every `interval`) until it is Done or `timeout` has passed. */
export const pollUntil = <A, E, R>(
  what: string,
  check: Effect.Effect<Poll<A>, E, R>,
  options: { readonly timeout: Duration.Input; readonly interval?: Duration.Input }
): Effect.Effect<A, E | WaitTimedOut, R> =>
  Effect.gen(function*() {
    const timeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(options.timeout))
    const interval = options.interval ?? "500 millis"
    const deadline = Date.now() + timeoutMillis
    for (;;) {
      const result = yield* check
      if (result._tag === "Done") return result.value
      if (Date.now() >= deadline) {
        return yield* new WaitTimedOut({ what, detail: result.detail, seconds: Math.round(timeoutMillis / 1000) })
      }
      yield* Effect.sleep(interval)
    }
  })
