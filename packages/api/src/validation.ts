// Pure validation of an ImagePullSecret: every violation at once, each with its field path. Shared by the
// validating webhook, the CLI and the controller (which refuses to distribute an invalid spec).
import { Schema } from "effect"
import {
  credentialSourceProblem,
  ImagePullSecretSpecSchema,
  maxImagePullSecretNameLength,
  type ImagePullSecretSpec
} from "./image-pull-secret.ts"
import { truncatedMessage } from "./quoted.ts"

export interface Violation {
  /** Dotted field path from the object root, e.g. `spec.docker.server`. */
  readonly path: string
  readonly message: string
}

const standardSpec = Schema.toStandardSchemaV1(ImagePullSecretSpecSchema, { parseOptions: { errors: "all" } })

const formatPath = (prefix: string, path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined) =>
  [prefix, ...(path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment))].join(".")

export type SpecValidation =
  | { readonly _tag: "Valid"; readonly spec: ImagePullSecretSpec }
  | { readonly _tag: "Invalid"; readonly violations: ReadonlyArray<Violation> }

/** Validate a spec as found in an object (`unknown`: it may come from anywhere). */
export const validateSpec = (spec: unknown): SpecValidation => {
  if (spec === undefined || spec === null) {
    return { _tag: "Invalid", violations: [{ path: "spec", message: "spec is required" }] }
  }
  const result = standardSpec["~standard"].validate(spec)
  if (result instanceof Promise) throw new Error("ImagePullSecret spec validation must be synchronous")
  if (result.issues === undefined) return { _tag: "Valid", spec: result.value }
  const violations = result.issues.map((issue) => ({ path: formatPath("spec", issue.path), message: issue.message }))
  // A struct's own check runs only once its fields decode; report the cross-field rule with the field errors.
  const source = typeof spec === "object" ? credentialSourceProblem(spec as Record<string, unknown>) : undefined
  if (source !== undefined && !violations.some((v) => v.path === `spec.${source.field}` && v.message === source.message)) {
    violations.push({ path: `spec.${source.field}`, message: source.message })
  }
  return { _tag: "Invalid", violations }
}

export type ImagePullSecretValidation =
  | { readonly _tag: "Valid"; readonly spec: ImagePullSecretSpec }
  | { readonly _tag: "Invalid"; readonly violations: ReadonlyArray<Violation> }

/**
 * Validate a whole ImagePullSecret object: its name (it becomes part of Secret names) and its spec. A valid object
 * gives its decoded spec, for the caller to carry on rather than cast the raw one.
 */
export const checkImagePullSecret = (object: unknown): ImagePullSecretValidation => {
  const record = typeof object === "object" && object !== null ? (object as Record<string, unknown>) : {}
  const metadata = typeof record.metadata === "object" && record.metadata !== null
    ? (record.metadata as Record<string, unknown>)
    : {}
  const violations: Array<Violation> = []
  const name = metadata.name
  if (typeof name === "string" && name.length > maxImagePullSecretNameLength) {
    violations.push({
      path: "metadata.name",
      message: `must be at most ${maxImagePullSecretNameLength} characters, so that the Secret name "tcr.ips<name>" stays a valid name`
    })
  }
  const spec = validateSpec(record.spec)
  if (spec._tag === "Invalid") violations.push(...spec.violations)
  return spec._tag === "Valid" && violations.length === 0 ? spec : { _tag: "Invalid", violations }
}

/** The violations of a whole ImagePullSecret object (see `checkImagePullSecret`): none when it is valid. */
export const validateImagePullSecret = (object: unknown): ReadonlyArray<Violation> => {
  const validation = checkImagePullSecret(object)
  return validation._tag === "Valid" ? [] : validation.violations
}

/** A denial lists this many violations at most, each cut to maxViolationMessageLength: whatever the input, it stays short. */
export const maxReportedViolations = 20
export const maxViolationMessageLength = 512

/** One line per violation, as shown by kubectl when the webhook denies. */
export const formatViolations = (violations: ReadonlyArray<Violation>): string => {
  const shown = violations.slice(0, maxReportedViolations)
    .map((violation) => truncatedMessage(`${violation.path}: ${violation.message}`, maxViolationMessageLength))
  const more = violations.length - shown.length
  return [...shown, ...(more > 0 ? [`and ${more} more`] : [])].join("; ")
}
