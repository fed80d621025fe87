// Credentials by reference (spec.secretRef): one watch per such ImagePullSecret on the one Secret it names, whose
// decoded credentials (the password Redacted from the moment it is read) are the ones to distribute. A change of that
// Secret is announced, so every distributed copy is rewritten in place; a missing or malformed Secret keeps the last
// good credentials and says why (naming keys, never a value).
import {
  decodeSourceSecret,
  type DockerCredentials,
  sourceTokenExpiry,
  tokenExpiresAtAnnotation
} from "@tcr-assistant/api"
import { type KubeClient, makeInformer } from "@tcr-assistant/kube"
import { Effect, FiberMap, Queue, Redacted, Stream } from "effect"
import { type SourceSecretObject, sourceSecretView } from "./cluster-objects.ts"
import type { Distribution, RegistryCredentials } from "./distribution.ts"
import type { TokenChange, TokenMinter } from "./token-minter.ts"

export interface SourceSecretsOptions {
  /** Namespace of secretRef when the reference names none. */
  readonly defaultNamespace: string
}

type SecretRefSource = Extract<Distribution["source"], { _tag: "SecretRef" }>

interface SourceState {
  /** The spec.secretRef (and object uid) the credentials were read for. */
  readonly fingerprint: string
  readonly credentials: RegistryCredentials | undefined
  readonly error: string | undefined
  /** From the Secret's token-expires-at annotation, if it has one. */
  readonly expiresAt?: Date | undefined
}

const sameCredentials = (kept: RegistryCredentials | undefined, read: DockerCredentials) =>
  kept !== undefined && kept.server === read.server && kept.username === read.username &&
  Redacted.value(kept.password) === read.password

/** Start the watcher in the current scope: its watches end with it. Same surface as the token minter. */
export const makeSourceSecrets = Effect.fn("SourceSecrets.make")(function*(options: SourceSecretsOptions) {
  const states = new Map<string, SourceState>()
  const runWatch = yield* FiberMap.makeRuntime<KubeClient, string>()
  const changes = yield* Queue.unbounded<TokenChange>()
  const announce = (change: TokenChange) => Queue.offerUnsafe(changes, change)

  /** What the Secret says now, published for this very source; unchanged credentials are not announced again. */
  const evaluate = (ips: string, source: SecretRefSource, where: string, secret: SourceSecretObject | undefined) => {
    const previous = states.get(ips)
    if (previous?.fingerprint !== source.fingerprint) return
    const decoded = secret === undefined
      ? { _tag: "Invalid" as const, message: "not found" }
      : decodeSourceSecret(secret, source.secretRef.server)
    if (decoded._tag === "Invalid") {
      const error = `source Secret ${where}: ${decoded.message}`
      // Keep distributing the last good credentials; say why new ones cannot be had.
      states.set(ips, { ...previous, error })
      if (previous.error !== error) announce({ _tag: "Unavailable", ips, message: error })
      return
    }
    const { password, server, username } = decoded.credentials
    const expiresAt = sourceTokenExpiry(secret?.metadata.annotations)
    if (
      sameCredentials(previous.credentials, decoded.credentials) && previous.error === undefined &&
      previous.expiresAt?.getTime() === expiresAt?.getTime()
    ) return
    const credentials = { server, username, password: Redacted.make(password) }
    states.set(ips, { fingerprint: source.fingerprint, credentials, error: undefined, expiresAt })
    announce({ _tag: "SourceRead", ips, expiresAt })
  }

  /** Watch the one Secret the source names until the watch is replaced or the watcher stops. */
  const watch = (ips: string, source: SecretRefSource) =>
    Effect.scoped(Effect.gen(function*() {
      const namespace = source.secretRef.namespace ?? options.defaultNamespace
      const name = source.secretRef.name
      const where = `${namespace}/${name}`
      const informer = yield* makeInformer<SourceSecretObject>({
        name: `source Secret ${where}`,
        path: `/api/v1/namespaces/${namespace}/secrets`,
        fieldSelector: `metadata.name=${name}`,
        // Keep only what is read: the type, the data and the token expiry.
        transform: (secret) => ({
          metadata: {
            name: secret.metadata.name,
            namespace: secret.metadata.namespace,
            resourceVersion: secret.metadata.resourceVersion,
            annotations: Object.fromEntries(
              Object.entries(secret.metadata.annotations ?? {}).filter(([key]) => key === tokenExpiresAtAnnotation)
            )
          },
          ...(secret.type !== undefined ? { type: secret.type } : {}),
          ...(secret.data !== undefined ? { data: secret.data } : {})
        }),
        view: sourceSecretView
      })
      yield* Effect.forkScoped(
        informer.events.pipe(Stream.runForEach(() => Effect.sync(() => evaluate(ips, source, where, informer.get(where)))))
      )
      // A Secret that does not exist sends no event: say so once the list is in.
      yield* informer.awaitSynced
      evaluate(ips, source, where, informer.get(where))
      return yield* Effect.never
    }))

  const sync = (ips: string, distribution: Distribution | undefined) => {
    if (distribution === undefined || distribution.deleting || distribution.source._tag !== "SecretRef") {
      if (states.delete(ips)) {
        announce({ _tag: "Dropped", ips })
        runWatch(ips, Effect.void)
      }
      return
    }
    const source = distribution.source
    if (states.get(ips)?.fingerprint === source.fingerprint) return
    states.set(ips, { fingerprint: source.fingerprint, credentials: undefined, error: undefined })
    runWatch(ips, watch(ips, source))
  }

  const current = (distribution: Distribution) => {
    const state = states.get(distribution.name)
    return distribution.source._tag === "SecretRef" && state?.fingerprint === distribution.source.fingerprint ? state : undefined
  }

  const sources: TokenMinter = {
    sync,
    credentialsOf: (distribution) => current(distribution)?.credentials,
    problemOf: (distribution) => current(distribution)?.error,
    changes: Stream.fromQueue(changes)
  }
  return sources
})

/** The credentials of every source as one: inline and TCR from the token minter, secretRef from the watches. */
export const combineCredentialSources = (tokens: TokenMinter, sources: TokenMinter): TokenMinter => ({
  sync: (ips, distribution) => {
    tokens.sync(ips, distribution)
    sources.sync(ips, distribution)
  },
  credentialsOf: (distribution) =>
    distribution.source._tag === "SecretRef" ? sources.credentialsOf(distribution) : tokens.credentialsOf(distribution),
  problemOf: (distribution) =>
    distribution.source._tag === "SecretRef" ? sources.problemOf(distribution) : tokens.problemOf(distribution),
  changes: Stream.merge(tokens.changes, sources.changes)
})
