// Registry credentials minted from a TCR Enterprise instance for ImagePullSecrets with `spec.tcr`: the issuer over
// the TCR API, and when to renew a token before it expires.
import type { TcrSource } from "@tcr-assistant/api"
import { messageWithoutRequestId, TcrApi, TcrCredentials } from "@tcr-assistant/tcr"
import { Effect, Redacted, Schema } from "effect"

export interface RegistryToken {
  readonly server: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
  readonly expiresAt: Date
}

export interface ApiKeys {
  readonly secretId: string
  readonly secretKey: string
  readonly sessionToken?: string | undefined
}

export class TokenIssueError extends Schema.TaggedError<TokenIssueError>()("TokenIssueError", {
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

export interface TokenIssuer {
  readonly issue: (source: TcrSource, keys: ApiKeys) => Effect.Effect<RegistryToken, TokenIssueError>
}

/** Mints temporary instance tokens through the TCR API; the registry domain defaults to the instance's own. */
export const makeTcrTokenIssuer = Effect.gen(function*() {
  const api = yield* TcrApi
  const issuer: TokenIssuer = {
    issue: (source, keys) =>
      Effect.gen(function*() {
        const target = {
          region: source.region,
          credentials: TcrCredentials.make({ secretId: keys.secretId, secretKey: keys.secretKey, sessionToken: keys.sessionToken })
        }
        const server = source.server ?? (yield* api.getInstance({ ...target, instanceId: source.instanceId })).publicDomain
        const token = yield* api.createInstanceToken({ ...target, instanceId: source.instanceId, tokenType: "temp" })
        return { server, username: token.username, password: token.token, expiresAt: token.expiresAt }
      }).pipe(
        // The RequestId goes to the log only: status and Events get the same message each time the failure repeats,
        // so Kubernetes aggregates them.
        Effect.tapError((error) =>
          Effect.logWarning("TCR API call failed").pipe(
            Effect.annotateLogs({ action: error.action, code: error.code, requestId: error.requestId ?? "none", instanceId: source.instanceId })
          )
        ),
        Effect.mapError((error) =>
          new TokenIssueError({ message: `${error._tag}: ${messageWithoutRequestId(error)}`, retryable: error.retryable })
        )
      )
  }
  return issuer
})

/**
 * Renew when 80% of the token's life has passed, and no later than a minute before it expires (an hour-long token
 * is renewed after 48 minutes; a short one used in tests after 80% of its life).
 */
export const renewalDelayMillis = (issuedAt: number, expiresAt: number): number => {
  const lifetime = Math.max(0, expiresAt - issuedAt)
  const latest = lifetime > 60_000 ? lifetime - 60_000 : lifetime * 0.8
  return Math.max(1_000, Math.min(lifetime * 0.8, latest))
}
