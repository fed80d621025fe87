// The pure core of the mutating webhook on Pod CREATE: which of our pull Secrets a Pod should reference, and the
// JSONPatch that appends the missing ones. User entries are never removed or reordered; applying the patch again
// (reinvocationPolicy IfNeeded) adds nothing.
import { managedSecretName, parseSelector, selectorMatches } from "@tcr-assistant/api"

export interface SelectingImagePullSecret {
  readonly name: string
  readonly namespaces?: string | undefined
  readonly serviceAccounts?: string | undefined
}

export interface LocalObjectReference {
  readonly name?: string | undefined
}

export type JsonPatchOperation =
  | { readonly op: "add"; readonly path: "/spec/imagePullSecrets"; readonly value: ReadonlyArray<{ name: string }> }
  | { readonly op: "add"; readonly path: "/spec/imagePullSecrets/-"; readonly value: { name: string } }

/** Our Secret names a Pod in `namespace` running as `serviceAccount` should reference, sorted for stable output. */
export const wantedPullSecrets = (
  imagePullSecrets: ReadonlyArray<SelectingImagePullSecret>,
  namespace: string,
  serviceAccount: string | undefined
): ReadonlyArray<string> =>
  imagePullSecrets
    .filter((ips) =>
      selectorMatches(parseSelector(ips.namespaces), namespace) &&
      selectorMatches(parseSelector(ips.serviceAccounts), serviceAccount || "default")
    )
    .map((ips) => managedSecretName(ips.name))
    .sort()

/** The patch that appends each wanted name missing from `existing`; empty when nothing is missing. */
export const pullSecretPatch = (
  existing: ReadonlyArray<LocalObjectReference> | undefined,
  wanted: ReadonlyArray<string>
): ReadonlyArray<JsonPatchOperation> => {
  const present = new Set((existing ?? []).map((entry) => entry.name))
  const missing = [...new Set(wanted)].filter((name) => !present.has(name))
  if (missing.length === 0) return []
  if (existing === undefined) {
    return [{ op: "add", path: "/spec/imagePullSecrets", value: missing.map((name) => ({ name })) }]
  }
  return missing.map((name) => ({ op: "add", path: "/spec/imagePullSecrets/-", value: { name } }))
}

/** Applies a patch from pullSecretPatch, as the API server would. */
export const applyPullSecretPatch = (
  existing: ReadonlyArray<LocalObjectReference> | undefined,
  patch: ReadonlyArray<JsonPatchOperation>
): ReadonlyArray<LocalObjectReference> | undefined =>
  patch.reduce<ReadonlyArray<LocalObjectReference> | undefined>(
    (list, operation) => operation.path === "/spec/imagePullSecrets" ? operation.value : [...(list ?? []), operation.value],
    existing
  )
