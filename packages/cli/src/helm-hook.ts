// `tcr-assistant helm-hook ...`: what the Helm chart's hook Jobs run, in the add-on's own image. `upgrade-crd`
// (pre-install, pre-upgrade) makes the ImagePullSecret CRD this version's, which Helm's crds/ never does once it
// exists; `delete-image-pull-secrets` (pre-delete) deletes the release's ImagePullSecrets while the controller still
// runs and waits for its finalizer, and does the finalizer's work itself when no controller makes progress.
import { crdName, imagePullSecretCrd, group, plural } from "@tcr-assistant/api"
import { KubeClient } from "@tcr-assistant/kube"
import { defaultLeaseName, defaultLeaseNamespace } from "@tcr-assistant/kube/leader-election"
import { permission, type Permission } from "@tcr-assistant/kube/rbac"
import { Duration, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { checkReachable, deleteObject, getObject, listImagePullSecrets, pollUntil } from "./addon-cluster.ts"
import { failure, reportFailure, usageFailure } from "./addon-failure.ts"
import { contextFlag, kubeconfigFlag, kubeLayer, operatorLogging, progress } from "./addon-flags.ts"
import { imagePullSecretPath } from "./addon-record.ts"
import { controllerEvidence, forceCleanup, retryOnConflict, waitForFinalizers } from "./addon-release.ts"
import { withRequiredShown, withShownDefault } from "./flag-default.ts"

const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`
const controllerDeploymentName = "tcr-assistant-controller-manager"

/** What the hook Jobs' ServiceAccount may do (the chart's hook ClusterRole is generated from this list). */
export const helmHookPermissions: ReadonlyArray<Permission> = [
  permission("apiextensions.k8s.io", "customresourcedefinitions", ["get", "update"], "upgrade-crd replaces the CRD's spec", {
    resourceNames: [crdName]
  }),
  permission(group, plural, ["get", "list", "delete", "patch"], "delete-image-pull-secrets deletes them; without a controller it releases the finalizer"),
  permission("", "secrets", ["get", "list", "delete"], "without a controller: the distributed Secrets are deleted"),
  permission("", "serviceaccounts", ["get", "list", "patch"], "without a controller: our imagePullSecrets entries are removed"),
  permission("coordination.k8s.io", "leases", ["get"], "is a controller leading?", { resourceNames: [defaultLeaseName] }),
  permission("apps", "deployments", ["get"], "has the controller ready replicas?", { resourceNames: [controllerDeploymentName] })
]

interface CrdObject {
  readonly metadata: {
    readonly name: string
    readonly generation?: number
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
    readonly [key: string]: unknown
  }
  readonly spec?: unknown
  readonly status?: { readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string; readonly message?: string }> }
}

/**
 * Replaces the CRD's spec with this version's (an update, not a server-side apply: fields an older version had, set
 * by whoever created the CRD, must go too) and waits until the apiserver has accepted its names again.
 */
export const upgradeCrd = Effect.fn("helm-hook.upgradeCrd")(function*(timeout: Duration.Duration) {
  const client = yield* KubeClient
  const desired = imagePullSecretCrd()
  const [before, after] = yield* retryOnConflict(Effect.gen(function*() {
    const current = yield* getObject<CrdObject>(crdPath, `get CustomResourceDefinition ${crdName}`)
    if (current === undefined) {
      return yield* failure(
        `CustomResourceDefinition ${crdName} does not exist, so there is nothing to upgrade`,
        "apply it (kubectl apply --server-side -f charts/tcr-assistant/crds/) and run helm again"
      )
    }
    const { managedFields: _, ...metadata } = current.metadata
    const updated = yield* client.request<CrdObject>({
      method: "PUT",
      path: crdPath,
      body: {
        apiVersion: desired.apiVersion,
        kind: desired.kind,
        metadata: { ...metadata, labels: { ...metadata.labels, ...desired.metadata.labels } },
        spec: desired.spec
      },
      what: `update CustomResourceDefinition ${crdName}`
    })
    return [current.metadata.generation, updated.metadata.generation] as const
  }))
  yield* pollUntil(
    `CustomResourceDefinition ${crdName} being established`,
    Effect.map(getObject<CrdObject>(crdPath, `get CustomResourceDefinition ${crdName}`), (crd) => {
      const conditions = crd?.status?.conditions ?? []
      const notTrue = ["NamesAccepted", "Established"].filter((type) =>
        !conditions.some((condition) => condition.type === type && condition.status === "True"))
      return notTrue.length === 0
        ? { _tag: "Done" as const, value: undefined }
        : { _tag: "Waiting" as const, detail: `not yet ${notTrue.join(", ")}` }
    }),
    { timeout }
  )
  yield* progress(before === after
    ? `CustomResourceDefinition ${crdName} is already this version's (generation ${after})`
    : `updated CustomResourceDefinition ${crdName} to this version's (generation ${before} -> ${after})`)
})

export interface DeleteImagePullSecretsOptions {
  readonly names: ReadonlySet<string>
  /** The add-on's namespace, where the controller's Lease and Deployment are. */
  readonly namespace: string
  readonly timeout: Duration.Duration
  readonly stallTimeout: Duration.Duration
}

