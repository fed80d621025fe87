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
import { invalidSelectorNames, isValidGlob } from "./selector.ts"
import { isLabelKey, isLabelValue, labelSelectorOperators, maxLabelKeyLength, maxLabelValueLength, requirementValuesProblem } from "./label-selector.ts"
import { quoted } from "./quoted.ts"

export const group = "tcr.tencentcloudcr.com"
export const version = "v1"
export const kind = "ImagePullSecret"
export const plural = "imagepullsecrets"
export const apiVersion = `${group}/${version}`

/** Secret names are `tcr.ips<crname>` and must stay valid DNS-1123 subdomains (at most 253 characters). */
export const secretNamePrefix = "tcr.ips"
export const maxImagePullSecretNameLength = 253 - secretNamePrefix.length
export const managedSecretName = (imagePullSecretName: string): string => `${secretNamePrefix}${imagePullSecretName}`

/**
 * The most characters each string field may hold: far above any real value, far below what would make the Secret
 * (which holds the password twice, base64-encoded) or the object exceed the apiserver's limits. Enforced by the
 * schema, so by the CRD, the webhook and the controller alike. Servers and names keep their DNS bounds (names.ts).
 */
export const fieldBounds = {
  username: 4096,
  password: 8192,
  region: 64,
  instanceId: 64,
  namespaces: 32768,
  serviceAccounts: 32768,
  excludedNames: 128,
  labelSelectorTerms: 64,
  labelSelectorValues: 64
} as const

const atMost = (max: number) => Schema.isMaxLength(max, { message: `must be at most ${max} characters` })
const atMostItems = (max: number) => Schema.isMaxLength(max, { message: `must have at most ${max} items` })

/** Lists are reported by their first few invalid names: the message stays short whatever was written. */
const listedProblems = (names: ReadonlyArray<string>) =>
  `${names.slice(0, 5).map(quoted).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""}`

const selectorCheck = (what: string, isValidName: (name: string) => boolean, grammar: string, max: number) =>
  Schema.makeFilter<string>((raw) => {
    if (raw.length > max) return undefined // the length check says so, without listing a huge value's names
    const invalid = invalidSelectorNames(raw, isValidName)
    return invalid.length === 0
      ? undefined
      : `${listedProblems(invalid)} ${invalid.length === 1 ? "is not a valid" : "are not valid"} ${what} ${invalid.length === 1 ? "name" : "names"} (${grammar}); use "*" for all, or a comma-separated list of names and globs such as team-*`
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
  }).check(nonEmpty("username"), atMost(fieldBounds.username)),
  password: Schema.String.annotate({
    description: "Registry password or token for the user name. Never logged or reported."
  }).check(nonEmpty("password"), atMost(fieldBounds.password))
}).annotate({ description: "Credentials of the registry that the distributed pull Secret carries." })

