// The ImagePullSecret API (tcr.tencentcloudcr.com/v1): spec and status as one effect/Schema, the source of truth for
// decoding, validation and the generated CRD.
import { Schema } from "effect"
import {
  describeRegistryServerProblem,
  isDns1123Label,
  isDns1123Subdomain,
  isRegistryServer,
  registryServerPattern
} from "./names.ts"
import { invalidSelectorNames } from "./selector.ts"

export const group = "tcr.tencentcloudcr.com"
export const version = "v1"
export const kind = "ImagePullSecret"
export const plural = "imagepullsecrets"
export const apiVersion = `${group}/${version}`

/** Secret names are `tcr.ips<crname>` and must stay valid DNS-1123 subdomains (at most 253 characters). */
export const secretNamePrefix = "tcr.ips"
export const maxImagePullSecretNameLength = 253 - secretNamePrefix.length
export const managedSecretName = (imagePullSecretName: string): string => `${secretNamePrefix}${imagePullSecretName}`

const selectorCheck = (what: string, isValidName: (name: string) => boolean, grammar: string) =>
  Schema.makeFilter<string>((raw) => {
    const invalid = invalidSelectorNames(raw, isValidName)
    return invalid.length === 0
      ? undefined
      : `${invalid.map((name) => JSON.stringify(name)).join(", ")} ${invalid.length === 1 ? "is not a valid" : "are not valid"} ${what} ${invalid.length === 1 ? "name" : "names"} (${grammar}); use "*" for all, or a comma-separated list of exact names`
  }, { expected: `"*" or a comma-separated list of ${what} names`, toJsonSchema: () => [{}, true] })

const nonEmpty = (field: string) =>
  Schema.makeFilter<string>((value) => value.length > 0 || `${field} must not be empty`, {
    expected: `a non-empty ${field}`,
    toJsonSchema: () => ({ minLength: 1 })
  })

export const DockerCredentialsSchema = Schema.Struct({
  server: Schema.String.annotate({
    description: "Registry host name with an optional port, without scheme or path, e.g. example.tencentcloudcr.com."
  }).check(
    Schema.makeFilter<string>(
      (server) => isRegistryServer(server) || `server ${describeRegistryServerProblem(server)}`,
      { expected: "a registry host[:port]", toJsonSchema: () => ({ pattern: registryServerPattern, maxLength: 253 }) }
    )
  ),
  username: Schema.String.annotate({
    description: "Registry user name. Make sure the user has pull permission on the repositories it should serve."
  }).check(nonEmpty("username")),
  password: Schema.String.annotate({
    description: "Registry password or token for the user name. Never logged or reported."
  }).check(nonEmpty("password"))
}).annotate({ description: "Credentials of the registry that the distributed pull Secret carries." })

/** Where the controller finds the Tencent Cloud API keys that may mint tokens for a TCR instance. */
export const CredentialsSecretRefSchema = Schema.Struct({
  name: Schema.String.annotate({
    description: "Name of a Secret with keys secretId and secretKey (and optionally sessionToken)."
  }).check(
    Schema.makeFilter<string>((name) => isDns1123Subdomain(name) || `"${name}" is not a valid Secret name`, {
      expected: "a Secret name",
      toJsonSchema: () => ({ minLength: 1, maxLength: 253 })
    })
  ),
  namespace: Schema.optionalKey(
    Schema.String.annotate({ description: "Namespace of the Secret; default tcr-assistant-system." }).check(
      Schema.makeFilter<string>((ns) => isDns1123Label(ns) || `"${ns}" is not a valid namespace name`, {
        expected: "a namespace name",
        toJsonSchema: () => ({ minLength: 1, maxLength: 63 })
      })
    )
  )
}).annotate({ description: "The Secret holding Tencent Cloud API keys allowed to call CreateInstanceToken." })

export const tcrRegionPattern = "^[a-z]{2,}(-[a-z0-9]+)+$"
export const tcrInstanceIdPattern = "^tcr-[a-z0-9]+$"

