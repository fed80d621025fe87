// The one Secret that holds the registry credential `install` distributes: the long-term token's user name and value
// (or the user's own, `--username`) in the add-on's namespace, with annotations recording which token it is and when
// it expires. Our ImagePullSecrets reference it (spec.secretRef), so no credential sits in a cluster-scoped object,
// and replacing its data (`rotate-token`) rotates every distributed copy in place.
import { decodeSourceSecret, tokenExpiresAtAnnotation } from "@tcr-assistant/api"
import { Effect, Redacted } from "effect"
import { getObject, type Manifest } from "./addon-cluster.ts"
import { failure } from "./addon-failure.ts"
import { addonNamespace } from "./addon-manifests.ts"
import { installedByLabel, installedByValue, recordAnnotations } from "./addon-record.ts"

export const credentialSecretName = "tcr-assistant-registry-credential"
export const credentialSecretNamespace = addonNamespace
/** Username and password keys, the type Kubernetes defines for them; the registry comes from each secretRef. */
export const credentialSecretType = "kubernetes.io/basic-auth"
export const credentialSecretPath =
  `/api/v1/namespaces/${credentialSecretNamespace}/secrets/${credentialSecretName}`
export const credentialSecretRef = (server: string) => ({
  name: credentialSecretName,
  namespace: credentialSecretNamespace,
  server
})

/** On the credential Secret while a rotation is under way: the token to delete once every copy holds the new one. */
export const previousTokenAnnotation = "tcr.tencentcloudcr.com/previous-token-id"

/** The credential install distributes: a long-term token (with its ID and expiry), or the user's own. */
export interface Credential {
  /** Undefined for the user's own credential. */
  readonly tokenId: string | undefined
  readonly username: string
  readonly password: Redacted.Redacted<string>
  /** When the token expires, if known (a long-term token's ExpTime; the user's own credential has none). */
  readonly expiresAt: Date | undefined
}

/** Where the Secret's credential came from: the TCR instance and cluster it was made for. */
export interface CredentialOrigin {
  readonly region: string
  readonly instanceId: string
  readonly clusterId: string
}

/** The Secret as sent to the apiserver (it carries the password: never print it, print {@link describeCredential}). */
export const credentialSecretObject = (
  credential: Credential,
  origin: CredentialOrigin,
  /** More annotations (rotate-token's pending deletion). */
  extra: Readonly<Record<string, string>> = {}
): Manifest => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: {
    name: credentialSecretName,
    namespace: credentialSecretNamespace,
    labels: { [installedByLabel]: installedByValue, "app.kubernetes.io/part-of": "tcr-assistant" },
    annotations: {
      [recordAnnotations.region]: origin.region,
      [recordAnnotations.instanceId]: origin.instanceId,
      [recordAnnotations.clusterId]: origin.clusterId,
      ...(credential.tokenId === undefined ? {} : { [recordAnnotations.tokenId]: credential.tokenId }),
      ...(credential.expiresAt === undefined ? {} : { [tokenExpiresAtAnnotation]: credential.expiresAt.toISOString() }),
      ...extra
    }
  },
  type: credentialSecretType,
  data: {
    username: Buffer.from(credential.username, "utf8").toString("base64"),
    password: Buffer.from(Redacted.value(credential.password), "utf8").toString("base64")
  }
})

/** The Secret as install, status, rotate-token and uninstall read it. */
export interface ObservedCredentialSecret {
  readonly metadata: {
    readonly name: string
    readonly resourceVersion?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
  readonly type?: string
  readonly data?: Readonly<Record<string, string>>
}

/** What the Secret records about its credential, without the value. */
export interface CredentialRecord {
  readonly region: string | undefined
  readonly instanceId: string | undefined
  readonly clusterId: string | undefined
  readonly tokenId: string | undefined
  /** The token a rotation that has not finished replaced: still valid, to be deleted once every copy is new. */
  readonly previousTokenId: string | undefined
  readonly username: string | undefined
  readonly expiresAt: string | undefined
  /** Whether the Secret holds a readable user name and password. */
  readonly usable: boolean
}

const decoded = (secret: ObservedCredentialSecret) =>
  decodeSourceSecret({ type: secret.type, data: secret.data }, "registry.invalid")

export const readCredentialRecord = (secret: ObservedCredentialSecret): CredentialRecord => {
  const annotations = secret.metadata.annotations ?? {}
  const decoding = decoded(secret)
  return {
    region: annotations[recordAnnotations.region],
    instanceId: annotations[recordAnnotations.instanceId],
    clusterId: annotations[recordAnnotations.clusterId],
    tokenId: annotations[recordAnnotations.tokenId],
    previousTokenId: annotations[previousTokenAnnotation],
    username: decoding._tag === "Credentials" ? decoding.credentials.username : undefined,
    expiresAt: annotations[tokenExpiresAtAnnotation],
    usable: decoding._tag === "Credentials"
  }
}

/** Whether the Secret already holds exactly this credential (so install leaves it as it is). */
export const holdsCredential = (secret: ObservedCredentialSecret | undefined, credential: Credential): boolean => {
  if (secret === undefined) return false
  const decoding = decoded(secret)
  return decoding._tag === "Credentials" && decoding.credentials.username === credential.username &&
    decoding.credentials.password === Redacted.value(credential.password) &&
    readCredentialRecord(secret).tokenId === credential.tokenId
}

/** The credential Secret, or undefined when there is none (no install, or one from before it existed). */
export const readCredentialSecret = getObject<ObservedCredentialSecret>(
  credentialSecretPath,
  `get Secret ${credentialSecretNamespace}/${credentialSecretName}`
)

/** The password the Secret holds, to reuse its token; fails (without quoting anything) when it holds none. */
export const passwordOf = (secret: ObservedCredentialSecret | undefined) => {
  const decoding = secret === undefined ? undefined : decoded(secret)
  return decoding?._tag === "Credentials"
    ? Effect.succeed(Redacted.make(decoding.credentials.password))
    : Effect.fail(failure(
      `Secret ${credentialSecretNamespace}/${credentialSecretName} no longer holds the token${decoding?._tag === "Invalid" ? `: ${decoding.message}` : ""}`,
      "run install again: it creates a new token"
    ))
}
