// Owns the chart's values: values.yaml's defaults (with which the chart renders exactly manifests/install.yaml) and
// values.schema.json, which helm lint, template, install and upgrade check before anything renders, naming the path
// that is wrong. The product form's ImagePullSecret spec is checked against the CRD's own schema.
import { imagePullSecretCrd } from "@tcr-assistant/api"
import { defaultWebhookNamespace } from "@tcr-assistant/controller/webhook-tls"
import { controllerResources, hostsUpdaterResources, image } from "./manifests.ts"

const [imageRepository, imageTag] = image.split(":") as [string, string]

/** values.yaml's defaults: with them the chart renders exactly manifests/install.yaml. */
export const chartValues = () => ({
  image: { repository: imageRepository, tag: imageTag, pullPolicy: "IfNotPresent" },
  namespace: defaultWebhookNamespace,
  imagePullSecrets: [],
  webhook: { url: "" },
  controller: { replicas: 2, resources: controllerResources },
  hostsUpdater: { resources: hostsUpdaterResources },
  monitoring: {
    metricsServices: { enabled: false },
    serviceMonitor: { enabled: false },
    prometheusRule: { enabled: false },
    dashboard: { enabled: false }
  },
  global: { imagePullSecretsCrs: [] },
  imagePullSecretCrs: []
})

const resourceList = {
  type: "object",
  additionalProperties: false,
  properties: { cpu: { type: ["string", "number"] }, memory: { type: "string" } }
}
const resources = {
  type: "object",
  additionalProperties: false,
  properties: { requests: resourceList, limits: resourceList }
}
const enabled = { type: "object", additionalProperties: false, required: ["enabled"], properties: { enabled: { type: "boolean" } } }
const objectName = { type: "string", minLength: 1, maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" }
const namespaceName = { type: "string", minLength: 1, maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" }

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * A structural schema as JSON Schema for values: the Kubernetes extensions dropped (CEL is the apiserver's), and
 * unknown keys rejected where the CRD would silently prune them, so a typo fails before anything is installed.
 */
const asValuesSchema = (schema: Json): Json => {
  if (Array.isArray(schema)) return schema.map(asValuesSchema)
  if (schema === null || typeof schema !== "object") return schema
  const object = schema as { readonly [key: string]: Json }
  const out: Record<string, Json> = {}
  for (const [key, value] of Object.entries(object)) {
    if (key.startsWith("x-kubernetes-")) continue
    out[key] = key === "properties"
      ? Object.fromEntries(Object.entries(value as Record<string, Json>).map(([name, child]) => [name, asValuesSchema(child)]))
      : key === "items" || key === "additionalProperties" ? asValuesSchema(value) : value
  }
  if (object["properties"] !== undefined && object["additionalProperties"] === undefined) out["additionalProperties"] = false
  return out
}

/** The product form's spec: the CRD's own spec schema, with its CEL rule (exactly one credential source) as oneOf. */
const imagePullSecretSpecValues = (): Json => {
  const crdSpec = imagePullSecretCrd().spec.versions[0]!.schema.openAPIV3Schema.properties.spec as Json
  return {
    ...(asValuesSchema(crdSpec) as Record<string, Json>),
    oneOf: [{ required: ["docker"] }, { required: ["tcr"] }, { required: ["secretRef"] }]
  }
}

/** values.schema.json: helm lint, template, install and upgrade reject bad values with the path that is wrong. */
export const chartValuesSchema = () => ({
  $schema: "https://json-schema.org/draft-07/schema#",
  type: "object",
  additionalProperties: false,
  properties: {
    image: {
      type: "object",
      additionalProperties: false,
      required: ["repository", "tag"],
      properties: {
        repository: { type: "string", minLength: 1 },
        tag: { type: "string", minLength: 1 },
        pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] }
      }
    },
    namespace: namespaceName,
    imagePullSecrets: {
      description: "Secrets the add-on's own pods pull its image with (the pod spec's imagePullSecrets).",
      type: "array",
      items: { type: "object", additionalProperties: false, required: ["name"], properties: { name: objectName } }
    },
    webhook: {
      type: "object",
      additionalProperties: false,
      properties: {
        url: {
          description: "Empty: the webhooks call the in-cluster Service. Else https://host:port of a controller serving them outside the cluster.",
          type: "string",
          pattern: "^(https://[^/\\s]+/?)?$"
        }
      }
    },
    controller: {
      type: "object",
      additionalProperties: false,
      properties: { replicas: { type: "integer", minimum: 1 }, resources }
    },
    hostsUpdater: { type: "object", additionalProperties: false, properties: { resources } },
    monitoring: {
      type: "object",
      additionalProperties: false,
      properties: { metricsServices: enabled, serviceMonitor: enabled, prometheusRule: enabled, dashboard: enabled }
    },
    global: {
      type: "object",
      properties: {
        imagePullSecretsCrs: {
          description: "The seeds' add-on values: one ImagePullSecret with docker credentials per entry.",
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["name"],
            properties: {
              name: objectName,
              namespaces: { type: "string" },
              serviceAccounts: { type: "string" },
              type: { enum: ["docker"], description: "Only docker credentials are written this way." },
              dockerServer: { type: "string", minLength: 1 },
              dockerUsername: { type: "string", minLength: 1 },
              dockerPassword: { type: "string", minLength: 1 },
              secretRef: {
                description: "Instead of dockerUsername/dockerPassword: an existing Secret holding them (spec.secretRef; dockerServer becomes its server).",
                type: "object",
                additionalProperties: false,
                required: ["name"],
                properties: { name: objectName, namespace: namespaceName }
              }
            },
            // Either the seeds' three docker fields, or a reference and no password in the values.
            if: { required: ["secretRef"] },
            then: { properties: { dockerUsername: false, dockerPassword: false } },
            else: { required: ["dockerServer", "dockerUsername", "dockerPassword"] }
          }
        }
      }
    },
    imagePullSecretCrs: {
      description: "ImagePullSecrets in the product's own form: a name and a spec, checked against the CRD's schema (docker, tcr or secretRef).",
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "spec"],
        properties: { name: objectName, spec: imagePullSecretSpecValues() }
      }
    }
  }
})

