// Owns the AdmissionReview v1 envelope that both webhooks speak: reading fields of the untyped review the apiserver
// sends, recognising one at all, and the response it expects back.
export const admissionReviewApiVersion = "admission.k8s.io/v1"

/** The object at `value`, or an empty one when it is anything else: untyped review JSON is read through this. */
export const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}

/** The request's uid when `review` is an AdmissionReview v1 with one, else undefined (answered with HTTP 400). */
export const reviewUid = (review: unknown): string | undefined => {
  const uid = record(record(review).request).uid
  return record(review).apiVersion === admissionReviewApiVersion && typeof uid === "string" && uid !== "" ? uid : undefined
}

export const malformedReviewMessage = `expected an ${admissionReviewApiVersion} AdmissionReview with a request uid`

export interface ReviewResponseFields {
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string } | undefined
  /** A JSONPatch, sent base64-encoded. */
  readonly patch?: ReadonlyArray<unknown> | undefined
}

export const reviewResponse = (uid: string, allowed: boolean, fields: ReviewResponseFields = {}) => ({
  apiVersion: admissionReviewApiVersion,
  kind: "AdmissionReview",
  response: {
    uid,
    allowed,
    ...(fields.status !== undefined ? { status: { status: "Failure", ...fields.status } } : {}),
    ...(fields.patch !== undefined && fields.patch.length > 0
      ? { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(fields.patch)).toString("base64") }
      : {})
  }
})
