// The chart through the kit-built helm: `helm lint` passes, `helm template` with default values renders exactly
// manifests/install.yaml's objects (field by field, Helm's own labels aside) plus the hook objects only Helm runs,
// the monitoring switches render manifests/monitoring/'s objects, seed-style and product-form values (credentials
// or a secretRef) render the expected ImagePullSecrets and the pre-delete Job naming them, and values.schema.json
// rejects bad values with the path that is wrong.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runHelm } from "@tcr-assistant/testkit/helm"
import { afterAll, expect, test } from "vitest"
import { parseAllDocuments, stringify } from "yaml"
import { rulesFor } from "@tcr-assistant/kube/rbac"
import { helmHookPermissions } from "../src/helm-hook.ts"

const repo = join(import.meta.dirname, "..", "..", "..")
const chart = join(repo, "charts", "tcr-assistant")
const scratch = mkdtempSync(join(tmpdir(), "tcr-chart-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

type Obj = Record<string, any>

const objectsOf = (text: string): Array<Obj> =>
  parseAllDocuments(text).map((document) => document.toJS()).filter((value) => value !== null)

const helmLabels = ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"]

/** An object without the labels Helm charts conventionally add, so chart and manifests compare field by field. */
const withoutHelmLabels = (object: Obj): Obj => {
  const copy = structuredClone(object)
  for (const label of helmLabels) delete copy.metadata?.labels?.[label]
  return copy
}

const keyOf = (object: Obj) => `${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name}`

const byKey = (objects: ReadonlyArray<Obj>) => new Map(objects.map((object) => [keyOf(object), withoutHelmLabels(object)]))

const valuesFile = (name: string, values: unknown) => {
  const path = join(scratch, name)
  writeFileSync(path, stringify(values))
  return path
}

const isHook = (object: Obj) => object.metadata?.annotations?.["helm.sh/hook"] !== undefined

/** The objects of the release (hooks left out: they are no manifest's, and Helm deletes them after they ran). */
const template = async (...args: ReadonlyArray<string>) => (await templateAll(...args)).filter((object) => !isHook(object))

const templateAll = async (...args: ReadonlyArray<string>) => {
  const result = await runHelm(["template", "tcr-assistant", chart, "--namespace", "tcr-assistant-system", ...args])
  expect(result.status, result.stderr).toBe(0)
  return objectsOf(result.stdout)
}

const expectSameObjects = (rendered: ReadonlyArray<Obj>, expected: ReadonlyArray<Obj>) => {
  const chartObjects = byKey(rendered)
  const manifestObjects = byKey(expected)
  expect([...chartObjects.keys()].sort()).toEqual([...manifestObjects.keys()].sort())
  for (const [key, object] of manifestObjects) expect(chartObjects.get(key), key).toEqual(object)
}

test("helm lint passes on the chart, with default and with every optional value set", async () => {
  const plain = await runHelm(["lint", "--strict", chart])
  expect(plain.status, plain.stdout + plain.stderr).toBe(0)
  const everything = valuesFile("everything.yaml", {
    imagePullSecrets: [{ name: "addon-pull" }],
    monitoring: { metricsServices: { enabled: true }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } },
    global: { imagePullSecretsCrs: [{ name: "seed", namespaces: "*", serviceAccounts: "*", type: "docker", dockerServer: "a.tencentcloudcr.com", dockerUsername: "u", dockerPassword: "p" }] }
  })
  const full = await runHelm(["lint", "--strict", chart, "--values", everything])
  expect(full.status, full.stdout + full.stderr).toBe(0)
})

test("helm template with default values renders manifests/install.yaml's objects, field by field", async () => {
  const installYaml = objectsOf(readFileSync(join(repo, "manifests", "install.yaml"), "utf8"))
  expect(installYaml.length).toBeGreaterThan(15)
  expectSameObjects(await template("--include-crds"), installYaml)
})

test("the monitoring switches add manifests/monitoring/'s objects and nothing else", async () => {
  const monitoringFiles = ["metrics-services.yaml", "service-monitor.yaml", "prometheus-rule.yaml", "grafana-dashboard.yaml"]
  const monitoring = monitoringFiles.flatMap((file) => objectsOf(readFileSync(join(repo, "manifests", "monitoring", file), "utf8")))
  const installYaml = objectsOf(readFileSync(join(repo, "manifests", "install.yaml"), "utf8"))
  const rendered = await template(
    "--include-crds",
    "--set", "monitoring.metricsServices.enabled=true",
    "--set", "monitoring.serviceMonitor.enabled=true",
    "--set", "monitoring.prometheusRule.enabled=true",
    "--set", "monitoring.dashboard.enabled=true"
  )
  expectSameObjects(rendered, [...installYaml, ...monitoring])
  const onlyRules = await template("--set", "monitoring.prometheusRule.enabled=true")
  expect(onlyRules.filter((object) => object.kind === "PrometheusRule")).toHaveLength(1)
  expect(onlyRules.filter((object) => object.kind === "ServiceMonitor")).toHaveLength(0)
})

test("image, namespace, replicas, resources and the add-on's own imagePullSecrets are values", async () => {
  const rendered = await template(
    "--set", "image.repository=registry.example/tcr-assistant", "--set", "image.tag=9.9.9",
    "--set", "namespace=tcr-addon", "--set", "controller.replicas=3",
    "--set", "controller.resources.limits.memory=600Mi", "--set", "imagePullSecrets[0].name=addon-pull"
  )
  const deployment = rendered.find((object) => object.kind === "Deployment")!
  const daemonSet = rendered.find((object) => object.kind === "DaemonSet")!
  expect(deployment.spec.replicas).toBe(3)
  expect(deployment.metadata.namespace).toBe("tcr-addon")
  for (const workload of [deployment, daemonSet]) {
    expect(workload.spec.template.spec.containers[0].image).toBe("registry.example/tcr-assistant:9.9.9")
    expect(workload.spec.template.spec.imagePullSecrets).toEqual([{ name: "addon-pull" }])
  }
  expect(deployment.spec.template.spec.containers[0].resources.limits.memory).toBe("600Mi")
  const namespaced = rendered.filter((object) => object.metadata.namespace !== undefined)
  expect(namespaced.length).toBeGreaterThan(8)
  expect(namespaced.every((object) => object.metadata.namespace === "tcr-addon")).toBe(true)
  expect(rendered.find((object) => object.kind === "Namespace")!.metadata.name).toBe("tcr-addon")
  const mutating = rendered.find((object) => object.kind === "MutatingWebhookConfiguration")!
  expect(mutating.webhooks[0].clientConfig.service.namespace).toBe("tcr-addon")
  expect(mutating.webhooks[0].namespaceSelector.matchExpressions[0].values).toEqual(["tcr-addon"])
})

test("the seeds' global.imagePullSecretsCrs[] and the product's imagePullSecretCrs[] render ImagePullSecrets", async () => {
  const values = valuesFile("seed.yaml", {
    global: {
      imagePullSecretsCrs: [
        { name: "tcr-default", namespaces: "*", serviceAccounts: "*", type: "docker", dockerServer: "demo.tencentcloudcr.com",
          dockerUsername: "100012345678", dockerPassword: "tcr.jwt.token" },
        { name: "two-namespaces", namespaces: "team-a,team-b", serviceAccounts: "default", type: "docker",
          dockerServer: "other.tencentcloudcr.com", dockerUsername: "100012345679", dockerPassword: "p@ss: {{ not a template }}" },
        { name: "seed-by-reference", namespaces: "team-c", type: "docker", dockerServer: "demo.tencentcloudcr.com",
          secretRef: { name: "registry-pull", namespace: "vault-synced" } }
      ]
    },
    imagePullSecretCrs: [
      { name: "by-api-keys", spec: { namespaces: "*", tcr: { region: "ap-guangzhou", instanceId: "tcr-abc", credentialsSecretRef: { name: "keys" } } } },
      { name: "by-reference", spec: { namespaces: "*", secretRef: { name: "registry-pull", server: "demo.tencentcloudcr.com" } } }
    ]
  })
  const rendered = (await template("--values", values)).filter((object) => object.kind === "ImagePullSecret")
  expect(rendered.map((object) => ({ apiVersion: object.apiVersion, name: object.metadata.name, spec: object.spec }))).toEqual([
    { apiVersion: "tcr.tencentcloudcr.com/v1", name: "tcr-default", spec: { namespaces: "*", serviceAccounts: "*",
      docker: { server: "demo.tencentcloudcr.com", username: "100012345678", password: "tcr.jwt.token" } } },
    { apiVersion: "tcr.tencentcloudcr.com/v1", name: "two-namespaces", spec: { namespaces: "team-a,team-b", serviceAccounts: "default",
      docker: { server: "other.tencentcloudcr.com", username: "100012345679", password: "p@ss: {{ not a template }}" } } },
    { apiVersion: "tcr.tencentcloudcr.com/v1", name: "seed-by-reference", spec: { namespaces: "team-c", serviceAccounts: "*",
      secretRef: { name: "registry-pull", namespace: "vault-synced", server: "demo.tencentcloudcr.com" } } },
    { apiVersion: "tcr.tencentcloudcr.com/v1", name: "by-api-keys",
      spec: { namespaces: "*", tcr: { region: "ap-guangzhou", instanceId: "tcr-abc", credentialsSecretRef: { name: "keys" } } } },
    { apiVersion: "tcr.tencentcloudcr.com/v1", name: "by-reference",
      spec: { namespaces: "*", secretRef: { name: "registry-pull", server: "demo.tencentcloudcr.com" } } }
  ])
  expect(rendered.every((object) => object.metadata.namespace === undefined)).toBe(true)
  // The pre-delete hook names exactly the release's ImagePullSecrets, of both forms.
  const job = (await templateAll("--values", values)).find((object) => object.metadata.name === "tcr-assistant-delete-image-pull-secrets")!
  expect(job.metadata.annotations["helm.sh/hook"]).toBe("pre-delete")
  expect(job.spec.template.spec.containers[0].args).toEqual(["helm-hook", "delete-image-pull-secrets", "--names",
    "tcr-default,two-namespaces,seed-by-reference,by-api-keys,by-reference", "--namespace=tcr-assistant-system"])
})

test("the hooks: their ServiceAccount and ClusterRole, the CRD upgrade before install and upgrade, nothing to delete without CRs", async () => {
  const hooks = (await templateAll("--namespace", "tcr-release", "--set", "namespace=tcr-addon", "--set", "image.tag=9.9.9"))
    .filter(isHook)
  expect(hooks.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
    "ClusterRole/tcr-assistant-helm-hook", "ClusterRoleBinding/tcr-assistant-helm-hook", "Job/tcr-assistant-upgrade-crd",
    "ServiceAccount/tcr-assistant-helm-hook"
  ])
  for (const hook of hooks) {
    expect(hook.metadata.annotations["helm.sh/hook-delete-policy"], hook.kind).toBe("before-hook-creation,hook-succeeded")
    if (hook.metadata.namespace !== undefined) expect(hook.metadata.namespace).toBe("tcr-release")
  }
  const job = hooks.find((object) => object.kind === "Job")!
  expect(job.metadata.annotations["helm.sh/hook"]).toBe("pre-install,pre-upgrade")
  expect(Number(job.metadata.annotations["helm.sh/hook-weight"]))
    .toBeGreaterThan(Number(hooks.find((object) => object.kind === "ServiceAccount")!.metadata.annotations["helm.sh/hook-weight"]))
  const pod = job.spec.template.spec
  expect(pod.containers[0].image).toBe("tcr-assistant:9.9.9")
  expect(pod.containers[0].args).toEqual(["helm-hook", "upgrade-crd"])
  expect(pod.securityContext.runAsNonRoot).toBe(true)
  expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } })
  expect(hooks.find((object) => object.kind === "ClusterRole")!.rules).toEqual(rulesFor(helmHookPermissions, "cluster"))
  expect(hooks.find((object) => object.kind === "ClusterRoleBinding")!.subjects)
    .toEqual([{ kind: "ServiceAccount", name: "tcr-assistant-helm-hook", namespace: "tcr-release" }])
})

