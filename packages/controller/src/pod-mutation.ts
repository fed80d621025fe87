// The pure core of the mutating webhook on Pod CREATE: which of our pull Secrets a Pod should reference, and the
// JSONPatch that appends the missing ones. User entries are never removed or reordered; applying the patch again
// (reinvocationPolicy IfNeeded) adds nothing.
import { selectorMatches } from "@tcr-assistant/api"
import type { Distribution } from "./distribution.ts"

export interface LocalObjectReference {
  readonly name?: string | undefined
}

export type JsonPatchOperation =
  | { readonly op: "add"; readonly path: "/spec/imagePullSecrets"; readonly value: ReadonlyArray<{ name: string }> }
  | { readonly op: "add"; readonly path: "/spec/imagePullSecrets/-"; readonly value: { name: string } }

/** What the mutation reads of an ImagePullSecret: the controller's own decoded view, so both select alike. */
export type SelectingDistribution = Pick<Distribution, "secretName" | "namespaces" | "serviceAccounts" | "violations" | "deleting">

/**
 * Our Secret names a Pod in `namespace` running as `serviceAccount` should reference, sorted for stable output.
 * An ImagePullSecret with an invalid spec or being deleted distributes nothing, so the Pod gets nothing from it.
 */
export const wantedPullSecrets = (
  distributions: ReadonlyArray<SelectingDistribution>,
  namespace: string,
  serviceAccount: string | undefined
): ReadonlyArray<string> =>
  distributions
    .filter((distribution) =>
      distribution.violations.length === 0 && !distribution.deleting &&
      selectorMatches(distribution.namespaces, namespace) &&
      selectorMatches(distribution.serviceAccounts, serviceAccount || "default")
    )
    .map((distribution) => distribution.secretName)
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

export const mutatePath = "/mutate-pods"

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined

/**
 * The AdmissionReview v1 answer for a Pod CREATE: always allowed (this webhook never blocks a Pod), with a
 * base64 JSONPatch when some of our pull Secrets are missing. The review carries no credentials, nor does the answer.
 */
export const reviewPodMutation = (review: unknown, distributions: ReadonlyArray<SelectingDistribution>) => {
  const request = field(review, "request")
  const uid = String(field(request, "uid") ?? "")
  const pod = field(request, "object")
  const spec = field(pod, "spec")
  const namespace = String(field(request, "namespace") ?? field(field(pod, "metadata"), "namespace") ?? "")
  const account = field(spec, "serviceAccountName")
  const existing = field(spec, "imagePullSecrets")
  const patch = pullSecretPatch(
    Array.isArray(existing) ? (existing as ReadonlyArray<LocalObjectReference>) : undefined,
    wantedPullSecrets(distributions, namespace, typeof account === "string" ? account : undefined)
  )
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: {
      uid,
      allowed: true,
      ...(patch.length === 0
        ? {}
        : { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") })
    }
  }
}