export const TcrSourceSchema = Schema.Struct({
  region: Schema.String.annotate({ description: "Region of the TCR Enterprise instance, e.g. ap-guangzhou." }).check(
    Schema.makeFilter<string>((region) => new RegExp(tcrRegionPattern).test(region) || `"${region}" is not a region such as ap-guangzhou`, {
      expected: "a Tencent Cloud region",
      toJsonSchema: () => ({ pattern: tcrRegionPattern })
    })
  ),
  instanceId: Schema.String.annotate({ description: "ID of the TCR Enterprise instance, e.g. tcr-abcd1234." }).check(
    Schema.makeFilter<string>((id) => new RegExp(tcrInstanceIdPattern).test(id) || `"${id}" is not a TCR instance ID such as tcr-abcd1234`, {
      expected: "a TCR instance ID",
      toJsonSchema: () => ({ pattern: tcrInstanceIdPattern })
    })
  ),
  server: Schema.optionalKey(
    Schema.String.annotate({
      description: "Registry domain the Secret is for; default the instance's public domain (<name>.tencentcloudcr.com)."
    }).check(
      Schema.makeFilter<string>((server) => isRegistryServer(server) || `server ${describeRegistryServerProblem(server)}`, {
        expected: "a registry host[:port]",
        toJsonSchema: () => ({ pattern: registryServerPattern, maxLength: 253 })
      })
    )
  ),
  credentialsSecretRef: CredentialsSecretRefSchema
}).annotate({
  description:
    "Obtain registry credentials from a TCR Enterprise instance instead of inline docker credentials: the controller mints temporary instance tokens with the referenced API keys, keeps them out of this object, and renews them before they expire."
})
export type TcrSource = typeof TcrSourceSchema.Type

/** The spec must name exactly one source of credentials; also checked apart from field errors (see validation.ts). */
export const credentialSourceProblem = (spec: { readonly docker?: unknown; readonly tcr?: unknown }) => {
  if ((spec.docker === undefined) !== (spec.tcr === undefined)) return undefined
  return spec.docker === undefined
    ? { field: "docker", message: "one of docker (inline credentials) and tcr (a TCR instance) is required" }
    : { field: "tcr", message: "docker and tcr are mutually exclusive: set exactly one" }
}

export const ImagePullSecretSpecSchema = Schema.Struct({
  namespaces: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "Namespaces that receive the pull Secret: \"*\" or empty for all namespaces, including ones created later; otherwise a comma-separated list of exact namespace names."
    }).check(selectorCheck("namespace", isDns1123Label, "DNS-1123 label"))
  ),
  serviceAccounts: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "ServiceAccounts, in each selected namespace, whose imagePullSecrets get the Secret: \"*\" or empty for all, including ones created later; otherwise a comma-separated list of exact names."
    }).check(selectorCheck("ServiceAccount", isDns1123Subdomain, "DNS-1123 subdomain"))
  ),
  docker: Schema.optionalKey(DockerCredentialsSchema),
  tcr: Schema.optionalKey(TcrSourceSchema)
}).annotate({
  description: "Which namespaces and ServiceAccounts receive which registry credentials: exactly one of docker and tcr."
}).check(
  Schema.makeFilter(
    (spec) => {
      const problem = credentialSourceProblem(spec)
      return problem === undefined || { path: [problem.field], issue: problem.message }
    },
    // Published in the CRD as a CEL rule instead (see crd.ts).
    { expected: "exactly one of docker and tcr", toJsonSchema: () => [{}, true] }
  )
)

export type ImagePullSecretSpec = typeof ImagePullSecretSpecSchema.Type

const TargetState = Schema.Literals(["Pending", "Applying", "Ready", "BackingOff", "Skipped", "Conflict", "Removing"])
export type TargetState = typeof TargetState.Type

export const TargetStatusSchema = Schema.Struct({
  kind: Schema.Literals(["Secret", "ServiceAccount"]).annotate({ description: "Kind of the target object." }),
  namespace: Schema.String.annotate({ description: "Namespace of the target." }),
  name: Schema.String.annotate({ description: "Name of the target object." }),
  state: TargetState.annotate({ description: "State of the target's reconciliation." }),
  reason: Schema.optionalKey(Schema.String.annotate({ description: "Machine-readable reason of the state." })),
  message: Schema.optionalKey(Schema.String.annotate({ description: "Human-readable detail." })),
  lastTransitionTime: Schema.optionalKey(Schema.String.annotate({ description: "When the state last changed (RFC 3339)." }))
})
export type TargetStatus = typeof TargetStatusSchema.Type

