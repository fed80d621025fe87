// Registry tokens for ImagePullSecrets with spec.tcr: one loop per such object mints a token with the API keys of its
// credentials Secret, publishes it as the credentials to distribute (Redacted), and renews it before it expires; a failure keeps
// the last good token while it lasts and says why a new one cannot be had. Each change is announced on a stream.
import { KubeClient } from "@tcr-assistant/kube"
import { unusableApiKeyField, unusableApiKeyMessage } from "@tcr-assistant/tcr"
import { backoffSchedule, tokenBackoff } from "@tcr-assistant/kube/backoff"
import { Clock, Duration, Effect, FiberMap, Queue, Schema, Stream } from "effect"
import type { Distribution, RegistryCredentials } from "./distribution.ts"
import { type ApiKeys, type RegistryToken, renewalDelayMillis, type TokenIssueError, type TokenIssuer } from "./registry-token.ts"

/** The API keys to mint with cannot be had, or used: the message names the Secret and its keys, never a value. */
export class ApiKeysUnavailable extends Schema.TaggedError<ApiKeysUnavailable>()("ApiKeysUnavailable", {
  message: Schema.String
}) {}

export interface TokenMinterOptions {
  /** Without one, every spec.tcr reports that the controller has no TCR API access. */
  readonly tokenIssuer: TokenIssuer | undefined
  /** Namespace of credentialsSecretRef when the reference names none. */
  readonly defaultCredentialsNamespace: string
}

export type TokenChange =
  /** A token was published: the ImagePullSecret's Secrets can be written. */
  | { readonly _tag: "Issued"; readonly ips: string; readonly expiresAt: Date }
  /** New credentials were read from a spec.secretRef source: the ImagePullSecret's Secrets can be rewritten. */
  | { readonly _tag: "SourceRead"; readonly ips: string; readonly expiresAt: Date | undefined }
  /** The object no longer wants a token (deleted, or its source is no longer TCR): forget its expiry. */
  | { readonly _tag: "Dropped"; readonly ips: string }
  /** No token could be had, for this reason (never containing a credential). */
  | { readonly _tag: "Unavailable"; readonly ips: string; readonly message: string }

export interface TokenMinter {
  /** Start, restart or stop the object's loop to match its distribution (undefined: the object is gone). */
  readonly sync: (ips: string, distribution: Distribution | undefined) => void
  /** The credentials to distribute: inline ones, or the current token of a TCR source. */
  readonly credentialsOf: (distribution: Distribution) => RegistryCredentials | undefined
  /** Why a TCR source has no token right now, if it has none. */
  readonly problemOf: (distribution: Distribution) => string | undefined
  /** Every change of a token's state, after the state is in place; for one consumer. */
  readonly changes: Stream.Stream<TokenChange>
}

interface TokenState {
  /** The spec.tcr (and object uid) the token was minted for. */
  readonly fingerprint: string
  readonly credentials: RegistryCredentials | undefined
  readonly error: string | undefined
}

type TcrSource = Extract<Distribution["source"], { _tag: "Tcr" }>