test("values.schema.json rejects bad values with the path that is wrong, and never echoes a password", async () => {
  const cases: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["no-password", { global: { imagePullSecretsCrs: [{ name: "x", dockerServer: "s", dockerUsername: "u" }] } }, /imagePullSecretsCrs\/0.*dockerPassword|dockerPassword/],
    ["bad-type", { global: { imagePullSecretsCrs: [{ name: "x", type: "tcr", dockerServer: "s", dockerUsername: "u", dockerPassword: "hunter2-secret" }] } }, /imagePullSecretsCrs\/0\/type/],
    ["bad-name", { global: { imagePullSecretsCrs: [{ name: "Not_A_Name", dockerServer: "s", dockerUsername: "u", dockerPassword: "hunter2-secret" }] } }, /imagePullSecretsCrs\/0\/name/],
    ["typo", { global: { imagePullSecretsCrs: [{ name: "x", dockerserver: "s", dockerUsername: "u", dockerPassword: "hunter2-secret" }] } }, /dockerserver|dockerServer/],
    ["replicas", { controller: { replicas: "two" } }, /controller\/replicas/],
    ["product-no-spec", { imagePullSecretCrs: [{ name: "x" }] }, /imagePullSecretCrs\/0.*spec|spec/],
    ["product-no-source", { imagePullSecretCrs: [{ name: "x", spec: { namespaces: "*" } }] }, /imagePullSecretCrs\/0\/spec.*oneOf/],
    ["product-two-sources", { imagePullSecretCrs: [{ name: "x", spec: { namespaces: "*", secretRef: { name: "s" },
      docker: { server: "s", username: "u", password: "hunter2-secret" } } }] }, /imagePullSecretCrs\/0\/spec.*oneOf/],
    ["product-ref-typo", { imagePullSecretCrs: [{ name: "x", spec: { namespaces: "*", secretRef: { nmae: "s" } } }] }, /imagePullSecretCrs\/0\/spec\/secretRef/],
    ["seed-ref-and-password", { global: { imagePullSecretsCrs: [{ name: "x", secretRef: { name: "s" }, dockerPassword: "hunter2-secret" }] } }, /imagePullSecretsCrs\/0\/dockerPassword/],
    ["monitoring", { monitoring: { serviceMonitor: true } }, /monitoring\/serviceMonitor/]
  ]
  for (const [name, values, message] of cases) {
    const result = await runHelm(["template", "tcr-assistant", chart, "--values", valuesFile(`${name}.yaml`, values)])
    expect(result.status, name).not.toBe(0)
    expect(result.stderr, name).toMatch(/values don't meet the specifications of the schema/)
    expect(result.stderr, name).toMatch(message)
    expect(result.stderr, name).not.toContain("hunter2-secret")
  }
})
