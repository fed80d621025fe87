// `tcr-assistant uninstall`: deletes our ImagePullSecrets and waits while the controller's finalizer removes their
// Secrets and ServiceAccount entries, empties updater-config and waits until every reporting node has removed its
// hosts block, deletes every add-on object and our Node annotations, and with `--revoke-token` deletes the TCR token.
// Without a running controller `--force` does the finalizer's work itself, touching only what the controller made.
import { expectedHostsConfigHash, hostsAnnotations, readNodeHostsState } from "@tcr-assistant/hosts-updater"
import { KubeClient } from "@tcr-assistant/kube"
import { TcrApi, type TcrCredentials } from "@tcr-assistant/tcr"
import { Duration, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { controllerEvidence, FinalizersStalled, forceCleanup, waitForFinalizers } from "./addon-release.ts"
import {
  applyObject,
  checkReachable,
  deleteObject,
  describeObject,
  getObject,
  listImagePullSecrets,
  listObjects,
  type Manifest,
  objectPath,
  pollUntil
} from "./addon-cluster.ts"
import { readCredentialRecord, readCredentialSecret } from "./addon-credential.ts"
import { failure, reportFailure, usageFailure } from "./addon-failure.ts"
import {
  clusterAndCloudFlags,
  kubeLayer,
  operatorLogging,
  progress,
  resolveCredentials,
  tcrLayer
} from "./addon-flags.ts"
import { addonNamespace, installObjects, isAdmissionObject, updaterConfig, updaterConfigName } from "./addon-manifests.ts"
import { previousInstall } from "./addon-plan.ts"
import { imagePullSecretPath, isInstalledByUs } from "./addon-record.ts"
import type { NodeObject } from "./addon-status.ts"
import { withShownDefault } from "./flag-default.ts"

export interface UninstallOptions {
  readonly force: boolean
  readonly revokeToken: boolean
  readonly credentials: TcrCredentials | undefined
  readonly includeOtherImagePullSecrets: boolean
  readonly dryRun: boolean
  /** How long each wait (finalizers, nodes, namespace) may take. */
  readonly timeout: Duration.Duration
  /** How long the ImagePullSecrets' cleanup may show no progress before the controller is taken to be absent. */
  readonly stallTimeout: Duration.Duration
}

/** A stalled cleanup, in the words uninstall ends with: what still waits, and the two ways on. */
const stalledFailure = (evidence: string | undefined) => (stalled: FinalizersStalled) =>
  Effect.fail(failure(
    `the controller is not removing the distributed Secrets and ServiceAccount entries: ${stalled.remaining.join(", ")} ${
      stalled.remaining.length === 1 ? "still waits for its finalizer" : "still wait for their finalizers"
    } after ${stalled.seconds}s without progress (${evidence ?? "no controller Lease or ready Deployment was found"})`,
    "start the controller (kubectl -n tcr-assistant-system get deployment,pods), or run uninstall --force to remove the distributed Secrets and ServiceAccount entries directly"
  ))

const reportingNodes = (nodes: ReadonlyArray<NodeObject>) =>
  nodes.filter((node) => {
    const state = readNodeHostsState(node.metadata.annotations)
    return state.configHash !== undefined || state.error !== undefined
  })

/** Empties updater-config and waits until every node that reports its hosts state has applied the empty config. */
const removeHostsBlocks = (options: UninstallOptions) =>
  Effect.gen(function*() {
    const configMap = yield* getObject(
      `/api/v1/namespaces/${addonNamespace}/configmaps/${updaterConfigName}`,
      `get ConfigMap ${addonNamespace}/${updaterConfigName}`
    )
    const nodes = reportingNodes(yield* listObjects<NodeObject>("/api/v1/nodes", "list Nodes"))
    if (configMap === undefined && nodes.length === 0) return
    if (configMap !== undefined) {
      yield* applyObject(updaterConfig(""))
      yield* progress("emptied updater-config: every node removes its hosts block")
    }
    if (nodes.length === 0) return
    const emptyHash = expectedHostsConfigHash({})
    yield* pollUntil(
      "removal of the hosts block on every node",
      Effect.map(listObjects<NodeObject>("/api/v1/nodes", "list Nodes"), (all) => {
        const behind = reportingNodes(all).filter((node) => {
          const state = readNodeHostsState(node.metadata.annotations)
          return state.configHash !== emptyHash || state.error !== undefined
        })
        return behind.length === 0
          ? { _tag: "Done" as const, value: undefined }
          : {
            _tag: "Waiting" as const,
            detail: `${behind.map((node) => node.metadata.name).join(", ")} still report a hosts block (is hosts-updater running there?)`
          }
      }),
      { timeout: options.timeout }
    ).pipe(
      Effect.catchTag("WaitTimedOut", (timedOut) =>
        options.force
          ? progress(`warning: ${timedOut.detail}; remove the block between the tcr-assistant markers from their /etc/hosts by hand`)
          : Effect.fail(failure(
            `${timedOut.detail} after ${timedOut.seconds}s`,
            "check the hosts-updater pods (kubectl -n tcr-assistant-system get pods -o wide); run uninstall --force to go on without them and clean those nodes' /etc/hosts by hand"
          ))
      )
    )
    yield* progress(`  ${nodes.length} node(s) removed the hosts block`)
  })

/** Removes the hosts-updater's annotations from every Node. */
const removeNodeAnnotations = Effect.gen(function*() {
  const client = yield* KubeClient
  const keys = Object.values(hostsAnnotations)
  const nodes = yield* listObjects<NodeObject>("/api/v1/nodes", "list Nodes")
  let cleaned = 0
  for (const node of nodes) {
    const present = keys.filter((key) => node.metadata.annotations?.[key] !== undefined)
    if (present.length === 0) continue
    yield* client.request({
      method: "PATCH",
      path: `/api/v1/nodes/${encodeURIComponent(node.metadata.name)}`,
      contentType: "application/merge-patch+json",
      body: { metadata: { annotations: Object.fromEntries(present.map((key) => [key, null])) } },
      what: `remove the hosts annotations of Node ${node.metadata.name}`
    }).pipe(Effect.catchTag("KubeNotFound", () => Effect.void))
    cleaned++
  }
  if (cleaned > 0) yield* progress(`removed the hosts-updater's annotations from ${cleaned} Node(s)`)
})

const waitGone = (object: Manifest, options: UninstallOptions) =>
  Effect.flatMap(objectPath(object), (path) =>
    pollUntil(
      `removal of ${describeObject(object)}`,
      Effect.map(getObject(path, `get ${describeObject(object)}`), (found) =>
        found === undefined
          ? { _tag: "Done" as const, value: undefined }
          : { _tag: "Waiting" as const, detail: `${describeObject(object)} is still terminating` }),
      { timeout: options.timeout }
    ))

export const runUninstall = Effect.fn("uninstall")(function*(options: UninstallOptions) {
  const server = yield* checkReachable()
  yield* progress(`cluster ${server}: reading the installation`)
  const all = yield* listImagePullSecrets()
  const ours = all.filter(isInstalledByUs)
  const others = all.filter((object) => !isInstalledByUs(object))
  if (others.length > 0 && !options.includeOtherImagePullSecrets) {
    return yield* failure(
      `ImagePullSecrets not created by install exist (${others.map((object) => object.metadata.name).join(", ")}); removing the CRD would delete them`,
      "nothing was changed; delete them first, or pass --include-other-image-pull-secrets to remove them (and what they distributed) too"
    )
  }
  const targets = options.includeOtherImagePullSecrets ? all : ours
  const names = new Set(targets.map((object) => object.metadata.name))
  const credentialSecret = yield* readCredentialSecret
  const record = previousInstall(all, credentialSecret).token
  // A rotation that did not finish leaves its old token on the Secret: it is revoked along with the current one.
  const pendingToken = credentialSecret === undefined ? undefined : readCredentialRecord(credentialSecret).previousTokenId

  // Everything that can refuse is checked before anything is changed.
  if (options.revokeToken && record !== undefined) {
    const tcr = yield* TcrApi
    yield* progress(`checking token ${record.tokenId} of TCR instance ${record.instanceId} (${record.region})`)
    const tokens = yield* tcr.describeInstanceTokens({ credentials: options.credentials!, region: record.region, instanceId: record.instanceId })
    if (!tokens.some((token) => token.id === record.tokenId)) yield* progress("  it no longer exists")
  } else if (options.revokeToken) {
    yield* progress("no token is recorded in the cluster (credential Secret or ImagePullSecrets): there is none to revoke")
  }
  const objects = [...installObjects("")].reverse()
  if (options.dryRun) {
    yield* progress(`would delete ImagePullSecrets: ${[...names].join(", ") || "none"}`)
    yield* progress("would empty updater-config and wait for every reporting node to remove its hosts block")
    for (const object of objects) yield* progress(`would delete ${describeObject(object)}`)
    if (options.revokeToken && record !== undefined) yield* progress(`would revoke token ${record.tokenId}`)
    yield* progress("dry run: nothing was changed")
    return
  }

  // The webhooks go first: nothing should be sent to a controller that is going away. (Releasing finalizers never
  // calls the validating webhook, and the Pod mutation fails open, but an older configuration may lack both.)
  for (const object of objects.filter(isAdmissionObject)) {
    if (yield* deleteObject(yield* objectPath(object), `delete ${describeObject(object)}`)) {
      yield* progress(`deleted ${describeObject(object)}`)
    }
  }

  if (names.size > 0) {
    const evidence = yield* controllerEvidence()
    for (const object of targets) {
      yield* deleteObject(imagePullSecretPath(object.metadata.name), `delete ImagePullSecret ${object.metadata.name}`)
      yield* progress(`deleted ImagePullSecret ${object.metadata.name}`)
    }
    if (options.force) {
      yield* progress("--force: removing what the controller distributed without it")
      yield* forceCleanup(names)
      yield* waitForFinalizers(names, { ...options, stallTimeout: options.timeout }).pipe(Effect.catchTag("FinalizersStalled", stalledFailure(evidence)))
    } else {
      yield* progress(
        `waiting for the controller to remove the distributed Secrets and ServiceAccount entries${evidence === undefined ? "" : ` (${evidence})`}`
      )
      yield* waitForFinalizers(names, options).pipe(Effect.catchTag("FinalizersStalled", stalledFailure(evidence)))
    }
    yield* progress("  all ImagePullSecrets are gone")
  }

  yield* removeHostsBlocks(options)

  for (const object of objects) {
    const path = yield* objectPath(object)
    const existed = yield* deleteObject(path, `delete ${describeObject(object)}`)
    if (existed) yield* progress(`deleted ${describeObject(object)}`)
  }
  for (const object of objects.filter((candidate) => candidate.kind === "Namespace" || candidate.kind === "CustomResourceDefinition")) {
    yield* waitGone(object, options)
  }
  yield* removeNodeAnnotations

  if (options.revokeToken && record !== undefined) {
    const tcr = yield* TcrApi
    yield* tcr.deleteInstanceToken({
      credentials: options.credentials!,
      region: record.region,
      instanceId: record.instanceId,
      tokenId: record.tokenId
    }).pipe(
      Effect.andThen(progress(`revoked token ${record.tokenId}`)),
      Effect.catchTag("TcrNotFoundError", () => progress(`token ${record.tokenId} was already gone`)),
      Effect.catch((error) =>
        Effect.fail(failure(
          `everything was removed from the cluster, but token ${record.tokenId} of TCR instance ${record.instanceId} could not be revoked: ${error.message}`,
          `delete it in the TCR console (instance ${record.instanceId}, Access Credentials)`
        ))
      )
    )
    if (pendingToken !== undefined && pendingToken !== record.tokenId) {
      yield* tcr.deleteInstanceToken({ credentials: options.credentials!, region: record.region, instanceId: record.instanceId, tokenId: pendingToken })
        .pipe(
          Effect.andThen(progress(`revoked token ${pendingToken} of an unfinished rotation`)),
          Effect.catchTag("TcrNotFoundError", () => Effect.void),
          Effect.catch((error) => progress(`warning: could not revoke token ${pendingToken} of an unfinished rotation: ${error.message}; delete it in the TCR console`))
        )
    }
  } else if (record !== undefined) {
    yield* progress(`token ${record.tokenId} of TCR instance ${record.instanceId} is left in place; --revoke-token deletes it`)
  }
  yield* progress("uninstalled")
})

export const uninstallCommand = Command.make(
  "uninstall",
  {
    revokeToken: Flag.Boolean("revoke-token").pipe(
      withShownDefault("Also delete the long-term TCR token install created (needs Tencent Cloud credentials)", false)
    ),
    force: Flag.Boolean("force").pipe(
      withShownDefault(
        "Go on without the controller and hosts-updater: remove the controller's Secrets and ServiceAccount entries directly, and do not wait for unresponsive nodes",
        false
      )
    ),
    includeOthers: Flag.Boolean("include-other-image-pull-secrets").pipe(
      withShownDefault("Also remove ImagePullSecrets install did not create (the CRD's removal would delete them anyway)", false)
    ),
    dryRun: Flag.Boolean("dry-run").pipe(withShownDefault("Print what would be removed and change nothing", false)),
    timeout: Flag.Int("timeout").pipe(withShownDefault("Seconds each wait may take (finalizers, nodes, namespace deletion)", 300)),
    ...clusterAndCloudFlags
  },
  (flags) =>
    Effect.gen(function*() {
      if (flags.timeout <= 0) return yield* usageFailure("--timeout must be a positive number of seconds")
      const credentials = flags.revokeToken ? yield* resolveCredentials(flags) : undefined
      const options: UninstallOptions = {
        force: flags.force,
        revokeToken: flags.revokeToken,
        credentials,
        includeOtherImagePullSecrets: flags.includeOthers,
        dryRun: flags.dryRun,
        timeout: Duration.seconds(flags.timeout),
        stallTimeout: Duration.seconds(Math.min(30, flags.timeout))
      }
      yield* runUninstall(options).pipe(Effect.provide([kubeLayer(flags), tcrLayer, operatorLogging]))
    }).pipe(Effect.catch(reportFailure))
).pipe(
  Command.withDescription(
    "Remove the add-on and everything it distributed: pull Secrets and ServiceAccount entries, hosts blocks on every node, every add-on object; --revoke-token also deletes the TCR token"
  )
)
