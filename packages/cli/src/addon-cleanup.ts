// What `uninstall --force` removes itself when the controller is not there to run the ImagePullSecrets' finalizer:
// exactly the Secrets the controller made for them (our label and owner annotation) and the ServiceAccount entries
// naming those Secrets, and nothing a user made. Pure: given the objects, the deletions and patches to send.
import { managedSecretName } from "@tcr-assistant/api"
import { finalizerName, managedByLabel, managedByValue, ownerAnnotation } from "@tcr-assistant/controller/plan"

export interface SecretObject {
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly uid?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
  }
}

export interface ServiceAccountObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string }
  readonly imagePullSecrets?: ReadonlyArray<{ readonly name?: string }>
}

export type JsonPatch = ReadonlyArray<
  | { readonly op: "test" | "replace" | "add"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string }
>

/** A Secret the controller distributed for one of the named ImagePullSecrets. */
export const isDistributedSecret = (secret: SecretObject, imagePullSecrets: ReadonlySet<string>): boolean => {
  const owner = secret.metadata.annotations?.[ownerAnnotation]
  return secret.metadata.labels?.[managedByLabel] === managedByValue && owner !== undefined &&
    imagePullSecrets.has(owner) && secret.metadata.name === managedSecretName(owner)
}

export interface ServiceAccountCleanup {
  readonly namespace: string
  readonly name: string
  readonly patch: JsonPatch
  /** The entry names removed. */
  readonly removed: ReadonlyArray<string>
}

/**
 * The patch removing, from one ServiceAccount, the entries that name a Secret of the given ImagePullSecrets, but only
 * where that Secret is ours or gone: an entry naming a user's own Secret of the same name stays. Undefined when there
 * is nothing to remove. Guarded by resourceVersion and a test per entry, so a concurrent edit fails instead of
 * removing the wrong entry.
 */
export const serviceAccountCleanup = (
  serviceAccount: ServiceAccountObject,
  imagePullSecrets: ReadonlySet<string>,
  /** Secrets in the ServiceAccount's namespace, by name. */
  secretsInNamespace: ReadonlyMap<string, SecretObject>
): ServiceAccountCleanup | undefined => {
  const ourNames = new Set([...imagePullSecrets].map(managedSecretName))
  const entries = serviceAccount.imagePullSecrets ?? []
  const indices = entries.flatMap((entry, index) => {
    if (entry.name === undefined || !ourNames.has(entry.name)) return []
    const secret = secretsInNamespace.get(entry.name)
    return secret === undefined || isDistributedSecret(secret, imagePullSecrets) ? [index] : []
  })
  if (indices.length === 0) return undefined
  const patch: JsonPatch = [
    { op: "replace", path: "/metadata/resourceVersion", value: serviceAccount.metadata.resourceVersion ?? "" },
    ...[...indices].reverse().flatMap((index) => [
      { op: "test" as const, path: `/imagePullSecrets/${index}/name`, value: entries[index]!.name },
      { op: "remove" as const, path: `/imagePullSecrets/${index}` }
    ])
  ]
  return {
    namespace: serviceAccount.metadata.namespace ?? "default",
    name: serviceAccount.metadata.name,
    patch,
    removed: indices.map((index) => entries[index]!.name!)
  }
}

/** The patch that releases the controller's finalizer from an ImagePullSecret, or undefined when it has none. */
export const finalizerRelease = (finalizers: ReadonlyArray<string> | undefined): JsonPatch | undefined => {
  const index = (finalizers ?? []).indexOf(finalizerName)
  if (index < 0) return undefined
  return [
    { op: "test", path: `/metadata/finalizers/${index}`, value: finalizerName },
    { op: "remove", path: `/metadata/finalizers/${index}` }
  ]
}

export { finalizerName, managedByLabel, managedByValue, ownerAnnotation }
