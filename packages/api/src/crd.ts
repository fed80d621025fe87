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
const passThrough = new Set(["type", "description", "enum", "pattern", "minLength", "maxLength", "format"])
const maxSafe = Number.MAX_SAFE_INTEGER

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
                ...structuralOf(ImagePullSecretSpecSchema),
                // The schema's cross-field check, for the apiserver (the webhook and the controller check it too).
                "x-kubernetes-validations": [
                  { rule: "has(self.docker) != has(self.tcr)", message: "exactly one of spec.docker and spec.tcr must be set" }
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
