// Owns deleting ImagePullSecrets and seeing what they distributed go: the controller's finalizer removes their Secrets
// and ServiceAccount entries, and when the controller is not there (or stops making progress) the same work is done
// here, touching only what the controller made. `uninstall` and the chart's pre-delete hook both use it.
import { managedSecretName } from "@tcr-assistant/api"
import { KubeClient } from "@tcr-assistant/kube"
import { defaultLeaseName, defaultLeaseNamespace } from "@tcr-assistant/kube/leader-election"
import { Duration, Effect, Schema } from "effect"
import {
  finalizerRelease,
  isDistributedSecret,
  managedByLabel,
  managedByValue,
  type SecretObject,
  serviceAccountCleanup,
  type ServiceAccountObject
} from "./addon-cleanup.ts"
import { deleteObject, getObject, listImagePullSecrets, listObjects, pollUntil } from "./addon-cluster.ts"
import { progress } from "./addon-flags.ts"
import { imagePullSecretPath, type ObservedImagePullSecret } from "./addon-record.ts"
import type { WorkloadObject } from "./addon-status.ts"
import { addonWorkloads } from "./status.ts"

interface LeaseObject {
  readonly spec?: { readonly renewTime?: string; readonly leaseDurationSeconds?: number; readonly holderIdentity?: string }
}

/**
 * Whether something says the controller runs: a fresh leader Lease or a ready controller Deployment in `namespace`
 * (the add-on's).
 */
