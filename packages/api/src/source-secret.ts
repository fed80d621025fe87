// Decoding a credential source Secret (spec.secretRef) into the one registry's credentials to distribute, or a
// problem that names keys and the server but never a value read from the Secret.
//
// A `kubernetes.io/dockerconfigjson` Secret: the `auths` entry of `secretRef.server`, or the only entry when no
// server is given (several entries and no server is an error: which one is meant cannot be guessed). An entry's
// credentials are its `username`/`password`, or else its `auth` (base64 of "username:password").
// Any other Secret: the keys `username` and `password`, and the server from `secretRef.server` or the key `server`.
import { dockerConfigJsonKey, dockerConfigJsonType, type DockerCredentials } from "./docker-config.ts"
import { isRegistryServer } from "./names.ts"

/**
 * On a source Secret: when its token expires (RFC 3339), exported per ImagePullSecret as the token-expiry metric.
 * `install` sets it on the Secret that holds its long-term token; anyone keeping a source current may set it.
 */
export const tokenExpiresAtAnnotation = "tcr.tencentcloudcr.com/token-expires-at"

/** The Secret's token expiry, when it carries a valid one. */
export const sourceTokenExpiry = (annotations: Readonly<Record<string, string>> | undefined): Date | undefined => {
  const value = annotations?.[tokenExpiresAtAnnotation]
  const time = value === undefined ? Number.NaN : Date.parse(value)
  return Number.isNaN(time) ? undefined : new Date(time)
}

export interface SourceSecret {
  readonly type?: string | undefined
  readonly data?: Readonly<Record<string, string>> | undefined
}

export type SourceDecoding =
  | { readonly _tag: "Credentials"; readonly credentials: DockerCredentials }
  | { readonly _tag: "Invalid"; readonly message: string }

const invalid = (message: string): SourceDecoding => ({ _tag: "Invalid", message })

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/

/** A base64 `data` value as UTF-8 text, or undefined when it is not base64 of valid UTF-8. */
const decodeBase64Text = (encoded: string): string | undefined => {
  if (!base64Pattern.test(encoded) || encoded.length % 4 !== 0) return undefined
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(encoded, "base64"))
  } catch {
    return undefined
  }
}

const credentialsFrom = (server: string, username: string, password: string): SourceDecoding =>
  username.length === 0
    ? invalid("the username is empty")
    : password.length === 0
    ? invalid("the password is empty")
    : { _tag: "Credentials", credentials: { server, username, password } }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** One `auths` entry: username/password, or the `auth` field. */
const decodeAuthEntry = (server: string, entry: unknown): SourceDecoding => {
  if (!isRecord(entry)) return invalid(`the auths entry for ${server} is not an object`)
  const { auth, password, username } = entry
  if (typeof username === "string" && typeof password === "string") return credentialsFrom(server, username, password)
  if (typeof auth !== "string") {
    return invalid(`the auths entry for ${server} has neither username and password nor auth`)
  }
  const decoded = decodeBase64Text(auth)
  const colon = decoded?.indexOf(":") ?? -1
  if (decoded === undefined || colon < 0) {
    return invalid(`the auth field of the auths entry for ${server} is not base64 of "username:password"`)
  }
  return credentialsFrom(server, decoded.slice(0, colon), decoded.slice(colon + 1))
}

const decodeDockerConfigJson = (data: Readonly<Record<string, string>>, server: string | undefined): SourceDecoding => {
  const encoded = data[dockerConfigJsonKey]
  if (encoded === undefined) return invalid(`a ${dockerConfigJsonType} Secret must have the key ${dockerConfigJsonKey}`)
  const text = decodeBase64Text(encoded)
  if (text === undefined) return invalid(`${dockerConfigJsonKey} is not base64 of UTF-8 text`)
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    // The parser's message quotes the text: say only that it is not JSON.
    return invalid(`${dockerConfigJsonKey} is not valid JSON`)
  }
  const auths = isRecord(document) ? document.auths : undefined
  if (!isRecord(auths)) return invalid(`${dockerConfigJsonKey} has no "auths" object`)
  const servers = Object.keys(auths)
  if (server !== undefined) {
    return Object.hasOwn(auths, server)
      ? decodeAuthEntry(server, auths[server])
      : invalid(`${dockerConfigJsonKey} has no auths entry for ${server} (it has ${servers.length})`)
  }
  if (servers.length !== 1) {
    return invalid(
      `${dockerConfigJsonKey} has ${servers.length} auths entries: set spec.secretRef.server to the registry to distribute`
    )
  }
  const only = servers[0]!
  if (!isRegistryServer(only)) return invalid("the only auths entry is not a registry host[:port]")
  return decodeAuthEntry(only, auths[only])
}

const decodeKeys = (data: Readonly<Record<string, string>>, server: string | undefined): SourceDecoding => {
  const text = (key: string) => {
    const encoded = data[key]
    return encoded === undefined ? { _tag: "Missing" as const } : { _tag: "Present" as const, value: decodeBase64Text(encoded) }
  }
  const username = text("username")
  const password = text("password")
  if (username._tag === "Missing" || password._tag === "Missing") {
    return invalid(`the Secret must be of type ${dockerConfigJsonType} or have the keys username and password`)
  }
  if (username.value === undefined) return invalid("the key username is not base64 of UTF-8 text")
  if (password.value === undefined) return invalid("the key password is not base64 of UTF-8 text")
  let registry = server
  if (registry === undefined) {
    const serverKey = text("server")
    if (serverKey._tag === "Missing") return invalid("set spec.secretRef.server, or the key server in the Secret")
    if (serverKey.value === undefined || !isRegistryServer(serverKey.value)) {
      return invalid("the key server is not a registry host[:port]")
    }
    registry = serverKey.value
  }
  return credentialsFrom(registry, username.value, password.value)
}

/** The credentials a source Secret holds for the registry, or why it holds none (never quoting a value). */
export const decodeSourceSecret = (secret: SourceSecret, server: string | undefined): SourceDecoding => {
  const data = secret.data ?? {}
  return secret.type === dockerConfigJsonType ? decodeDockerConfigJson(data, server) : decodeKeys(data, server)
}