/**
 * Deletes the named ImagePullSecrets and returns once they are gone: the controller's finalizer removes what they
 * distributed; with no controller, or when it makes no progress for `stallTimeout` or takes longer than `timeout`,
 * the same work is done here. Bounded: at most `timeout` plus one `stallTimeout`.
 */
export const deleteImagePullSecrets = Effect.fn("helm-hook.deleteImagePullSecrets")(function*(options: DeleteImagePullSecretsOptions) {
  const present = (yield* listImagePullSecrets()).map((object) => object.metadata.name).filter((name) => options.names.has(name))
  if (present.length === 0) {
    yield* progress(`none of the ImagePullSecrets ${[...options.names].join(", ")} exists: nothing to delete`)
    return
  }
  const names = new Set(present)
  const evidence = yield* controllerEvidence(options.namespace)
  for (const name of present) {
    yield* deleteObject(imagePullSecretPath(name), `delete ImagePullSecret ${name}`)
    yield* progress(`deleted ImagePullSecret ${name}`)
  }
  const direct = (why: string) =>
    Effect.gen(function*() {
      yield* progress(`${why}: removing the distributed Secrets and ServiceAccount entries directly`)
      yield* forceCleanup(names)
      yield* waitForFinalizers(names, { timeout: options.stallTimeout, stallTimeout: options.stallTimeout }).pipe(
        Effect.catchTag("FinalizersStalled", (stalled) =>
          Effect.fail(failure(
            `${stalled.remaining.join(", ")} did not go after their Secrets, ServiceAccount entries and our finalizer were removed`,
            `another finalizer may hold them: kubectl get imagepullsecrets.${group} ${stalled.remaining.join(" ")} -o yaml`
          )))
      )
    })
  if (evidence === undefined) {
    yield* direct(`no controller runs in ${options.namespace} (no fresh leader Lease, no ready Deployment)`)
  } else {
    yield* progress(`waiting for the controller to release the finalizers (${evidence})`)
    yield* waitForFinalizers(names, options).pipe(
      Effect.catchTag("FinalizersStalled", (stalled) => direct(`the controller made no progress for ${stalled.seconds}s`)),
      Effect.catchTag("WaitTimedOut", (timedOut) => direct(`the controller did not finish within ${timedOut.seconds}s`))
    )
  }
  yield* progress(`${present.length} ImagePullSecret(s) and what they distributed are gone`)
})

const timeoutFlag = (what: string, seconds: number) => Flag.Int("timeout").pipe(withShownDefault(what, seconds))

const positive = (flag: string, seconds: number) =>
  seconds > 0 ? Effect.succeed(Duration.seconds(seconds)) : usageFailure(`--${flag} must be a positive number of seconds`)

const upgradeCrdCommand = Command.make(
  "upgrade-crd",
  {
    timeout: timeoutFlag("Seconds the apiserver may take to establish the updated CRD", 60),
    kubeconfig: kubeconfigFlag,
    context: contextFlag
  },
  (flags) =>
    Effect.gen(function*() {
      const timeout = yield* positive("timeout", flags.timeout)
      yield* Effect.gen(function*() {
        yield* checkReachable()
        yield* upgradeCrd(timeout)
      }).pipe(Effect.provide([kubeLayer(flags), operatorLogging]))
    }).pipe(Effect.catch(reportFailure))
).pipe(Command.withDescription(`Replace the spec of CustomResourceDefinition ${crdName} with this version's and wait until it is established`))

const deleteImagePullSecretsCommand = Command.make(
  "delete-image-pull-secrets",
  {
    names: Flag.String("names").pipe(withRequiredShown("Comma-separated names of the ImagePullSecrets to delete")),
    namespace: Flag.String("namespace").pipe(
      withShownDefault("The add-on's namespace, where the controller's Lease and Deployment are", defaultLeaseNamespace)
    ),
    timeout: timeoutFlag("Seconds to wait for the controller before doing its finalizer's work here", 120),
    stallTimeout: Flag.Int("stall-timeout").pipe(
      withShownDefault("Seconds without progress after which the controller is taken to be gone", 30)
    ),
    kubeconfig: kubeconfigFlag,
    context: contextFlag
  },
  (flags) =>
    Effect.gen(function*() {
      const names = new Set(flags.names.split(",").map((name) => name.trim()).filter((name) => name !== ""))
      if (names.size === 0) return yield* usageFailure("--names must name at least one ImagePullSecret")
      const timeout = yield* positive("timeout", flags.timeout)
      const stallTimeout = yield* positive("stall-timeout", flags.stallTimeout)
      yield* Effect.gen(function*() {
        yield* checkReachable()
        yield* deleteImagePullSecrets({ names, namespace: flags.namespace, timeout, stallTimeout })
      }).pipe(Effect.provide([kubeLayer(flags), operatorLogging]))
    }).pipe(Effect.catch(reportFailure))
).pipe(
  Command.withDescription(
    "Delete ImagePullSecrets and wait until their Secrets and ServiceAccount entries are gone, doing the controller's finalizer work when no controller makes progress"
  )
)

export const helmHookCommand = Command.make("helm-hook").pipe(
  Command.withDescription("What the Helm chart's hook Jobs run: upgrade the CRD, delete the release's ImagePullSecrets before uninstall"),
  Command.withSubcommands([upgradeCrdCommand, deleteImagePullSecretsCommand])
)