export const controllerEvidence = (namespace: string = defaultLeaseNamespace) =>
  Effect.gen(function*() {
    const lease = yield* getObject<LeaseObject>(
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${defaultLeaseName}`,
      "get the controller's leader Lease"
    )
    const renew = lease?.spec?.renewTime === undefined ? undefined : Date.parse(lease.spec.renewTime)
    const duration = (lease?.spec?.leaseDurationSeconds ?? 15) * 1000
    if (renew !== undefined && lease?.spec?.holderIdentity && Date.now() - renew < 2 * duration) {
      return `its leader Lease is held by ${lease.spec.holderIdentity}`
    }
    for (const workload of addonWorkloads().filter((candidate) => candidate.kind === "Deployment")) {
      const deployment = yield* getObject<WorkloadObject["object"]>(
        `/apis/apps/v1/namespaces/${namespace}/deployments/${workload.name}`,
        `get Deployment ${namespace}/${workload.name}`
      )
      if ((deployment?.status?.readyReplicas ?? 0) > 0) return `Deployment ${workload.name} has ready replicas`
    }
    return undefined
  })

/** The ImagePullSecrets still wait for their finalizer and nothing changed for `seconds`. */
export class FinalizersStalled extends Schema.TaggedError<FinalizersStalled>()("FinalizersStalled", {
  remaining: Schema.Array(Schema.String),
  seconds: Schema.Number
}) {}

/** The Secrets the controller distributed for the named ImagePullSecrets, in one list of every Secret it labels. */
export const distributedSecrets = <A extends SecretObject = SecretObject>(names: ReadonlySet<string>) =>
  listObjects<A>("/api/v1/secrets", "list Secrets", { labelSelector: `${managedByLabel}=${managedByValue}` })
    .pipe(Effect.map((secrets) => secrets.filter((secret) => isDistributedSecret(secret, names))))

export interface FinalizerWait {
  /** How long the whole wait may take. */
  readonly timeout: Duration.Duration
  /** How long the cleanup may show no progress before it counts as stalled. */
  readonly stallTimeout: Duration.Duration
}

/** Waits until the named ImagePullSecrets are gone; fails with FinalizersStalled when nothing moves for a while. */
export const waitForFinalizers = (names: ReadonlySet<string>, options: FinalizerWait) =>
  Effect.gen(function*() {
    let signature = ""
    let lastProgress = Date.now()
    const stallMillis = Duration.toMillis(options.stallTimeout)
    return yield* pollUntil(
      "removal of the ImagePullSecrets",
      Effect.gen(function*() {
        const remaining = (yield* listImagePullSecrets()).filter((object) => names.has(object.metadata.name))
        if (remaining.length === 0) return { _tag: "Done" as const, value: undefined }
        const secrets = yield* distributedSecrets(names)
        const now = [...remaining.map((object) => `${object.metadata.name}@${object.metadata.resourceVersion}`), secrets.length].join(",")
        if (now !== signature) {
          signature = now
          lastProgress = Date.now()
        } else if (Date.now() - lastProgress > stallMillis) {
          return yield* new FinalizersStalled({
            remaining: remaining.map((object) => object.metadata.name),
            seconds: Math.round(stallMillis / 1000)
          })
        }
        return {
          _tag: "Waiting" as const,
          detail: `${remaining.length} ImagePullSecret(s) and ${secrets.length} distributed Secret(s) remain`
        }
      }),
      { timeout: options.timeout }
    )
  })

/** On a 409 the object changed since it was read: read again and recompute, a few times. */
export const retryOnConflict = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.retry({ times: 5, while: (error) => error._tag === "KubeConflict" }))

/** The controller's finalizer work, done here: only the controller's own Secrets and the entries naming them. */
export const forceCleanup = (names: ReadonlySet<string>) =>
  Effect.gen(function*() {
    const client = yield* KubeClient
    const secretNames = new Set([...names].map(managedSecretName))
    let entries = 0
    const serviceAccounts = yield* listObjects<ServiceAccountObject>("/api/v1/serviceaccounts", "list ServiceAccounts")
    for (const serviceAccount of serviceAccounts) {
      if (!(serviceAccount.imagePullSecrets ?? []).some((entry) => entry.name !== undefined && secretNames.has(entry.name))) continue
      const namespace = serviceAccount.metadata.namespace ?? "default"
      const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount.metadata.name}`
      const removed = yield* retryOnConflict(Effect.gen(function*() {
        const current = yield* getObject<ServiceAccountObject>(path, `get ServiceAccount ${namespace}/${serviceAccount.metadata.name}`)
        if (current === undefined) return 0
        const secrets = new Map<string, SecretObject>()
        for (const name of secretNames) {
          const secret = yield* getObject<SecretObject>(`/api/v1/namespaces/${namespace}/secrets/${name}`, `get Secret ${namespace}/${name}`)
          if (secret !== undefined) secrets.set(name, secret)
        }
        const cleanup = serviceAccountCleanup(current, names, secrets)
        if (cleanup === undefined) return 0
        yield* client.request({
          method: "PATCH",
          path,
          contentType: "application/json-patch+json",
          body: cleanup.patch,
          what: `remove pull Secret entries from ServiceAccount ${namespace}/${serviceAccount.metadata.name}`
        })
        return cleanup.removed.length
      }))
      entries += removed
    }
    const secrets = yield* distributedSecrets(names)
    for (const secret of secrets) {
      const namespace = secret.metadata.namespace ?? "default"
      yield* deleteObject(
        `/api/v1/namespaces/${namespace}/secrets/${encodeURIComponent(secret.metadata.name)}`,
        `delete Secret ${namespace}/${secret.metadata.name}`,
        { uid: secret.metadata.uid }
      ).pipe(Effect.catchTag("KubeConflict", () => Effect.succeed(false)))
    }
    yield* progress(`  removed ${entries} ServiceAccount entr${entries === 1 ? "y" : "ies"} and ${secrets.length} Secret(s) made by the controller`)
    for (const name of names) {
      yield* retryOnConflict(Effect.gen(function*() {
        const object = yield* getObject<ObservedImagePullSecret>(imagePullSecretPath(name), `get ImagePullSecret ${name}`)
        const release = finalizerRelease(object?.metadata.finalizers)
        if (object === undefined || release === undefined) return
        yield* client.request({
          method: "PATCH",
          path: imagePullSecretPath(name),
          contentType: "application/json-patch+json",
          body: release,
          what: `release the finalizer of ImagePullSecret ${name}`
        }).pipe(Effect.catchTag("KubeNotFound", () => Effect.void))
      }))
    }
  })
