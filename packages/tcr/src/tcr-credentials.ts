// The Tencent Cloud API key pair (and optional STS session token) that signs TCR API calls, kept Redacted end to end.
import { Config, Option, Redacted } from "effect"

/**
 * Tencent Cloud API keys are printable ASCII without spaces; the secret ID and the session token travel in HTTP
 * headers, where other bytes make the request fail before it is sent (with an error that quotes the header).
 */
const apiKeyCharacters = /^[\x21-\x7e]+$/

/** Which key field holds characters an API key cannot contain, if any; the message names the field, never the value. */
export const unusableApiKeyField = (fields: {
  readonly secretId: string
  readonly secretKey: string
  readonly sessionToken?: string | undefined
}): "secretId" | "secretKey" | "sessionToken" | undefined => {
  if (!apiKeyCharacters.test(fields.secretId)) return "secretId"
  if (!apiKeyCharacters.test(fields.secretKey)) return "secretKey"
  if (fields.sessionToken !== undefined && fields.sessionToken !== "" && !apiKeyCharacters.test(fields.sessionToken)) return "sessionToken"
  return undefined
}

export const unusableApiKeyMessage = (field: string) =>
  `${field} contains characters that are not allowed (Tencent Cloud API keys are printable ASCII without spaces; a trailing newline is a common cause)`

/** Where a credential value came from, as accepted by {@link TcrCredentials.make}. */
export type SecretInput = string | Redacted.Redacted<string>

const redact = (value: SecretInput, label: string): Redacted.Redacted<string> =>
  Redacted.isRedacted(value) ? value : Redacted.make(value, { label })

/**
 * A Tencent Cloud API key. Every field is Redacted so that printing, logging or serialising the value shows
 * `<redacted>`; only the signing transport unwraps it. The secret ID is treated as a secret too: together with a
 * leaked key it is the whole credential, and it names the account.
 */
export class TcrCredentials {
  readonly secretId: Redacted.Redacted<string>
  readonly secretKey: Redacted.Redacted<string>
  readonly sessionToken: Option.Option<Redacted.Redacted<string>>

  constructor(fields: {
    readonly secretId: Redacted.Redacted<string>
    readonly secretKey: Redacted.Redacted<string>
    readonly sessionToken: Option.Option<Redacted.Redacted<string>>
  }) {
    this.secretId = fields.secretId
    this.secretKey = fields.secretKey
    this.sessionToken = fields.sessionToken
  }

  /** Builds credentials from flag values or any other source; plain strings are wrapped in Redacted at once. */
  static make(input: {
    readonly secretId: SecretInput
    readonly secretKey: SecretInput
    readonly sessionToken?: SecretInput | undefined
  }): TcrCredentials {
    return new TcrCredentials({
      secretId: redact(input.secretId, "TENCENTCLOUD_SECRET_ID"),
      secretKey: redact(input.secretKey, "TENCENTCLOUD_SECRET_KEY"),
      sessionToken: input.sessionToken === undefined || input.sessionToken === ""
        ? Option.none()
        : Option.some(redact(input.sessionToken, "TENCENTCLOUD_SESSION_TOKEN"))
    })
  }

  /**
   * The standard Tencent Cloud environment variables: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and the
   * optional TENCENTCLOUD_SESSION_TOKEN (temporary STS credentials). Read this once at the edge of the program.
   */
  static readonly config: Config.Config<TcrCredentials> = Config.all({
    secretId: Config.Redacted("TENCENTCLOUD_SECRET_ID"),
    secretKey: Config.Redacted("TENCENTCLOUD_SECRET_KEY"),
    sessionToken: Config.option(Config.Redacted("TENCENTCLOUD_SESSION_TOKEN"))
  }).pipe(
    Config.map(({ secretId, secretKey, sessionToken }) =>
      new TcrCredentials({
        secretId,
        secretKey,
        // An exported but empty variable means "no session token", as the official tools treat it.
        sessionToken: Option.filter(sessionToken, (token) => Redacted.value(token) !== "")
      })
    )
  )

  /** The key field that cannot be sent, if any (see unusableApiKeyField). */
  unusableField(): "secretId" | "secretKey" | "sessionToken" | undefined {
    return unusableApiKeyField({
      secretId: Redacted.value(this.secretId),
      secretKey: Redacted.value(this.secretKey),
      sessionToken: Option.isSome(this.sessionToken) ? Redacted.value(this.sessionToken.value) : undefined
    })
  }

  /** The values an error message or log line must never contain. */
  secretValues(): ReadonlyArray<string> {
    const values = [Redacted.value(this.secretId), Redacted.value(this.secretKey)]
    if (Option.isSome(this.sessionToken)) values.push(Redacted.value(this.sessionToken.value))
    return values.filter((value) => value.length > 0)
  }
}