export const ConditionSchema = Schema.Struct({
  type: Schema.String.annotate({ description: "Type of the condition, e.g. Ready." }),
  status: Schema.Literals(["True", "False", "Unknown"]).annotate({ description: "Status of the condition." }),
  reason: Schema.String.annotate({ description: "CamelCase reason for the last transition." }),
  message: Schema.String.annotate({ description: "Human-readable detail." }),
  lastTransitionTime: Schema.String.annotate({ description: "When the status last changed (RFC 3339)." }),
  observedGeneration: Schema.optionalKey(
    Schema.Int.annotate({ description: "The .metadata.generation the condition was computed from." })
  )
})
export type Condition = typeof ConditionSchema.Type

const count = (description: string) => Schema.optionalKey(Schema.Int.annotate({ description }))

export const PodsMissingSecretSchema = Schema.Struct({
  count: Schema.Int.annotate({ description: "Number of Pods missing the pull Secret." }),
  pods: Schema.Array(
    Schema.Struct({
      namespace: Schema.String.annotate({ description: "Namespace of the Pod." }),
      name: Schema.String.annotate({ description: "Name of the Pod." })
    })
  ).annotate({ description: "The first Pods by namespace and name, up to a bounded number; each has a Warning Event with the fix." })
}).annotate({
  description:
    "Pods in selected namespaces, running as selected ServiceAccounts, whose spec.imagePullSecrets lacks the pull Secret (created before the add-on was installed or while its webhook was unreachable). A Pod's imagePullSecrets cannot change: recreate them."
})
export type PodsMissingSecret = typeof PodsMissingSecretSchema.Type

export const ImagePullSecretStatusSchema = Schema.Struct({
  observedGeneration: count("The .metadata.generation the status was computed from."),
  secretsDesired: count("Number of namespaces that should hold the pull Secret."),
  secretsSuccess: count("Number of namespaces whose pull Secret is up to date."),
  serviceAccountsDesired: count("Number of ServiceAccounts that should reference the pull Secret."),
  serviceAccountsSuccess: count("Number of ServiceAccounts that reference the pull Secret."),
  targetsByState: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.Int).annotate({ description: "Number of targets in each state." })
  ),
  targets: Schema.optionalKey(
    Schema.Array(TargetStatusSchema).annotate({
      description: "Targets that are not ready (failing first), up to a bounded number; see targetsOmitted."
    })
  ),
  targetsOmitted: count("Number of not-ready targets left out of .status.targets to keep the status small."),
  podsMissingSecret: Schema.optionalKey(PodsMissingSecretSchema),
  conditions: Schema.optionalKey(Schema.Array(ConditionSchema).annotate({ description: "Standard conditions; Ready summarizes." }))
}).annotate({ description: "Observed state of the distribution." })
export type ImagePullSecretStatus = typeof ImagePullSecretStatusSchema.Type

/** The metadata fields the controller reads; everything else passes through untouched. */
export const ObjectMetaSchema = Schema.Struct({
  name: Schema.String,
  uid: Schema.optionalKey(Schema.String),
  resourceVersion: Schema.optionalKey(Schema.String),
  generation: Schema.optionalKey(Schema.Number),
  deletionTimestamp: Schema.optionalKey(Schema.String),
  finalizers: Schema.optionalKey(Schema.Array(Schema.String))
})

export const ImagePullSecretSchema = Schema.Struct({
  apiVersion: Schema.Literal(apiVersion),
  kind: Schema.Literal(kind),
  metadata: ObjectMetaSchema,
  spec: ImagePullSecretSpecSchema,
  status: Schema.optionalKey(ImagePullSecretStatusSchema)
})
export type ImagePullSecret = typeof ImagePullSecretSchema.Type
