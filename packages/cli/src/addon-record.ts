// What `install` leaves on the ImagePullSecrets it creates so that later runs can find them and know what they
// hold: a label that marks them as ours, and annotations recording the instance, the token's ID and the domain.
// The token value itself lives in the credential Secret the CRs reference (addon-credential.ts); installs from before
// that Secret existed carried it in the CR spec, and are still read so that an upgrade can reuse their token.
import { apiVersion, group, kind, plural, version } from "@tcr-assistant/api"

/** Marks the ImagePullSecrets created by `tcr-assistant install`; nothing else carries this value. */
export const installedByLabel = "app.kubernetes.io/managed-by"
export const installedByValue = "tcr-assistant-install"
export const installedBySelector = `${installedByLabel}=${installedByValue}`

/** The field manager of every server-side apply made by install. */
export const fieldManager = "tcr-assistant-install"

const prefix = `${group}/`

export const recordAnnotations = {
  region: `${prefix}region`,
  instanceId: `${prefix}instance-id`,
  /** The long-term token (CreateInstanceToken's TokenId) the CR distributes. */
  tokenId: `${prefix}token-id`,
  clusterId: `${prefix}cluster-id`,
  /** default, private or custom: which of the instance's domains the CR serves. */
  domainKind: `${prefix}domain-kind`
} as const

export const imagePullSecretsPath = `/apis/${group}/${version}/${plural}`
export const imagePullSecretPath = (name: string) => `${imagePullSecretsPath}/${encodeURIComponent(name)}`
export const imagePullSecretApiVersion = apiVersion
export const imagePullSecretKind = kind

export type DomainKind = "default" | "private" | "custom"

/** An ImagePullSecret as install and uninstall read it (the parts they use). */
export interface ObservedImagePullSecret {
  readonly metadata: {
    readonly name: string
    readonly uid?: string
    readonly resourceVersion?: string
    readonly generation?: number
    readonly deletionTimestamp?: string
    readonly finalizers?: ReadonlyArray<string>
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
  readonly spec?: {
    readonly namespaces?: string
    readonly serviceAccounts?: string
    readonly docker?: { readonly server?: string; readonly username?: string; readonly password?: string }
    readonly secretRef?: { readonly name?: string; readonly namespace?: string; readonly server?: string }
  }
  readonly status?: unknown
}

export const isInstalledByUs = (object: ObservedImagePullSecret): boolean =>
  object.metadata.labels?.[installedByLabel] === installedByValue

/** What one of our CRs records about the installation it belongs to. */
export interface InstallRecord {
  readonly name: string
  readonly region: string | undefined
  readonly instanceId: string | undefined
  readonly tokenId: string | undefined
  readonly clusterId: string | undefined
  readonly domainKind: DomainKind | undefined
  readonly server: string | undefined
  readonly namespaces: string | undefined
  readonly serviceAccounts: string | undefined
  readonly username: string | undefined
  /** Whether the spec carries a password (an install from before the credential Secret); the value is not copied. */
  readonly hasPassword: boolean
  /** The Secret the spec references, `namespace/name`, if any. */
  readonly secretRef: string | undefined
  readonly deleting: boolean
}

const domainKindOf = (value: string | undefined): DomainKind | undefined =>
  value === "default" || value === "private" || value === "custom" ? value : undefined

export const readInstallRecord = (object: ObservedImagePullSecret): InstallRecord => {
  const annotations = object.metadata.annotations ?? {}
  const docker = object.spec?.docker
  const secretRef = object.spec?.secretRef
  return {
    name: object.metadata.name,
    region: annotations[recordAnnotations.region],
    instanceId: annotations[recordAnnotations.instanceId],
    tokenId: annotations[recordAnnotations.tokenId],
    clusterId: annotations[recordAnnotations.clusterId],
    domainKind: domainKindOf(annotations[recordAnnotations.domainKind]),
    server: docker?.server ?? secretRef?.server,
    namespaces: object.spec?.namespaces,
    serviceAccounts: object.spec?.serviceAccounts,
    username: docker?.username,
    hasPassword: typeof docker?.password === "string" && docker.password !== "",
    secretRef: secretRef?.name === undefined ? undefined : `${secretRef.namespace ?? ""}/${secretRef.name}`,
    deleting: object.metadata.deletionTimestamp !== undefined
  }
}
