// Writes ImagePullSecret status: marked dirty by any change, aggregated from the targets' machines when flushed, and
// sent only when it differs from what the cluster holds (our own last write, while the cache has not caught up).
import type { ImagePullSecretStatus, PodsMissingSecret } from "@tcr-assistant/api"
import { KubeClient, type KubeError, type KubeObject, resourceRevision } from "@tcr-assistant/kube"
import { Clock, Effect } from "effect"
import { imagePullSecretsPath, type ImagePullSecretObject } from "./cluster-cache.ts"
import type { Distribution } from "./distribution.ts"
import { aggregateStatus, type TargetView } from "./status.ts"

export interface StatusSources {
  readonly imagePullSecret: (ips: string) => ImagePullSecretObject | undefined
  readonly distributionOf: (ips: string) => Distribution | undefined
  readonly targetsOf: (ips: string) => ReadonlyArray<TargetView>
  readonly credentialProblemOf: (distribution: Distribution) => string | undefined
  readonly desiredCounts: (distribution: Distribution) => { readonly secretsDesired: number; readonly serviceAccountsDesired: number }
  /** Most not-ready targets listed in a status. */
  readonly maxTargets: number
  /** Pods admitted without the ImagePullSecret's Secret; absent when the controller does not watch Pods. */
  readonly podsMissingSecretOf?: ((ips: string) => PodsMissingSecret) | undefined
  /** When the token an ImagePullSecret distributes expires, when known. */
  readonly tokenExpiryOf?: ((ips: string) => Date | undefined) | undefined
  /** Counts every status written. */
  readonly written: () => void
  /** Hears of every status written, and of the one it replaced (what an Event announces). */
  readonly announce: (object: ImagePullSecretObject, previous: ImagePullSecretStatus | undefined, next: ImagePullSecretStatus) => Effect.Effect<void>
}

export interface StatusWriter {
  readonly markDirty: (ips: string) => void
  /** The ImagePullSecret is gone: forget our last write to it. */
  readonly forget: (ips: string) => void
  /** Statuses waiting to be written, or being written. */
  readonly dirty: () => number
  /** Write every dirty status that changed. */
  readonly flush: Effect.Effect<void>
}

/** JSON with object keys sorted: the apiserver returns a custom resource's keys sorted, whatever order we sent. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner
  )

export const makeStatusWriter = Effect.fn("StatusWriter.make")(function*(sources: StatusSources) {
  const client = yield* KubeClient
  const dirtyStatus = new Set<string>()
  /** Our last status write per ImagePullSecret, and the version it produced: the cache may not show it yet. */
  const lastWrittenStatus = new Map<string, { readonly status: ImagePullSecretStatus; readonly text: string; readonly resourceVersion: bigint }>()

  const patchStatus = (object: ImagePullSecretObject, previous: ImagePullSecretStatus | undefined, status: ImagePullSecretStatus, text: string) => {
    const ips = object.metadata.name
    return client
      .request<KubeObject>({
        method: "PATCH",
        path: `${imagePullSecretsPath}/${ips}/status`,
        // The status is ours alone: replace it whole. A merge patch would keep keys that are gone from maps such
        // as targetsByState ("Pending: 3" long after every target is ready).
        body: [{ op: "add", path: "/status", value: status }],
        what: `update status of ImagePullSecret ${ips}`
      })
      .pipe(
        Effect.tap((updated) =>
          Effect.sync(() => {
            sources.written()
            lastWrittenStatus.set(ips, { status, text, resourceVersion: resourceRevision(updated) })
          })
        ),
        Effect.tap(() => sources.announce(object, previous, status)),
        // The object is gone (the informer has not seen it yet): its Delete event ends the matter; retrying at
        // every status interval until then would only hammer the apiserver.
        Effect.catchTag("KubeNotFound", () => Effect.void),
        Effect.catch((error: KubeError) =>
          Effect.sync(() => dirtyStatus.add(ips)).pipe(
            Effect.andThen(Effect.logWarning("status update failed").pipe(Effect.annotateLogs({ imagePullSecret: ips, error: error.message })))
          )
        )
      )
  }

  const writeStatus = (ips: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const object = sources.imagePullSecret(ips)
      const distribution = sources.distributionOf(ips)
      if (object === undefined || distribution === undefined) return Effect.void
      const status = aggregateStatus({
        distribution,
        credentialProblem: sources.credentialProblemOf(distribution),
        ...sources.desiredCounts(distribution),
        targets: sources.targetsOf(ips),
        previous: object.status,
        now: new Date(now),
        maxTargets: sources.maxTargets,
        podsMissingSecret: sources.podsMissingSecretOf?.(ips),
        tokenExpiresAt: sources.tokenExpiryOf?.(ips)
      })
      const text = canonicalJson(status)
      // Compare with what the cluster holds: our last write while the cache has not caught up with it, else the
      // cache. (Comparing with a stale cache alone could skip a write that undoes our newer one, and remembering
      // that skip as written kept the wrong status once the cache caught up.)
      const written = lastWrittenStatus.get(ips)
      const ahead = written !== undefined && resourceRevision(object) < written.resourceVersion
      const current = ahead ? written.text : canonicalJson(object.status)
      return current === text ? Effect.void : patchStatus(object, ahead ? written.status : object.status, status, text)
    })

  // Taken from the dirty set by a flush, not written yet: until then the cluster's status is not the one we mean.
  let writing = 0
  const writer: StatusWriter = {
    markDirty: (ips) => void dirtyStatus.add(ips),
    forget: (ips) => void lastWrittenStatus.delete(ips),
    dirty: () => dirtyStatus.size + writing,
    flush: Effect.suspend(() => {
      const due = [...dirtyStatus]
      dirtyStatus.clear()
      writing += due.length
      return Effect.forEach(due, (ips) => writeStatus(ips).pipe(Effect.ensuring(Effect.sync(() => void writing--))), { discard: true })
    })
  }
  return writer
})