/** Start the minter in the current scope: its loops end with it. */
export const makeTokenMinter = Effect.fn("TokenMinter.make")(function*(options: TokenMinterOptions) {
  const client = yield* KubeClient
  const tokens = new Map<string, TokenState>()
  const runTokenLoop = yield* FiberMap.makeRuntime<never, string>()
  const changes = yield* Queue.unbounded<TokenChange>()
  const announce = (change: TokenChange) => Queue.offerUnsafe(changes, change)

  const unavailable = (message: string) => Effect.fail(new ApiKeysUnavailable({ message }))

  const readApiKeys = (namespace: string, name: string): Effect.Effect<ApiKeys, ApiKeysUnavailable> =>
    client.request<{ data?: Record<string, string> }>({
      method: "GET",
      path: `/api/v1/namespaces/${namespace}/secrets/${name}`,
      what: `read credentials Secret ${namespace}/${name}`
    }).pipe(
      Effect.mapError((error) => new ApiKeysUnavailable({ message: error.message })),
      Effect.flatMap((secret) => {
        const value = (key: string) => {
          const encoded = secret.data?.[key]
          return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8")
        }
        const secretId = value("secretId")
        const secretKey = value("secretKey")
        if (secretId === undefined || secretKey === undefined) {
          return unavailable(`Secret ${namespace}/${name} must have the keys secretId and secretKey`)
        }
        const keys = { secretId, secretKey, sessionToken: value("sessionToken") }
        const unusable = unusableApiKeyField(keys)
        if (unusable !== undefined) return unavailable(`Secret ${namespace}/${name}: ${unusableApiKeyMessage(unusable)}`)
        return Effect.succeed(keys)
      })
    )

  const mint = (source: TcrSource): Effect.Effect<RegistryToken, ApiKeysUnavailable | TokenIssueError> => {
    const issuer = options.tokenIssuer
    const ref = source.tcr.credentialsSecretRef
    return issuer === undefined
      ? unavailable("this controller has no TCR API access configured")
      : readApiKeys(ref.namespace ?? options.defaultCredentialsNamespace, ref.name).pipe(
        Effect.flatMap((keys) => issuer.issue(source.tcr, keys))
      )
  }

  /** One attempt, timed from its start; a failure is published (keeping the last good token) before any retry. */
  const attempt = (ips: string, source: TcrSource) =>
    Effect.flatMap(Clock.currentTimeMillis, (issuedAt) =>
      mint(source).pipe(
        Effect.map((token) => ({ token, issuedAt })),
        Effect.tapError(({ message }) =>
          Effect.sync(() => {
            const previous = tokens.get(ips)
            const kept = previous?.fingerprint === source.fingerprint ? previous.credentials : undefined
            // Keep distributing the last good token while it lasts; report why a new one cannot be had.
            tokens.set(ips, { fingerprint: source.fingerprint, credentials: kept, error: message })
            announce({ _tag: "Unavailable", ips, message })
          })
        )
      ))

  /** Mint, publish and renew the token of one ImagePullSecret until the loop is replaced or the minter stops. */
  const tokenLoop = (ips: string, source: TcrSource) =>
    Effect.gen(function*() {
      while (true) {
        // Each renewal starts the backoff from its first delay again.
        const { token, issuedAt } = yield* attempt(ips, source).pipe(Effect.retry(backoffSchedule(tokenBackoff)))
        tokens.set(ips, {
          fingerprint: source.fingerprint,
          credentials: { server: token.server, username: token.username, password: token.password },
          error: undefined
        })
        announce({ _tag: "Issued", ips, expiresAt: token.expiresAt })
        yield* Effect.logInfo("registry token issued").pipe(
          Effect.annotateLogs({ kind: "ImagePullSecret", name: ips, expiresAt: token.expiresAt.toISOString() })
        )
        yield* Effect.sleep(Duration.millis(renewalDelayMillis(issuedAt, token.expiresAt.getTime())))
      }
    })

  const sync = (ips: string, distribution: Distribution | undefined) => {
    if (distribution === undefined || distribution.deleting || distribution.source._tag !== "Tcr") {
      if (tokens.delete(ips)) {
        announce({ _tag: "Dropped", ips })
        runTokenLoop(ips, Effect.void)
      }
      return
    }
    const source = distribution.source
    if (tokens.get(ips)?.fingerprint === source.fingerprint) return
    tokens.set(ips, { fingerprint: source.fingerprint, credentials: undefined, error: undefined })
    runTokenLoop(ips, tokenLoop(ips, source))
  }

  /** The token state of this very source: one minted for an earlier spec does not count. */
  const current = (ips: string, source: TcrSource) => {
    const state = tokens.get(ips)
    return state?.fingerprint === source.fingerprint ? state : undefined
  }

  const minter: TokenMinter = {
    sync,
    credentialsOf: (distribution) =>
      distribution.source._tag === "Docker"
        ? distribution.credentials
        : distribution.source._tag === "Tcr"
        ? current(distribution.name, distribution.source)?.credentials
        : undefined,
    problemOf: (distribution) =>
      distribution.source._tag === "Tcr" ? current(distribution.name, distribution.source)?.error : undefined,
    changes: Stream.fromQueue(changes)
  }
  return minter
})
