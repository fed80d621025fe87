// The CustomResourceDefinition of ImagePullSecret, generated from the effect/Schema: Effect emits JSON Schema draft
// 2020-12, and Kubernetes wants a structural OpenAPI v3 schema, so a small converter bridges the two.
import { Schema } from "effect"
import {
  apiVersion as imagePullSecretApiVersion,
  group,
  ImagePullSecretSpecSchema,
  ImagePullSecretStatusSchema,
  kind,
  plural,
  version
} from "./image-pull-secret.ts"

type JsonObject = { readonly [key: string]: unknown }

/** Keywords a structural schema may carry that we pass through unchanged. */
const passThrough = new Set([
  "type",
  "description",
  "enum",
  "pattern",
  "minLength",
  "maxLength",
  "format",
  "maxItems",
  "maxProperties",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys"
])
const maxSafe = Number.MAX_SAFE_INTEGER

const isKubernetesExtension = (schema: JsonObject) => Object.keys(schema).every((key) => key.startsWith("x-kubernetes-"))

/**
 * Convert one JSON Schema (draft 2020-12, as Effect generates it) into a structural schema. Constructs that have no
 * structural equivalent fail loudly, so a schema change cannot silently produce a CRD that accepts less or more.
 */
export const toStructuralSchema = (schema: JsonObject, path = "$"): JsonObject => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (passThrough.has(key)) {
      out[key] = value
    } else if (key === "minimum" || key === "maximum") {
      // Effect bounds integers to the safe range; Kubernetes integers are int64, so those bounds only add noise.
      if (Math.abs(value as number) !== maxSafe) out[key] = value
    } else if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as JsonObject).map(([name, child]) => [
          name,
          toStructuralSchema(child as JsonObject, `${path}.${name}`)
        ])
      )
    } else if (key === "required") {
      if ((value as ReadonlyArray<string>).length > 0) out.required = value
    } else if (key === "items") {
      out.items = toStructuralSchema(value as JsonObject, `${path}[]`)
    } else if (key === "additionalProperties") {
      // With `properties`, unknown fields are pruned by the apiserver (structural schemas forbid both together).
      if (typeof value === "object" && value !== null) {
        out.additionalProperties = toStructuralSchema(value as JsonObject, `${path}.*`)
      } else if (schema.properties === undefined && value === true) {
        out["x-kubernetes-preserve-unknown-fields"] = true
      }
    } else if (key === "allOf" && (value as ReadonlyArray<JsonObject>).every(isKubernetesExtension)) {
      // Effect files keywords it does not know (x-kubernetes-list-type, ...) under allOf: they belong on the node.
      for (const extension of value as ReadonlyArray<JsonObject>) Object.assign(out, extension)
    } else {
      throw new Error(`cannot express JSON Schema keyword "${key}" at ${path} in a structural CRD schema`)
    }
  }
  if (out.type === undefined) throw new Error(`structural schemas need a type at ${path}`)
  return out
}

const structuralOf = (schema: Schema.Top): JsonObject => {
  const document = Schema.toJsonSchemaDocument(schema)
  if (Object.keys(document.definitions).length > 0) {
    throw new Error("the ImagePullSecret schema must not use references: structural CRD schemas cannot express them")
  }
  return toStructuralSchema(document.schema as JsonObject)
}

export const crdName = `${plural}.${group}`

/** The label selector rule a structural schema cannot say, as CEL on each matchExpressions item (bounded, cheap). */
export const requirementValuesRule = {
  rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
  message: "values must be non-empty for the operators In and NotIn, and empty for Exists and DoesNotExist"
}

/** The spec's structural schema with the CEL rules of its nested parts. */
const specSchema = (): JsonObject => {
  const spec = structuralOf(ImagePullSecretSpecSchema) as any
  const items = spec.properties?.namespaceSelector?.properties?.matchExpressions?.items
  if (items === undefined) throw new Error("spec.namespaceSelector.matchExpressions is missing from the schema")
  items["x-kubernetes-validations"] = [requirementValuesRule]
  return spec
}

/** The CRD object, ready to be serialized into manifests or applied. */
export const imagePullSecretCrd = () => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: crdName,
    labels: { "app.kubernetes.io/name": "tcr-assistant", "app.kubernetes.io/component": "crd" }
  },
  spec: {
    group,
    scope: "Cluster",
    names: { kind, listKind: `${kind}List`, plural, singular: "imagepullsecret", shortNames: ["ips", "ipss"] },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: "NAMESPACES", type: "string", jsonPath: ".spec.namespaces", description: "Namespace selector" },
          { name: "SERVICE-ACCOUNTS", type: "string", jsonPath: ".spec.serviceAccounts", description: "ServiceAccount selector" },
          // Shown by `kubectl get -o wide` only: the default columns stay as narrow as the seed's.
          { name: "NAMESPACE-SELECTOR", type: "string", jsonPath: ".spec.namespaceSelector", priority: 1, description: "Namespace label selector" },
          { name: "EXCLUDED-NAMESPACES", type: "string", jsonPath: ".spec.excludedNamespaces", priority: 1, description: "Namespaces never selected" },
          { name: "SECRETS-DESIRED", type: "integer", jsonPath: ".status.secretsDesired", description: "Namespaces that should hold the Secret" },
          { name: "SECRETS-SUCCESS", type: "integer", jsonPath: ".status.secretsSuccess", description: "Namespaces whose Secret is up to date" },
          { name: "READY", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
          // Shown with -o wide only: the default table stays narrow.
          { name: "PODS-MISSING-SECRET", type: "integer", jsonPath: ".status.podsMissingSecret.count", priority: 1, description: "Pods admitted without the Secret; recreate them" },
          { name: "AGE", type: "date", jsonPath: ".metadata.creationTimestamp" }
        ],
        schema: {
          openAPIV3Schema: {
            type: "object",
            description:
              "ImagePullSecret distributes registry pull credentials as a Secret to the selected namespaces and adds it to the imagePullSecrets of the selected ServiceAccounts.",
            required: ["spec"],
            properties: {
              apiVersion: { type: "string", description: `APIVersion, ${imagePullSecretApiVersion}.` },
              kind: { type: "string", description: `Kind, ${kind}.` },
              metadata: { type: "object" },
              spec: {
                ...specSchema(),
                // The schema's cross-field check, for the apiserver (the webhook and the controller check it too).
                "x-kubernetes-validations": [
                  {
                    rule: "(has(self.docker) ? 1 : 0) + (has(self.tcr) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) == 1",
                    message: "exactly one of spec.docker, spec.tcr and spec.secretRef must be set"
                  }
                ]
              },
              status: structuralOf(ImagePullSecretStatusSchema)
            }
          }
        }
      }
    ]
  }
})
