// The typed views of the objects the controller reads, as Schemas its informers decode their projections to (see
// object-view.ts in the kube package): a Namespace, a ServiceAccount, one of our Secrets, a credential source Secret
// and an ImagePullSecret.
// Everything downstream of the informers reads these types, not casts of what the server sent.
import { ImagePullSecretStatusSchema } from "@tcr-assistant/api"
import { metadataOf, objectView } from "@tcr-assistant/kube"
import { Effect, Schema } from "effect"

export const NamespaceSchema = Schema.Struct({
  metadata: metadataOf(["resourceVersion", "uid", "deletionTimestamp", "labels"]),
  status: Schema.optionalKey(Schema.Struct({ phase: Schema.optionalKey(Schema.String) }))
})
export type Namespace = typeof NamespaceSchema.Type

export const ServiceAccountSchema = Schema.Struct({
  metadata: metadataOf(["namespace", "uid", "resourceVersion", "deletionTimestamp", "labels"]),
  imagePullSecrets: Schema.optionalKey(Schema.Array(Schema.Struct({ name: Schema.optionalKey(Schema.String) })))
})
export type ServiceAccount = typeof ServiceAccountSchema.Type

/** One of our Secrets: its metadata and the digest of its data (the cache holds no credentials). */
export const ManagedSecretSchema = Schema.Struct({
  metadata: metadataOf(["namespace", "resourceVersion", "uid", "labels", "annotations", "ownerReferences", "deletionTimestamp"]),
  type: Schema.optionalKey(Schema.String),
  dataHash: Schema.String
})
export type Secret = typeof ManagedSecretSchema.Type

/** A Secret named by a spec.secretRef: what decoding its credentials reads (the cache keeps nothing else). */
export const SourceSecretSchema = Schema.Struct({
  metadata: metadataOf(["namespace", "resourceVersion", "annotations"]),
  type: Schema.optionalKey(Schema.String),
  data: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})
export type SourceSecretObject = typeof SourceSecretSchema.Type

/**
 * An ImagePullSecret: its spec stays `unknown` here, since an invalid spec must still reach the controller, which
 * reports it in the status; validation decodes it once per change (distribution.ts). The status is ours: one that
 * does not decode (written by hand, or by another version) reads as none, and the controller writes it anew.
 */
export const ImagePullSecretSchema = Schema.Struct({
  metadata: metadataOf(["uid", "generation", "resourceVersion", "deletionTimestamp", "finalizers", "labels", "annotations"]),
  spec: Schema.optionalKey(Schema.Unknown),
  status: Schema.optionalKey(ImagePullSecretStatusSchema.pipe(Schema.catchDecoding(() => Effect.succeedNone)))
})
export type ImagePullSecretObject = typeof ImagePullSecretSchema.Type

export const namespaceView = objectView("Namespace", NamespaceSchema)
export const serviceAccountView = objectView("ServiceAccount", ServiceAccountSchema)
export const managedSecretView = objectView("Secret", ManagedSecretSchema)
export const imagePullSecretView = objectView("ImagePullSecret", ImagePullSecretSchema)
export const sourceSecretView = objectView("Secret", SourceSecretSchema)
