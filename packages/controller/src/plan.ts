// Pure policies: given what should be and what is, the single API request that moves a target one step closer, or
// the reason none is needed. No I/O here; the interpreter executes what these return.
import { dockerConfigJsonType, dockerConfigSecretData } from "@tcr-assistant/api"
import { Redacted } from "effect"
import { createHash } from "node:crypto"
import type { RegistryCredentials } from "./distribution.ts"

export const managedByLabel = "app.kubernetes.io/managed-by"
export const managedByValue = "tcr-assistant"
export const ownerAnnotation = "tcr.tencentcloudcr.com/image-pull-secret"
export const finalizerName = "tcr.tencentcloudcr.com/cleanup"

export interface OwnerRef {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
}

export interface ObservedSecret {
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly uid?: string
    readonly resourceVersion?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
    readonly ownerReferences?: ReadonlyArray<{ readonly uid: string; readonly kind?: string; readonly name?: string }>
  }
  readonly type?: string
  readonly data?: Readonly<Record<string, string>>
  /** What the informer keeps instead of `data` (see `secretDataHash`): the cache holds no credentials. */
  readonly dataHash?: string
}

export interface ObservedServiceAccount {
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly resourceVersion?: string
    readonly deletionTimestamp?: string
    /** Read for the opt-out label only (see selection.ts in the API package). */
    readonly labels?: Readonly<Record<string, string>>
  }
  readonly imagePullSecrets?: ReadonlyArray<{ readonly name?: string }>
}

/** What a Secret target should be. */
export type SecretDesire =
  | { readonly _tag: "Present"; readonly namespace: string; readonly name: string; readonly credentials: RegistryCredentials; readonly owner: OwnerRef }
  | { readonly _tag: "Absent"; readonly namespace: string; readonly name: string; readonly ips: string }
  | { readonly _tag: "Skip"; readonly reason: string; readonly message: string }

/** What a ServiceAccount target should be. */
export type ServiceAccountDesire =
  | { readonly _tag: "Present"; readonly namespace: string; readonly serviceAccount: string; readonly secretName: string; readonly secretReady: boolean }
  | { readonly _tag: "Absent"; readonly namespace: string; readonly serviceAccount: string; readonly secretName: string }
  | { readonly _tag: "Skip"; readonly reason: string; readonly message: string }

export type JsonPatchOperation =
  | { readonly op: "add" | "replace" | "test"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string }

export type Command =
  | { readonly _tag: "CreateSecret"; readonly namespace: string; readonly body: unknown }
  | { readonly _tag: "PatchSecret"; readonly namespace: string; readonly name: string; readonly patch: ReadonlyArray<JsonPatchOperation> }
  | { readonly _tag: "DeleteSecret"; readonly namespace: string; readonly name: string; readonly uid: string; readonly resourceVersion: string }
  | { readonly _tag: "PatchServiceAccount"; readonly namespace: string; readonly name: string; readonly patch: ReadonlyArray<JsonPatchOperation> }
  | { readonly _tag: "PatchImagePullSecret"; readonly name: string; readonly patch: ReadonlyArray<JsonPatchOperation> }

export type Plan =
  | { readonly _tag: "InSync" }
  | { readonly _tag: "Gone" }
  | { readonly _tag: "Wait"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Skip"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Conflict"; readonly reason: string; readonly message: string }
  | { readonly _tag: "Apply"; readonly command: Command }
  | { readonly _tag: "Remove"; readonly command: Command }

const inSync: Plan = { _tag: "InSync" }
const gone: Plan = { _tag: "Gone" }

/** Is this Secret one we manage for the named ImagePullSecret (whatever the owner's uid: we adopt after a re-create)? */
export const isOurSecret = (secret: ObservedSecret, ips: string): boolean =>
  secret.metadata.labels?.[managedByLabel] === managedByValue && secret.metadata.annotations?.[ownerAnnotation] === ips