/** Where the controller finds the Tencent Cloud API keys that may mint tokens for a TCR instance. */
export const CredentialsSecretRefSchema = Schema.Struct({
  name: Schema.String.annotate({
    description: "Name of a Secret with keys secretId and secretKey (and optionally sessionToken)."
  }).check(
    Schema.makeFilter<string>((name) => isDns1123Subdomain(name) || `${quoted(name)} is not a valid Secret name`, {
      expected: "a Secret name",
      toJsonSchema: () => ({ minLength: 1, maxLength: 253 })
    })
  ),
  namespace: Schema.optionalKey(
    Schema.String.annotate({ description: "Namespace of the Secret; default tcr-assistant-system." }).check(
      Schema.makeFilter<string>((ns) => isDns1123Label(ns) || `${quoted(ns)} is not a valid namespace name`, {
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
    Schema.makeFilter<string>((region) => region.length > fieldBounds.region || new RegExp(tcrRegionPattern).test(region) || `${quoted(region)} is not a region such as ap-guangzhou`, {
      expected: "a Tencent Cloud region",
      toJsonSchema: () => ({ pattern: tcrRegionPattern })
    }),
    atMost(fieldBounds.region)
  ),
  instanceId: Schema.String.annotate({ description: "ID of the TCR Enterprise instance, e.g. tcr-abcd1234." }).check(
    Schema.makeFilter<string>((id) => id.length > fieldBounds.instanceId || new RegExp(tcrInstanceIdPattern).test(id) || `${quoted(id)} is not a TCR instance ID such as tcr-abcd1234`, {
      expected: "a TCR instance ID",
      toJsonSchema: () => ({ pattern: tcrInstanceIdPattern })
    }),
    atMost(fieldBounds.instanceId)
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

// Credentials by reference (spec.secretRef): a Secret that a vault or external-secrets operator keeps current.
export const SourceSecretRefSchema = Schema.Struct({
  name: Schema.String.annotate({
    description:
      "Name of a Secret of type kubernetes.io/dockerconfigjson, or with the keys username and password (and optionally server)."
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
  ),
  server: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "Registry host[:port] to take from the Secret: the auths entry of a dockerconfigjson Secret (default its only entry), or the server of a username/password Secret (default its server key)."
    }).check(
      Schema.makeFilter<string>((server) => isRegistryServer(server) || `server ${describeRegistryServerProblem(server)}`, {
        expected: "a registry host[:port]",
        toJsonSchema: () => ({ pattern: registryServerPattern, maxLength: 253 })
      })
    )
  )
}).annotate({
  description:
    "Read the registry credentials from a Secret instead of this object: watched, so that changing the Secret rewrites every distributed copy in place."
})
export type SourceSecretRef = typeof SourceSecretRefSchema.Type

const credentialSourceFields = ["docker", "tcr", "secretRef"] as const

/** The spec must name exactly one source of credentials; also checked apart from field errors (see validation.ts). */
export const credentialSourceProblem = (
  spec: { readonly docker?: unknown; readonly tcr?: unknown; readonly secretRef?: unknown }
) => {
  const set = credentialSourceFields.filter((field) => spec[field] !== undefined)
  if (set.length === 1) return undefined
  return set.length === 0
    ? {
      field: "docker",
      message: "one of docker (inline credentials), tcr (a TCR instance) and secretRef (a Secret with the credentials) is required"
    }
    : { field: set[1]!, message: `${set.join(" and ")} are mutually exclusive: set exactly one of docker, tcr and secretRef` }
}

// Selection: a label selector on namespaces and exclusion lists (see selection.ts for how they combine).

const labelKeyCheck = Schema.makeFilter<string>(
  (key) => key.length > maxLabelKeyLength || isLabelKey(key) || `${quoted(key)} is not a valid label key (an optional DNS-1123 subdomain prefix and "/", then at most 63 characters: alphanumerics, "-", "_", ".")`,
  { expected: "a label key", toJsonSchema: () => [{}, true] }
)
const labelValueCheck = Schema.makeFilter<string>(
  (value) => value.length > maxLabelValueLength || isLabelValue(value) || `${quoted(value)} is not a valid label value (at most 63 characters: alphanumerics, "-", "_", ".", starting and ending with an alphanumeric)`,
  { expected: "a label value", toJsonSchema: () => [{}, true] }
)

const LabelSelectorRequirementSchema = Schema.Struct({
  key: Schema.String.annotate({ description: "The label key the requirement applies to." })
    .check(labelKeyCheck, atMost(maxLabelKeyLength)),
  operator: Schema.Literals(labelSelectorOperators).annotate({ description: "In, NotIn, Exists or DoesNotExist." }),
  values: Schema.optionalKey(
    Schema.Array(Schema.String.check(labelValueCheck, atMost(maxLabelValueLength))).annotate({
      description: "Label values: at least one for In and NotIn, none for Exists and DoesNotExist."
    }).check(atMostItems(fieldBounds.labelSelectorValues))
  )
}).annotate({ description: "A label selector requirement: a key, an operator and values." }).check(
  Schema.makeFilter(
    (requirement) => {
      const problem = requirementValuesProblem(requirement)
      return problem === undefined || { path: ["values"], issue: problem }
    },
    { expected: "values that fit the operator", toJsonSchema: () => [{}, true] }
  )
)

export const NamespaceSelectorSchema = Schema.Struct({
  matchLabels: Schema.optionalKey(
    Schema.Record(Schema.String, Schema.String.check(labelValueCheck, atMost(maxLabelValueLength))).annotate({
      description: "Labels a namespace must carry, each with exactly this value."
    }).check(
      Schema.isMaxProperties(fieldBounds.labelSelectorTerms, { message: `must have at most ${fieldBounds.labelSelectorTerms} labels` }),
      Schema.makeFilter<Readonly<Record<string, string>>>((labels) => {
        const invalid = Object.keys(labels).filter((key) => !isLabelKey(key))
        return invalid.length === 0 || `${listedProblems(invalid)} ${invalid.length === 1 ? "is not a valid label key" : "are not valid label keys"}`
      }, { expected: "label keys", toJsonSchema: () => [{}, true] })
    )
  ),
  matchExpressions: Schema.optionalKey(
    Schema.Array(LabelSelectorRequirementSchema).annotate({ description: "Requirements a namespace's labels must all meet." })
      .check(atMostItems(fieldBounds.labelSelectorTerms))
  )
}).annotate({
  description:
    "Only namespaces whose labels match (metav1.LabelSelector: matchLabels and matchExpressions, all ANDed) receive the pull Secret; ANDed with namespaces. Unset: no label condition."
})

const excludedNamesSchema = (what: string, isValidName: (name: string) => boolean, grammar: string, description: string) =>
  Schema.Array(
    Schema.String.check(
      Schema.makeFilter<string>((name) => {
        if (name.length > 253) return undefined
        return (name.includes("*") ? isValidGlob(name, isValidName) : isValidName(name)) ||
          `${quoted(name)} is not a valid ${what} name or glob (${grammar}, * for any run of characters)`
      }, { expected: `a ${what} name or glob`, toJsonSchema: () => ({ minLength: 1 }) }),
      atMost(253)
    )
  ).annotate({ description }).check(atMostItems(fieldBounds.excludedNames))

export const ImagePullSecretSpecSchema = Schema.Struct({
  namespaces: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "Namespaces that receive the pull Secret: \"*\" or empty for all namespaces, including ones created later; otherwise a comma-separated list of namespace names, where a name with * is a glob (team-*). Narrowed by namespaceSelector, excludedNamespaces and the tcr.tencentcloudcr.com/ignore label."
    }).check(selectorCheck("namespace", isDns1123Label, "DNS-1123 label", fieldBounds.namespaces), atMost(fieldBounds.namespaces))
  ),
  serviceAccounts: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "ServiceAccounts, in each selected namespace, whose imagePullSecrets get the Secret: \"*\" or empty for all, including ones created later; otherwise a comma-separated list of names, where a name with * is a glob (ci-*). Narrowed by excludedServiceAccounts and the tcr.tencentcloudcr.com/ignore label."
    }).check(selectorCheck("ServiceAccount", isDns1123Subdomain, "DNS-1123 subdomain", fieldBounds.serviceAccounts), atMost(fieldBounds.serviceAccounts))
  ),
  // Selection beyond the seed's name lists (all optional; unset selects as the seed did).
  namespaceSelector: Schema.optionalKey(NamespaceSelectorSchema),
  excludedNamespaces: Schema.optionalKey(excludedNamesSchema("namespace", isDns1123Label, "DNS-1123 label",
    "Namespaces that never receive the pull Secret, even when namespaces and namespaceSelector select them: names or globs such as kube-*.")),
  excludedServiceAccounts: Schema.optionalKey(excludedNamesSchema("ServiceAccount", isDns1123Subdomain, "DNS-1123 subdomain",
    "ServiceAccounts whose imagePullSecrets are never changed, even when serviceAccounts selects them: names or globs such as build-*.")),
  docker: Schema.optionalKey(DockerCredentialsSchema),
  tcr: Schema.optionalKey(TcrSourceSchema),
  // Credentials by reference.
  secretRef: Schema.optionalKey(SourceSecretRefSchema)
}).annotate({
  description:
    "Which namespaces and ServiceAccounts receive which registry credentials: exactly one of docker, tcr and secretRef."
}).check(
  Schema.makeFilter(
    (spec) => {
      const problem = credentialSourceProblem(spec)
      return problem === undefined || { path: [problem.field], issue: problem.message }
    },
    // Published in the CRD as a CEL rule instead (see crd.ts).
    { expected: "exactly one of docker, tcr and secretRef", toJsonSchema: () => [{}, true] }
  )
)

