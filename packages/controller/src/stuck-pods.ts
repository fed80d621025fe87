// Owns the leader's watch of Pods that were admitted without our pull Secret (created before the install, or while
// no webhook replica was reachable): a slim Pod informer, the per-ImagePullSecret index of such Pods that the status
// reports, one report per Pod for its Warning Event, and, when enabled, the deletion of those that fail to pull and
// that their controller recreates with the Secret.
import { KubeClient, type KubeError, makeInformer, type Informer, type InformerEvent } from "@tcr-assistant/kube"
import { Effect, Metric, type Scope, Stream } from "effect"
import type { ClusterCache } from "./cluster-cache.ts"
import {
  deletable,
  fixMessage,
  makeMissingPullSecretIndex,
  type MissingPullSecretIndex,
  type NewlyMissing,
  type Pod,
  slimPod
} from "./missing-pull-secret.ts"

export interface StuckPodOptions {
  /** Delete Pods that fail to pull without our Secret and that a controller owns, so they come back with it. */
  readonly deleteStuckPods?: boolean | undefined
  /** The add-on's own namespace: the Pod mutation is never called there, so its Pods are not reported. */
  readonly excludedNamespace?: string | undefined
  /** Most Pods listed per ImagePullSecret in status.podsMissingSecret.pods. */
  readonly maxExamples?: number | undefined
}

/** One Pod found missing a Secret (its Warning Event), or deleted so that its owner recreates it. */
export interface StuckPodReport {
  readonly type: "Missing" | "Deleted"
  readonly namespace: string
  readonly name: string
  readonly uid: string | undefined
  readonly imagePullSecret: string
  readonly message: string
}

export interface StuckPods {
  readonly informer: Informer<Pod>
  readonly index: MissingPullSecretIndex
  /** Follow Pods and ImagePullSecrets in the current scope. */
  readonly follow: (sinks: {
    readonly markDirty: (ips: string) => void
    readonly report: (report: StuckPodReport) => void
  }) => Effect.Effect<void, never, Scope.Scope>
}

const deletedTotal = Metric.counter("tcr_assistant_stuck_pods_deleted_total", {
  description: "Pods deleted by --delete-stuck-pods: failing to pull without the pull Secret, recreated by their controller.",
  incremental: true
})