export const desiredSecretBody = (desire: Extract<SecretDesire, { _tag: "Present" }>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: {
    name: desire.name,
    namespace: desire.namespace,
    labels: { [managedByLabel]: managedByValue },
    annotations: { [ownerAnnotation]: desire.owner.name },
    ownerReferences: [{ ...desire.owner, blockOwnerDeletion: false, controller: true }]
  },
  type: dockerConfigJsonType,
  data: secretDataOf(desire.credentials)
})

const secretData = new WeakMap<RegistryCredentials, Readonly<Record<string, string>>>()

/**
 * The Secret `data` that carries these credentials: the one place the password leaves its Redacted, for the request
 * body. Memoised per credentials object, since every target of one ImagePullSecret shares it.
 */
export const secretDataOf = (credentials: RegistryCredentials): Readonly<Record<string, string>> => {
  const known = secretData.get(credentials)
  if (known !== undefined) return known
  const data = dockerConfigSecretData({ ...credentials, password: Redacted.value(credentials.password) })
  secretData.set(credentials, data)
  return data
}

const dataHashes = new WeakMap<object, string>()

/**
 * A Secret's content as one digest (SHA-256 of its keys and values in key order): the informer keeps this instead of
 * the data, and a desired Secret compares by it. Memoised per data object, since every target of one
 * ImagePullSecret shares its desired data.
 */
export const secretDataHash = (data: Readonly<Record<string, string>> | undefined): string => {
  const content = data ?? {}
  const known = dataHashes.get(content)
  if (known !== undefined) return known
  const hash = createHash("sha256")
  for (const key of Object.keys(content).sort()) hash.update(`${key.length}:${key}${content[key]!.length}:${content[key]}`)
  const digest = hash.digest("base64")
  dataHashes.set(content, digest)
  return digest
}

/** The observed Secret's digest: the one its projection kept, or that of its data when it is whole. */
export const observedDataHash = (secret: ObservedSecret): string => secret.dataHash ?? secretDataHash(secret.data)

const sameData = (observed: ObservedSecret, desired: RegistryCredentials) =>
  observedDataHash(observed) === secretDataHash(secretDataOf(desired))

/** Delete our Secret, on the precondition that it is still the object we looked at. */
const removeSecret = (where: { readonly namespace: string; readonly name: string }, observed: ObservedSecret): Plan => ({
  _tag: "Remove",
  command: {
    _tag: "DeleteSecret",
    namespace: where.namespace,
    name: where.name,
    uid: observed.metadata.uid ?? "",
    resourceVersion: observed.metadata.resourceVersion ?? ""
  }
})

export const planSecret = (desire: SecretDesire, observed: ObservedSecret | undefined): Plan => {
  if (desire._tag === "Skip") return { _tag: "Skip", reason: desire.reason, message: desire.message }
  if (desire._tag === "Absent") {
    if (observed === undefined || !isOurSecret(observed, desire.ips)) return gone
    return removeSecret(desire, observed)
  }
  if (observed === undefined) {
    return { _tag: "Apply", command: { _tag: "CreateSecret", namespace: desire.namespace, body: desiredSecretBody(desire) } }
  }
  if (!isOurSecret(observed, desire.owner.name)) {
    return {
      _tag: "Conflict",
      reason: "SecretNotOwned",
      message: `Secret ${desire.namespace}/${desire.name} exists and is not managed by tcr-assistant; it is left untouched`
    }
  }
  if (observed.type !== undefined && observed.type !== dockerConfigJsonType) {
    // The type of a Secret is immutable: replace our own Secret of the wrong type.
    return removeSecret(desire, observed)
  }
  const owned = observed.metadata.ownerReferences?.some((ref) => ref.uid === desire.owner.uid) ?? false
  if (sameData(observed, desire.credentials) && owned) return inSync
  const resourceVersion = observed.metadata.resourceVersion ?? ""
  const patch: Array<JsonPatchOperation> = [
    // Carrying the resourceVersion makes the patch fail with 409 if the Secret changed since we read it.
    { op: "replace", path: "/metadata/resourceVersion", value: resourceVersion },
    { op: "add", path: "/data", value: secretDataOf(desire.credentials) }
  ]
  if (!owned) {
    patch.push({
      op: "add",
      path: "/metadata/ownerReferences",
      value: [
        ...(observed.metadata.ownerReferences ?? []).filter((ref) => ref.kind !== desire.owner.kind || ref.name !== desire.owner.name),
        { ...desire.owner, blockOwnerDeletion: false, controller: true }
      ]
    })
  }
  return { _tag: "Apply", command: { _tag: "PatchSecret", namespace: desire.namespace, name: desire.name, patch } }
}

