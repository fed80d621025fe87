// Typed views of Kubernetes objects at the informer boundary: the metadata fields a view may declare, and decoding
// a projected object against its view's Schema, with a failure described by field paths only (never a value), so
// that it can be logged and counted, and the object kept out of the cache.
import { Effect, Metric, Result, Schema, SchemaIssue } from "effect"

export const OwnerReferenceSchema = Schema.Struct({
  apiVersion: Schema.optionalKey(Schema.String),
  kind: Schema.String,
  name: Schema.String,
  uid: Schema.String,
  controller: Schema.optionalKey(Schema.Boolean),
  blockOwnerDeletion: Schema.optionalKey(Schema.Boolean)
})

const StringMap = Schema.Record(Schema.String, Schema.String)

/** Every metadata field a view may keep; `name` is required, the others optional. Pick from it with `metadataOf`. */
const optionalMetadataFields = {
  namespace: Schema.optionalKey(Schema.String),
  uid: Schema.optionalKey(Schema.String),
  resourceVersion: Schema.optionalKey(Schema.String),
  generation: Schema.optionalKey(Schema.Number),
  labels: Schema.optionalKey(StringMap),
  annotations: Schema.optionalKey(StringMap),
  deletionTimestamp: Schema.optionalKey(Schema.String),
  finalizers: Schema.optionalKey(Schema.Array(Schema.String)),
  ownerReferences: Schema.optionalKey(Schema.Array(OwnerReferenceSchema))
}
type OptionalMetadataField = keyof typeof optionalMetadataFields

/** The metadata schema of a view: its name and the named optional fields. */
export const metadataOf = <const K extends OptionalMetadataField>(fields: ReadonlyArray<K>) =>
  Schema.Struct({
    name: Schema.String,
    ...(Object.fromEntries(fields.map((field) => [field, optionalMetadataFields[field]])) as Pick<typeof optionalMetadataFields, K>)
  })

/** What each kind of failing leaf means, said without the value that failed. */
const leafMessage = (issue: SchemaIssue.Leaf): string => {
  switch (issue._tag) {
    case "InvalidType":
      return "has the wrong type"
    case "MissingKey":
      return "is missing"
    case "UnexpectedKey":
      return "is not expected"
    case "Forbidden":
      return "cannot be decoded"
    case "InvalidValue":
    case "OneOf":
      return "is not a valid value"
  }
}

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1({ leafHook: leafMessage, checkHook: () => "fails a check" })

/** Each failing field as `path: what is wrong`, e.g. `metadata.labels.team: has the wrong type`; never a value. */
export const describeIssue = (issue: SchemaIssue.Issue): string =>
  formatIssue(issue).issues.map((entry) => {
    const path = (entry.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment))
    return `${path.length === 0 ? "(object)" : path.join(".")}: ${entry.message}`
  }).join("; ")

/** A view: the kind it is of (for reports), and how a projected object decodes to it. */
export interface ObjectView<T> {
  readonly kind: string
  /** The typed object, or what is wrong with it (see `describeIssue`). */
  readonly decode: (projected: unknown) => Result.Result<T, string>
}

export const objectView = <T>(kind: string, schema: Schema.Decoder<T>): ObjectView<T> => {
  const decode = Schema.decodeUnknownResult(schema as Schema.Decoder<T> & Schema.ConstraintDecoder<unknown>, { errors: "all" })
  return { kind, decode: (projected) => Result.mapError(decode(projected), (error) => describeIssue(error.issue)) }
}

const undecodableObjects = Metric.counter("tcr_assistant_informer_undecodable_objects_total", {
  description: "Objects an informer kept out of its cache because they did not decode to the view the controller reads.",
  incremental: true
})

/** A decoding failure, reported: a warning naming the object and the failing fields, and the counter. */
export const reportUndecodable = (
  informer: string,
  kind: string,
  object: { readonly metadata?: { readonly name?: unknown; readonly namespace?: unknown } | undefined },
  problem: string
) =>
  Effect.logWarning("object does not decode; kept out of the cache").pipe(
    Effect.annotateLogs({
      informer,
      kind,
      namespace: String(object.metadata?.namespace ?? ""),
      name: String(object.metadata?.name ?? ""),
      problem
    }),
    Effect.andThen(Metric.update(Metric.withAttributes(undecodableObjects, { informer }), 1))
  )