export const makeStuckPods = Effect.fn("StuckPods.make")(function*(cache: ClusterCache, options: StuckPodOptions = {}) {
  const client = yield* KubeClient
  const context = yield* Effect.context<never>()
  const informer = yield* makeInformer<Pod>({ name: "pods", path: "/api/v1/pods", transform: slimPod })
  const index = makeMissingPullSecretIndex({
    distributions: () =>
      [...cache.imagePullSecrets.values()].flatMap((object) => {
        const distribution = cache.distributionOf(object.metadata.name)
        return distribution === undefined ? [] : [distribution]
      }),
    pods: () => informer.values(),
    maxExamples: options.maxExamples ?? 10,
    excludedNamespace: options.excludedNamespace,
    // The controller's own caches: the Pod is judged with the labels its namespace and ServiceAccount are selected by.
    context: {
      namespace: (name) => ({ name, labels: cache.namespaces.get(name)?.metadata.labels }),
      serviceAccount: (namespace, name) => ({ name, labels: cache.serviceAccounts.get(`${namespace}/${name}`)?.metadata.labels })
    }
  })
  /** Deletions sent, by Pod uid: a Pod is deleted at most once. */
  const deleting = new Set<string>()

  const serviceAccountReferences = (pod: Pod) => (secretName: string) => {
    const account = cache.observedServiceAccounts.get(`${pod.metadata.namespace ?? ""}/${pod.spec?.serviceAccountName || "default"}`)
    return (account?.imagePullSecrets ?? []).some((entry) => entry.name === secretName)
  }

  const deletePod = (pod: Pod, imagePullSecret: string, report: (report: StuckPodReport) => void) => {
    const namespace = pod.metadata.namespace ?? ""
    const uid = pod.metadata.uid ?? ""
    return client
      .request({
        method: "DELETE",
        path: `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}`,
        // Only this Pod: one recreated under the same name (a StatefulSet's) already has the Secret, or is judged anew.
        body: { apiVersion: "v1", kind: "DeleteOptions", preconditions: { uid } },
        contentType: "application/json",
        what: `delete Pod ${namespace}/${pod.metadata.name}`
      })
      .pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            deletedTotal.updateUnsafe(1, context)
            report({
              type: "Deleted",
              namespace,
              name: pod.metadata.name,
              uid,
              imagePullSecret,
              message: `deleted (--delete-stuck-pods): it could not pull without the pull Secret tcr.ips${imagePullSecret}; ` +
                "its controller recreates it, and the new Pod gets the Secret"
            })
          })
        ),
        Effect.andThen(Effect.logInfo("deleted a pod missing its pull secret").pipe(
          Effect.annotateLogs({ kind: "Pod", namespace, name: pod.metadata.name, imagePullSecret })
        )),
        // Gone already, or another Pod under that name now: nothing of ours to delete.
        Effect.catchTag(["KubeNotFound", "KubeConflict"], () => Effect.void),
        Effect.catch((error: KubeError) =>
          Effect.sync(() => deleting.delete(uid)).pipe(
            Effect.andThen(Effect.logWarning("could not delete a pod missing its pull secret").pipe(
              Effect.annotateLogs({ kind: "Pod", namespace, name: pod.metadata.name, error: error.message })
            ))
          )
        )
      )
  }

  /** Delete the Pod if the flag is on and the rules allow it; at most one request per Pod uid. */
  const maybeDelete = (pod: Pod, imagePullSecret: string, secretName: string, report: (report: StuckPodReport) => void) => {
    const uid = pod.metadata.uid ?? ""
    if (options.deleteStuckPods !== true || uid === "" || deleting.has(uid)) return Effect.void
    if (!deletable(pod, serviceAccountReferences(pod), secretName)) return Effect.void
    deleting.add(uid)
    return deletePod(pod, imagePullSecret, report)
  }

  const reportMissing = (found: ReadonlyArray<NewlyMissing>, report: (report: StuckPodReport) => void) => {
    for (const { imagePullSecret, pod, secretName } of found) {
      report({
        type: "Missing",
        namespace: pod.metadata.namespace ?? "",
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        imagePullSecret,
        message: fixMessage(pod, secretName)
      })
    }
  }

  /** Every Pod still missing the ImagePullSecret's Secret (of one ServiceAccount, if named) gets a deletion check. */
  const checkDeletions = (ips: string, report: (report: StuckPodReport) => void, account?: { namespace: string; name: string }) => {
    const distribution = cache.distributionOf(ips)
    if (options.deleteStuckPods !== true || distribution === undefined) return Effect.void
    const pods = [...index.podsOf(ips)].filter((pod) =>
      account === undefined ||
      (pod.metadata.namespace === account.namespace && (pod.spec?.serviceAccountName || "default") === account.name)
    )
    return Effect.forEach(pods, (pod) => maybeDelete(pod, ips, distribution.secretName, report), { discard: true })
  }

  const follow: StuckPods["follow"] = (sinks) =>
    Effect.gen(function*() {
      const onPod = (event: InformerEvent<Pod>) =>
        Effect.suspend(() => {
          if (event.type === "Delete") {
            deleting.delete(event.object.metadata.uid ?? "")
            for (const ips of index.podDeleted(event.object)) sinks.markDirty(ips)
            return Effect.void
          }
          const { changed, missingFrom, reported } = index.podChanged(event.object)
          for (const ips of changed) sinks.markDirty(ips)
          reportMissing(reported, sinks.report)
          return Effect.forEach(missingFrom, ({ name, secretName }) => maybeDelete(event.object, name, secretName, sinks.report), {
            discard: true
          })
        })
      yield* informer.events.pipe(Stream.runForEach(onPod), Effect.forkScoped)

      // A recount over every Pod only when what selects them changed, not at every status write.
      const lastDecoded = new Map<string, unknown>()
      yield* cache.imagePullSecrets.events.pipe(
        Stream.runForEach((event) =>
          Effect.suspend(() => {
            const name = event.object.metadata.name
            const distribution = event.type === "Delete" ? undefined : cache.distributionOf(name)
            if (distribution !== undefined && lastDecoded.get(name) === distribution) return Effect.void
            if (distribution === undefined) lastDecoded.delete(name)
            else lastDecoded.set(name, distribution)
            // The Pods may have synced before this ImagePullSecret arrived, or after: wait for them to be counted.
            return informer.awaitSynced.pipe(
              Effect.andThen(Effect.sync(() => {
                reportMissing(index.imagePullSecretChanged(name, distribution), sinks.report)
                sinks.markDirty(name)
              })),
              Effect.andThen(checkDeletions(name, sinks.report))
            )
          })
        ),
        Effect.forkScoped
      )

      // A ServiceAccount that now references our Secret makes its failing Pods deletable.
      if (options.deleteStuckPods === true) {
        yield* cache.serviceAccounts.events.pipe(
          Stream.runForEach((event) =>
            event.type === "Delete"
              ? Effect.void
              : Effect.forEach(
                [...cache.imagePullSecrets.values()],
                (object) =>
                  checkDeletions(object.metadata.name, sinks.report, {
                    namespace: event.object.metadata.namespace ?? "",
                    name: event.object.metadata.name
                  }),
                { discard: true }
              )
          ),
          Effect.forkScoped
        )
      }
    })

  const stuckPods: StuckPods = { informer, index, follow }
  return stuckPods
})
