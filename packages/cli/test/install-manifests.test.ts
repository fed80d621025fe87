// What install applies: every rendered add-on object in an order the apiserver accepts, with updater-config set.
import { expect, test } from "vitest"
import type { Manifest } from "../src/addon-cluster.ts"
import { installObjects, isAdmissionObject, renderedAddonObjects, withWebhookUrl } from "../src/addon-manifests.ts"

test("install applies every rendered object plus its Namespace and updater-config, Namespace and CRD first", () => {
  const objects = installObjects("10.0.0.5 demo.tencentcloudcr.com\n")
  const names = objects.map((object) => `${object.kind}/${object.metadata.name}`)
  for (const rendered of renderedAddonObjects()) expect(names).toContain(`${rendered.kind}/${rendered.metadata.name}`)
  expect(names[0]).toBe("Namespace/tcr-assistant-system")
  expect(names.indexOf("CustomResourceDefinition/imagepullsecrets.tcr.tencentcloudcr.com")).toBe(1)
  const configs = objects.filter((object) => object.kind === "ConfigMap" && object.metadata.name === "updater-config")
  expect(configs).toHaveLength(1)
  expect(configs[0]!.metadata.namespace).toBe("tcr-assistant-system")
  expect(configs[0]!["data"]).toMatchObject({ hosts: "10.0.0.5 demo.tencentcloudcr.com\n" })
  const admission = objects.findIndex(isAdmissionObject)
  if (admission >= 0) expect(objects.slice(admission).every(isAdmissionObject)).toBe(true)
})

test("--webhook-url replaces the Service reference of every webhook and keeps the rest", () => {
  const webhook: Manifest = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: "tcr-assistant-validating-webhook-configuration" },
    webhooks: [{
      name: "vimagepullsecret.tcr.tencentcloudcr.com",
      clientConfig: { service: { name: "tcr-assistant-webhook-service", namespace: "tcr-assistant-system", path: "/validate" } },
      failurePolicy: "Fail"
    }]
  }
  const mutating: Manifest = {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: "tcr-assistant-mutating-webhook-configuration" },
    webhooks: [{
      name: "mpod.tcr.tencentcloudcr.com",
      clientConfig: { service: { name: "tcr-assistant-webhook-service", namespace: "tcr-assistant-system", path: "/mutate-pods" } }
    }]
  }
  const namespace: Manifest = { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }
  const [unchanged, changed, changedMutating] = withWebhookUrl([namespace, webhook, mutating], "https://127.0.0.1:9443/validate")
  expect(unchanged).toBe(namespace)
  expect(changed!["webhooks"]).toEqual([{
    name: "vimagepullsecret.tcr.tencentcloudcr.com",
    clientConfig: { url: "https://127.0.0.1:9443/validate" },
    failurePolicy: "Fail"
  }])
  // Each webhook keeps its own path on the given server.
  expect(changedMutating!["webhooks"]).toEqual([{
    name: "mpod.tcr.tencentcloudcr.com",
    clientConfig: { url: "https://127.0.0.1:9443/mutate-pods" }
  }])
})
