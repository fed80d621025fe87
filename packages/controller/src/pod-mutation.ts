// The pure core of the mutating webhook on Pod CREATE: which of our pull Secrets a Pod should reference, and the
// JSONPatch that appends the missing ones. User entries are never removed or reordered; applying the patch again
// (reinvocationPolicy IfNeeded) adds nothing.
import { namespaceSelected, type SelectableObject, serviceAccountSelected } from "@tcr-assistant/api"
import { malformedReviewMessage, record, reviewResponse, reviewUid } from "./admission-review.ts"
import type { Distribution } from "./distribution.ts"

export interface LocalObjectReference {
  readonly name?: string | undefined
}

export type JsonPatchOperation =
  | { readonly op: "add"; readonly path: "/spec/imagePullSecrets"; readonly value: ReadonlyArray<{ name: string }> }
  | { readonly op: "add"; readonly path: "/spec/imagePullSecrets/-"; readonly value: { name: string } }

/** What the mutation reads of an ImagePullSecret: the controller's own decoded view, so both select alike. */
export type SelectingDistribution = Pick<Distribution, "secretName" | "selection" | "violations" | "deleting">

/** What the mutation knows of the Pod's namespace and ServiceAccount: names, and labels where the replica has them. */
export interface PodContext {
  readonly namespace: (name: string) => SelectableObject
  readonly serviceAccount: (namespace: string, name: string) => SelectableObject
}

/** Names only: what selection reads when nothing else is known (as for a namespace the cache does not hold yet). */
export const namesOnly: PodContext = { namespace: (name) => ({ name }), serviceAccount: (_namespace, name) => ({ name }) }

/**
 * Our Secret names a Pod in `namespace` running as `serviceAccount` should reference, sorted for stable output.
 * An ImagePullSecret with an invalid spec or being deleted distributes nothing, so the Pod gets nothing from it.
 */
export const wantedPullSecrets = (
  distributions: ReadonlyArray<SelectingDistribution>,
  namespace: SelectableObject,
  serviceAccount: SelectableObject
): ReadonlyArray<string> =>
  distributions
    .filter((distribution) =>
      distribution.violations.length === 0 && !distribution.deleting &&
      namespaceSelected(distribution.selection, namespace) &&
      serviceAccountSelected(distribution.selection, serviceAccount)
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

/**
 * When the apiserver calls the Pod mutation at all (CEL, Kubernetes 1.30 and later). Mirror pods (the kubelet's
 * static pods) may not reference Secrets: adding one would make the apiserver refuse them, so they are never sent.
 */
export const podMutationMatchConditions = [
  {
    name: "not-a-mirror-pod",
    expression: "!has(object.metadata.annotations) || !('kubernetes.io/config.mirror' in object.metadata.annotations)"
  }
] as const

export type PodMutationResult = "patched" | "unchanged" | "malformed"

export interface PodMutationOutcome {
  readonly result: PodMutationResult
  readonly httpStatus: number
  readonly body: unknown
  /** What was appended, for the log line (Secret names only). */
  readonly added: ReadonlyArray<string>
}

const namesOf = (patch: ReadonlyArray<JsonPatchOperation>) =>
  patch.flatMap((operation) => (Array.isArray(operation.value) ? operation.value : [operation.value]).map((entry) => entry.name))

/**
 * The AdmissionReview v1 answer for a Pod CREATE: always allowed (this webhook never blocks a Pod), with a JSONPatch
 * when some of our pull Secrets are missing. The review carries no credentials, nor does the answer.
 */
export const reviewPodMutation = (
  review: unknown,
  distributions: ReadonlyArray<SelectingDistribution>,
  context: PodContext = namesOnly
): PodMutationOutcome => {
  const uid = reviewUid(review)
  if (uid === undefined) return { result: "malformed", httpStatus: 400, body: { message: malformedReviewMessage }, added: [] }
  const request = record(record(review).request)
  const pod = record(request.object)
  const spec = record(pod.spec)
  const namespace = String(request.namespace ?? record(pod.metadata).namespace ?? "")
  const account = typeof spec.serviceAccountName === "string" && spec.serviceAccountName !== "" ? spec.serviceAccountName : "default"
  const existing = spec.imagePullSecrets
  const patch = pullSecretPatch(
    Array.isArray(existing) ? (existing as ReadonlyArray<LocalObjectReference>) : undefined,
    wantedPullSecrets(distributions, context.namespace(namespace), context.serviceAccount(namespace, account))
  )
  return {
    result: patch.length === 0 ? "unchanged" : "patched",
    httpStatus: 200,
    body: reviewResponse(uid, true, { patch }),
    added: namesOf(patch)
  }
}
