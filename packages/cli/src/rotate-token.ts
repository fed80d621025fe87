// `tcr-assistant rotate-token`: replaces the long-term token install created. Creates a new token on the same
// instance, writes it into the credential Secret (the controller rewrites every distributed copy in place), waits
// until every copy holds it, and only then deletes the old token, so pulls never lose a working credential. The old
// token's ID stays on the Secret until it is deleted: a rotation interrupted at any step is finished by running the
// command again, which creates no second token.
import { dockerConfigJsonType, decodeSourceSecret } from "@tcr-assistant/api"
import { TcrApi, type TcrCredentials } from "@tcr-assistant/tcr"
import { Duration, Effect, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import { ownerAnnotation, type SecretObject } from "./addon-cleanup.ts"
import { applyObject, checkReachable, listImagePullSecrets, pollUntil } from "./addon-cluster.ts"
import {
  type Credential,
  credentialSecretName,
  credentialSecretNamespace,
  credentialSecretObject,
  passwordOf,
  previousTokenAnnotation,
  readCredentialRecord,
  readCredentialSecret
} from "./addon-credential.ts"
import { failure, reportFailure, usageFailure } from "./addon-failure.ts"
import {
  clusterAndCloudFlags,
  kubeLayer,
  operatorLogging,
  progress,
  resolveCredentials,
  tcrLayer
} from "./addon-flags.ts"
import { distributedSecrets } from "./addon-release.ts"
import { isInstalledByUs, type ObservedImagePullSecret, readInstallRecord } from "./addon-record.ts"
import { withShownDefault } from "./flag-default.ts"

export interface RotateOptions {
  readonly credentials: TcrCredentials
  readonly dryRun: boolean
  /** How long to wait for every distributed copy to hold the new token. */
  readonly timeout: Duration.Duration
}

interface DistributedSecret extends SecretObject {
  readonly type?: string
  readonly data?: Readonly<Record<string, string>>
}

/** The credential every copy must come to hold; the password stays redacted until the comparison. */
export interface WantedCredential {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

interface ImagePullSecretProgress {
  readonly name: string
  readonly desired: number
  readonly current: number
  readonly stale: ReadonlyArray<string>
  readonly ready: boolean
}

/** How far one ImagePullSecret's copies are: which hold the wanted credential. Compared in memory, never printed. */
export const copiesProgress = (
  imagePullSecret: ObservedImagePullSecret,
  copies: ReadonlyArray<DistributedSecret>,
  wanted: WantedCredential
): ImagePullSecretProgress => {
  const server = readInstallRecord(imagePullSecret).server
  const status = imagePullSecret.status as
    | { readonly observedGeneration?: number; readonly secretsDesired?: number; readonly conditions?: ReadonlyArray<{ type: string; status: string }> }
    | undefined
  const holds = (copy: DistributedSecret) => {
    const decoding = decodeSourceSecret({ type: copy.type ?? dockerConfigJsonType, data: copy.data }, server)
    return decoding._tag === "Credentials" && decoding.credentials.username === wanted.username &&
      decoding.credentials.password === Redacted.value(wanted.password)
  }
  const stale = copies.filter((copy) => !holds(copy)).map((copy) => copy.metadata.namespace ?? "default").sort()
  return {
    name: imagePullSecret.metadata.name,
    desired: status?.secretsDesired ?? 0,
    current: copies.length - stale.length,
    stale,
    ready: status?.observedGeneration === imagePullSecret.metadata.generation &&
      (status?.conditions ?? []).some((condition) => condition.type === "Ready" && condition.status === "True")
  }
}

const describeLag = (lagging: ReadonlyArray<ImagePullSecretProgress>) =>
  lagging.map((entry) =>
    `${entry.name}: ${entry.current}/${entry.desired} copies hold the new token${
      entry.stale.length === 0 ? "" : ` (still old in ${entry.stale.slice(0, 5).join(", ")}${entry.stale.length > 5 ? ", ..." : ""})`
    }${entry.ready ? "" : ", not Ready"}`
  ).join("; ")

/** Waits until every ImagePullSecret of ours is Ready and each of its copies holds the credential. */
const waitForCopies = (wanted: WantedCredential, timeout: Duration.Duration) =>
  pollUntil(
    "every distributed copy holding the new token",
    Effect.gen(function*() {
      const ours = (yield* listImagePullSecrets()).filter(isInstalledByUs)
      const copies = yield* distributedSecrets<DistributedSecret>(new Set(ours.map((object) => object.metadata.name)))
      const states = ours.map((object) =>
        copiesProgress(object, copies.filter((copy) => copy.metadata.annotations?.[ownerAnnotation] === object.metadata.name), wanted))
      const lagging = states.filter((entry) => !entry.ready || entry.stale.length > 0 || entry.current < entry.desired)
      return lagging.length === 0
        ? { _tag: "Done" as const, value: states.reduce((sum, entry) => sum + entry.current, 0) }
        : { _tag: "Waiting" as const, detail: describeLag(lagging) }
    }),
    { timeout, interval: "500 millis" }
  )

export const runRotateToken = Effect.fn("rotate-token")(function*(options: RotateOptions) {
  const tcr = yield* TcrApi
  const server = yield* checkReachable()
  yield* progress(`cluster ${server}: reading the credential Secret ${credentialSecretNamespace}/${credentialSecretName}`)
  const secret = yield* readCredentialSecret
  const record = secret === undefined ? undefined : readCredentialRecord(secret)
  if (record === undefined || record.tokenId === undefined || record.region === undefined || record.instanceId === undefined) {
    return yield* failure(
      record === undefined
        ? `there is no Secret ${credentialSecretNamespace}/${credentialSecretName}: no token installed by tcr-assistant install is in this cluster`
        : `Secret ${credentialSecretNamespace}/${credentialSecretName} holds your own credential (install --username), not a token install created`,
      record === undefined
        ? "run tcr-assistant install (an install from before this Secret existed moves its token there)"
        : "to change your own credential, run install again with --username and the new password"
    )
  }
  const target = { credentials: options.credentials, region: record.region, instanceId: record.instanceId }
  const origin = { region: record.region, instanceId: record.instanceId, clusterId: record.clusterId ?? "" }
  const pending = record.previousTokenId
  const tokens = yield* tcr.describeInstanceTokens(target)
  const current = tokens.find((token) => token.id === record.tokenId)

  if (options.dryRun) {
    yield* progress(
      pending !== undefined
        ? `would finish the rotation to token ${record.tokenId}: wait for every copy, then delete token ${pending}`
        : `would create a new long-term token on ${record.instanceId} ("${current?.description ?? "(token not found)"}"), write it into the Secret, wait for every copy, then delete token ${record.tokenId}`
    )
    yield* progress("dry run: nothing was changed")
    return
  }

  let newTokenId = record.tokenId
  let oldTokenId = pending
  let wanted: WantedCredential = { username: record.username!, password: yield* passwordOf(secret) }
  let expiresAt = record.expiresAt
  if (pending === undefined) {
    if (current === undefined) yield* progress(`  token ${record.tokenId} no longer exists on ${record.instanceId}; its replacement gets the default description`)
    yield* progress(`creating a new long-term token on ${record.instanceId}`)
    const created = yield* tcr.createInstanceToken({
      ...target,
      tokenType: "longterm",
      clusterId: origin.clusterId,
      ...(current === undefined ? {} : { description: current.description })
    })
    if (created.tokenId === undefined) {
      return yield* failure("CreateInstanceToken returned no TokenId for a long-term token", "report this to Tencent Cloud support")
    }
    const credential: Credential = { tokenId: created.tokenId, username: created.username, password: created.token, expiresAt: created.expiresAt }
    yield* applyObject(credentialSecretObject(credential, origin, { [previousTokenAnnotation]: record.tokenId })).pipe(
      Effect.tapError(() =>
        tcr.deleteInstanceToken({ ...target, tokenId: created.tokenId! }).pipe(
          Effect.andThen(progress(`revoked the new token ${created.tokenId} again: the Secret could not be written`)),
          Effect.catch((error) => progress(`could not revoke the unused token ${created.tokenId}: ${error.message}`))
        )
      )
    )
    yield* progress(`  token ${created.tokenId} written into Secret ${credentialSecretNamespace}/${credentialSecretName}`)
    newTokenId = created.tokenId
    oldTokenId = record.tokenId
    wanted = { username: created.username, password: created.token }
    expiresAt = created.expiresAt.toISOString()
  } else {
    yield* progress(`finishing the rotation to token ${record.tokenId} (token ${pending} is still to be deleted)`)
  }

  yield* progress("waiting for the controller to rewrite every distributed copy")
  const started = Date.now()
  const copies = yield* waitForCopies(wanted, options.timeout).pipe(
    Effect.catchTag("WaitTimedOut", (timedOut) =>
      Effect.fail(failure(
        `token ${newTokenId} is in the Secret, but not every copy holds it after ${timedOut.seconds}s: ${timedOut.detail}; token ${oldTokenId} is kept so that pulls keep working`,
        "check the controller (tcr-assistant status, kubectl -n tcr-assistant-system get pods), then run rotate-token again to finish"
      )))
  )
  yield* progress(`  ${copies} cop${copies === 1 ? "y holds" : "ies hold"} token ${newTokenId} (${((Date.now() - started) / 1000).toFixed(1)}s)`)

  yield* tcr.deleteInstanceToken({ ...target, tokenId: oldTokenId! }).pipe(
    Effect.andThen(progress(`deleted the old token ${oldTokenId}`)),
    Effect.catchTag("TcrNotFoundError", () => progress(`the old token ${oldTokenId} was already gone`))
  )
  // The rotation is done: the same Secret without the pending deletion (install's field manager owns the annotation,
  // so applying without it removes it).
  yield* applyObject(credentialSecretObject({
    tokenId: newTokenId,
    username: wanted.username,
    password: wanted.password,
    expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt)
  }, origin))
  yield* progress(`rotated: token ${newTokenId}${expiresAt === undefined ? "" : ` (expires ${expiresAt})`} replaces ${oldTokenId}`)
})

export const rotateTokenCommand = Command.make(
  "rotate-token",
  {
    timeout: Flag.Int("timeout").pipe(withShownDefault("Seconds to wait for every distributed copy to hold the new token", 300)),
    dryRun: Flag.Boolean("dry-run").pipe(withShownDefault("Say what would be done and change nothing", false)),
    ...clusterAndCloudFlags
  },
  (flags) =>
    Effect.gen(function*() {
      if (flags.timeout <= 0) return yield* usageFailure("--timeout must be a positive number of seconds")
      const credentials = yield* resolveCredentials(flags)
      yield* runRotateToken({ credentials, dryRun: flags.dryRun, timeout: Duration.seconds(flags.timeout) }).pipe(
        Effect.provide([kubeLayer(flags), tcrLayer, operatorLogging])
      )
    }).pipe(Effect.catch(reportFailure))
).pipe(
  Command.withDescription(
    "Replace the long-term token install created: create a new one, switch the credential Secret to it, wait until every distributed copy holds it, then delete the old one (run again to finish an interrupted rotation)"
  )
)