export const planServiceAccount = (desire: ServiceAccountDesire, observed: ObservedServiceAccount | undefined): Plan => {
  if (desire._tag === "Skip") return { _tag: "Skip", reason: desire.reason, message: desire.message }
  if (observed === undefined) return gone
  const entries = observed.imagePullSecrets ?? []
  const ours = entries.flatMap((entry, index) => (entry.name === desire.secretName ? [index] : []))
  const resourceVersion = observed.metadata.resourceVersion ?? ""
  const guard: JsonPatchOperation = { op: "replace", path: "/metadata/resourceVersion", value: resourceVersion }
  if (desire._tag === "Absent") {
    if (ours.length === 0) return gone
    // Remove from the end so earlier indices stay valid; each removal is guarded by a test of the name.
    const removals = [...ours].reverse().flatMap((index): Array<JsonPatchOperation> => [
      { op: "test", path: `/imagePullSecrets/${index}/name`, value: desire.secretName },
      { op: "remove", path: `/imagePullSecrets/${index}` }
    ])
    return {
      _tag: "Remove",
      command: { _tag: "PatchServiceAccount", namespace: desire.namespace, name: desire.serviceAccount, patch: [guard, ...removals] }
    }
  }
  if (ours.length > 0) return inSync
  if (observed.metadata.deletionTimestamp !== undefined) return gone
  if (!desire.secretReady) {
    return { _tag: "Wait", reason: "WaitingForSecret", message: `waiting for Secret ${desire.namespace}/${desire.secretName}` }
  }
  const add: JsonPatchOperation = observed.imagePullSecrets === undefined
    ? { op: "add", path: "/imagePullSecrets", value: [{ name: desire.secretName }] }
    : { op: "add", path: "/imagePullSecrets/-", value: { name: desire.secretName } }
  return {
    _tag: "Apply",
    command: { _tag: "PatchServiceAccount", namespace: desire.namespace, name: desire.serviceAccount, patch: [guard, add] }
  }
}

export interface ObservedImagePullSecret {
  readonly metadata: {
    readonly name: string
    readonly resourceVersion?: string
    readonly deletionTimestamp?: string
    readonly finalizers?: ReadonlyArray<string>
  }
}

/**
 * The ImagePullSecret's own lifecycle: hold a finalizer while it lives, and release it on deletion once every target
 * it owns has been cleaned up.
 */
export const planImagePullSecret = (observed: ObservedImagePullSecret | undefined, remainingTargets: number): Plan => {
  if (observed === undefined) return gone
  const finalizers = observed.metadata.finalizers ?? []
  const index = finalizers.indexOf(finalizerName)
  const guard: JsonPatchOperation = { op: "replace", path: "/metadata/resourceVersion", value: observed.metadata.resourceVersion ?? "" }
  if (observed.metadata.deletionTimestamp === undefined) {
    if (index >= 0) return inSync
    const add: JsonPatchOperation = observed.metadata.finalizers === undefined
      ? { op: "add", path: "/metadata/finalizers", value: [finalizerName] }
      : { op: "add", path: "/metadata/finalizers/-", value: finalizerName }
    return { _tag: "Apply", command: { _tag: "PatchImagePullSecret", name: observed.metadata.name, patch: [guard, add] } }
  }
  if (index < 0) return gone
  if (remainingTargets > 0) {
    return { _tag: "Wait", reason: "CleaningUp", message: `removing ${remainingTargets} distributed objects before releasing the finalizer` }
  }
  return {
    _tag: "Remove",
    command: {
      _tag: "PatchImagePullSecret",
      name: observed.metadata.name,
      patch: [guard, { op: "test", path: `/metadata/finalizers/${index}`, value: finalizerName }, { op: "remove", path: `/metadata/finalizers/${index}` }]
    }
  }
}
