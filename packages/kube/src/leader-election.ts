// Owns leader election on a coordination.k8s.io/v1 Lease with client-go's semantics: a candidate takes the lease
// only when its holder has not renewed it for a whole lease duration (timed on the candidate's own clock from the
// moment it last saw the record change, so clock skew does not matter), every write is guarded by resourceVersion,
// the leader renews every retry period and gives up when it could not renew within the renew deadline, and a
// graceful stop hands the lease over at once.
import { Clock, Context, Duration, Effect, Layer, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { stretch } from "./backoff.ts"
import { KubeClient } from "./kube-client.ts"
import type { KubeError } from "./kube-error.ts"

export const defaultLeaseNamespace = "tcr-assistant-system"
export const defaultLeaseName = "tcr-assistant-controller-manager"

export interface LeaderElectionOptions {
  readonly namespace?: string | undefined
  readonly name?: string | undefined
  /** Unique per process; default `<hostname>_<uuid>` (the pod name in a cluster). */
  readonly identity?: string | undefined
  /** How long a lease is valid without renewal; default 15 s. */
  readonly leaseDurationMillis?: number | undefined
  /** How long the leader keeps trying to renew before it gives up; default 10 s. */
  readonly renewDeadlineMillis?: number | undefined
  /** Pause between attempts to acquire or renew; default 2 s. */
  readonly retryPeriodMillis?: number | undefined
}

/** The leader could not renew its lease in time, or saw another holder: it must stop all leader-only work. */
export class LeadershipLost extends Schema.TaggedError<LeadershipLost>()("LeadershipLost", {
  lease: Schema.String,
  identity: Schema.String,
  message: Schema.String
}) {
  readonly retryable = false
}

interface LeaseSpec {
  readonly holderIdentity?: string
  readonly leaseDurationSeconds?: number
  readonly acquireTime?: string
  readonly renewTime?: string
  readonly leaseTransitions?: number
}

interface Lease {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string }
  readonly spec?: LeaseSpec
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export const microTime = (millis: number): string => new Date(millis).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")

export interface LeaderElectorService {
  readonly identity: string
  readonly isLeader: () => boolean
  /** The holder as last observed (possibly ourselves), or undefined before the first read or when released. */
  readonly leader: () => string | undefined
  /**
   * Wait until this process holds the lease, then run `work` while renewing it. Losing the lease interrupts `work`
   * and fails with LeadershipLost; when `work` ends or is interrupted (graceful shutdown), the lease is released so
   * another replica takes over at once.
   */
  readonly runAsLeader: <A, E, R>(work: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LeadershipLost, R>
}

export class LeaderElector extends Context.Service<LeaderElector, LeaderElectorService>()(
  "@tcr-assistant/kube/LeaderElector"
) {
  static readonly layer = (options: LeaderElectionOptions = {}) =>
    Layer.effect(LeaderElector, makeLeaderElector(options))

  /** No election: this process is always the leader (a single replica, or a developer's laptop). */
  static readonly layerAlwaysLeader = (identity = "standalone") =>
    Layer.succeed(
      LeaderElector,
      LeaderElector.of({ identity, isLeader: () => true, leader: () => identity, runAsLeader: (work) => work })
    )
}

export const makeLeaderElector = Effect.fn("LeaderElector.make")(function*(options: LeaderElectionOptions) {
  const client = yield* KubeClient
  const namespace = options.namespace ?? defaultLeaseNamespace
  const name = options.name ?? defaultLeaseName
  const identity = options.identity ?? `${hostname()}_${randomUUID()}`
  const leaseDurationMillis = options.leaseDurationMillis ?? 15_000
  const renewDeadlineMillis = options.renewDeadlineMillis ?? 10_000
  const retryPeriodMillis = options.retryPeriodMillis ?? 2_000
  if (!(leaseDurationMillis > renewDeadlineMillis && renewDeadlineMillis > retryPeriodMillis && retryPeriodMillis > 0)) {
    return yield* Effect.die(
      new Error("leader election needs leaseDuration > renewDeadline > retryPeriod > 0")
    )
  }
  const leaseSeconds = Math.max(1, Math.round(leaseDurationMillis / 1000))
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`
  const path = `${collection}/${name}`
  const what = `Lease ${namespace}/${name}`

  let leading = false
  let observedHolder: string | undefined
  // The record as last seen and when (our clock) it last changed: a holder is alive while it keeps changing it.
  let observedRecord = ""
  let observedAt = 0

  const observe = (spec: LeaseSpec | undefined, now: number) => {
    const record = JSON.stringify([spec?.holderIdentity, spec?.renewTime, spec?.acquireTime, spec?.leaseTransitions, spec?.leaseDurationSeconds])
    if (record !== observedRecord) {
      observedRecord = record
      observedAt = now
    }
    observedHolder = spec?.holderIdentity || undefined
  }

  const ours = (now: number, previous: LeaseSpec | undefined): LeaseSpec => {
    const renewing = previous?.holderIdentity === identity
    return {
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds,
      acquireTime: renewing && previous?.acquireTime !== undefined ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: renewing ? previous?.leaseTransitions ?? 0 : (previous?.leaseTransitions ?? -1) + 1
    }
  }

  /** One attempt; true when we hold the lease afterwards. Losing a race (409) is an ordinary `false`. */
  const tryAcquireOrRenew: Effect.Effect<boolean, KubeError> = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const existing = yield* client
      .request<Lease>({ method: "GET", path, what: `read ${what}` })
      .pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
    if (existing === undefined) {
      const spec = ours(now, undefined)
      return yield* client
        .request<Lease>({
          method: "POST",
          path: collection,
          body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec },
          what: `create ${what}`
        })
        .pipe(
          Effect.map((created) => {
            observe(created.spec, now)
            return true
          }),
          Effect.catchTag("KubeConflict", () => Effect.succeed(false))
        )
    }
    observe(existing.spec, now)
    const holder = existing.spec?.holderIdentity ?? ""
    const validFor = (existing.spec?.leaseDurationSeconds ?? 0) * 1000
    if (holder !== "" && holder !== identity && observedAt + validFor > now) return false
    const spec = ours(now, existing.spec)
    return yield* client
      .request<Lease>({
        method: "PUT",
        path,
        body: { ...existing, spec },
        what: `${holder === identity ? "renew" : "acquire"} ${what}`
      })
      .pipe(
        Effect.map((updated) => {
          observe(updated.spec, now)
          return true
        }),
        Effect.catchTag("KubeConflict", () => Effect.succeed(false))
      )
  })

  const attempt = (limitMillis: number) =>
    tryAcquireOrRenew.pipe(
      Effect.timeoutOption(Duration.millis(Math.max(1, limitMillis))),
      Effect.map((result) => result._tag === "Some" && result.value),
      Effect.catch((error: KubeError) =>
        Effect.logWarning("leader election request failed").pipe(
          Effect.annotateLogs({ kind: "Lease", namespace, name, error: error.message }),
          Effect.as(false)
        )
      )
    )

  // client-go waits retryPeriod scaled by a random factor in [1, 1.2) between acquire attempts.
  const retryPause = stretch(Duration.millis(retryPeriodMillis), 0.2)

  const acquire = Effect.gen(function*() {
    let reportedHolder: string | undefined
    while (true) {
      if (yield* attempt(retryPeriodMillis + renewDeadlineMillis)) return
      if (observedHolder !== reportedHolder) {
        reportedHolder = observedHolder
        yield* Effect.logInfo("waiting for the lease").pipe(
          Effect.annotateLogs({ kind: "Lease", namespace, name, holder: observedHolder ?? "" })
        )
      }
      yield* Effect.sleep(yield* retryPause)
    }
  })

  const keepRenewing: Effect.Effect<never, LeadershipLost> = Effect.gen(function*() {
    let renewedAt = yield* Clock.currentTimeMillis
    while (true) {
      yield* Effect.sleep(Duration.millis(retryPeriodMillis))
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const left = renewDeadlineMillis - (now - renewedAt)
        if (left <= 0) {
          return yield* new LeadershipLost({
            lease: `${namespace}/${name}`,
            identity,
            message: `could not renew the lease within ${renewDeadlineMillis} ms${observedHolder !== undefined && observedHolder !== identity ? `; it is held by ${observedHolder}` : ""}`
          })
        }
        if (yield* attempt(left)) {
          renewedAt = now
          break
        }
        yield* Effect.sleep(Duration.millis(Math.min(retryPeriodMillis, Math.max(1, left))))
      }
    }
  })

  // client-go's release: an empty holder and a one-second duration, so a waiting replica takes over on its next try.
  const release = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const existing = yield* client.request<Lease>({ method: "GET", path, what: `read ${what}` })
    if (existing.spec?.holderIdentity !== identity) return
    yield* client.request<Lease>({
      method: "PUT",
      path,
      body: {
        ...existing,
        spec: {
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: existing.spec?.leaseTransitions ?? 0
        }
      },
      what: `release ${what}`
    })
    observedHolder = undefined
    yield* Effect.logInfo("released the lease").pipe(Effect.annotateLogs({ kind: "Lease", namespace, name }))
  }).pipe(
    Effect.timeoutOption(Duration.millis(renewDeadlineMillis)),
    Effect.catch((error: KubeError) =>
      Effect.logWarning("could not release the lease").pipe(
        Effect.annotateLogs({ kind: "Lease", namespace, name, error: error.message })
      )
    ),
    Effect.asVoid
  )

  const runAsLeader = <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E | LeadershipLost, R> =>
    Effect.gen(function*() {
      yield* acquire
      leading = true
      yield* Effect.logInfo("became the leader").pipe(
        Effect.annotateLogs({ kind: "Lease", namespace, name, identity })
      )
      return yield* Effect.raceFirst(work, keepRenewing).pipe(
        Effect.onExit((exit) =>
          Effect.gen(function*() {
            const lost = exit._tag === "Failure" && exit.cause.reasons.some(
              (reason) => reason._tag === "Fail" && (reason.error as { _tag?: string })._tag === "LeadershipLost"
            )
            leading = false
            if (lost) {
              yield* Effect.logError("lost the leadership; stopping").pipe(
                Effect.annotateLogs({ kind: "Lease", namespace, name, identity })
              )
            } else {
              // The leader-only work has stopped (raceFirst waits for it): only now may another replica start.
              yield* release
            }
          })
        )
      )
    }).pipe(Effect.ensuring(Effect.sync(() => { leading = false })))

  return LeaderElector.of({
    identity,
    isLeader: () => leading,
    leader: () => observedHolder,
    runAsLeader
  })
})