export type ImagePullSecretSpec = typeof ImagePullSecretSpecSchema.Type

const TargetState = Schema.Literals(["Pending", "Applying", "Ready", "BackingOff", "Failed", "Skipped", "Conflict", "Removing"])
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

/** A JSON Schema keyword set for the CRD, on a value the decoder checks no further. */
const crdKeywords = <T>(expected: string, keywords: Record<string, unknown>) =>
  Schema.makeFilter<T>(() => undefined, { expected, toJsonSchema: () => keywords })

// metav1.Condition, as Kubernetes API conventions spell it (its validation markers, in the CRD).
const conditionTypePattern = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
const conditionReasonPattern = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

export const ConditionSchema = Schema.Struct({
  type: Schema.String.annotate({ description: "Type of the condition: Ready, Progressing, Degraded, Reconciling, Stalled." }).check(
    crdKeywords("a condition type", { pattern: conditionTypePattern, maxLength: 316 })
  ),
  status: Schema.Literals(["True", "False", "Unknown"]).annotate({ description: "Status of the condition." }),
  reason: Schema.String.annotate({ description: "CamelCase reason for the last transition." }).check(
    crdKeywords("a CamelCase reason", { pattern: conditionReasonPattern, minLength: 1, maxLength: 1024 })
  ),
  message: Schema.String.annotate({ description: "Human-readable detail." }).check(crdKeywords("a message", { maxLength: 32768 })),
  lastTransitionTime: Schema.String.annotate({ description: "When the status last changed (RFC 3339)." }).check(
    crdKeywords("an RFC 3339 time", { format: "date-time" })
  ),
  observedGeneration: Schema.optionalKey(
    Schema.Int.annotate({ description: "The .metadata.generation the condition was computed from." }).check(
      crdKeywords("a generation", { minimum: 0 })
    )
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
  // The seeds' names (README "Differences from the seeds"), kept equal to serviceAccountsDesired/-Success.
  SAsDesired: count("Seed name of serviceAccountsDesired, kept equal to it."),
  SAsSuccess: count("Seed name of serviceAccountsSuccess, kept equal to it."),
  podsMissingSecret: Schema.optionalKey(PodsMissingSecretSchema),
  tokenExpiresAt: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "When the registry token being distributed expires (RFC 3339): a token minted for spec.tcr, or the token-expires-at annotation of the spec.secretRef Secret (install sets it). Absent when unknown."
    }).check(crdKeywords("an RFC 3339 time", { format: "date-time" }))
  ),
  conditions: Schema.optionalKey(
    Schema.Array(ConditionSchema).annotate({ description: "Standard conditions, one per type; Ready summarizes." }).check(
      crdKeywords("conditions keyed by type", { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
    )
  )
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
