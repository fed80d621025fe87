// The committed manifests are exactly what the code generates (run `npm run manifests` after changing the code),
// the kustomize tree and install.yaml hold the same objects, every object the seeds list is there, and the pods and
// RBAC are locked down.
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { expect, test } from "vitest"
import { parseAllDocuments, parse } from "yaml"
import { manifestObjectFiles, renderInstallYaml, renderManifestFiles } from "../src/manifests.ts"

const root = join(import.meta.dirname, "..", "..", "..", "manifests")

const yamlFilesUnder = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return yamlFilesUnder(path)
    return entry.name.endsWith(".yaml") ? [relative(root, path)] : []
  })

const objectsOf = (text: string) => parseAllDocuments(text).map((document) => document.toJS()).filter((value) => value !== null)
const installed = objectsOf(renderInstallYaml()) as Array<any>
const all = () => installed
const find = (kind: string, name: string) => all().find((object) => object.kind === kind && object.metadata.name === name)

test("every generated manifest is committed and up to date", () => {
  for (const [path, content] of renderManifestFiles()) {
    let committed: string
    try {
      committed = readFileSync(join(root, path), "utf8")
    } catch {
      throw new Error(`manifests/${path} is missing: run npm run manifests`)
    }
    expect(committed, `manifests/${path} is stale: run npm run manifests`).toBe(content)
  }
})

test("no file under manifests/ (samples aside) is left over from an older version of the code", () => {
  const generated = new Set(renderManifestFiles().keys())
  const stray = yamlFilesUnder(root).filter((path) => !path.startsWith("samples/") && !generated.has(path))
  expect(stray).toEqual([])
})

test("the kustomize tree and install.yaml hold the same objects", () => {
  const kustomization = parse(renderManifestFiles().get("kustomization.yaml")!)
  expect(kustomization.resources).toEqual(manifestObjectFiles().map(({ path }) => path))
  const fromFiles = manifestObjectFiles().flatMap(({ path }) => objectsOf(renderManifestFiles().get(path)!))
  expect(all()).toEqual(fromFiles)
})

test("every object of the seeds' table is there", () => {
  const seeds: ReadonlyArray<readonly [string, string, string | undefined]> = [
    ["Namespace", "tcr-assistant-system", undefined],
    ["ClusterRole", "tcr-assistant-manager-role", undefined],
    ["ClusterRoleBinding", "tcr-assistant-manager-rolebinding", undefined],
    ["Role", "tcr-assistant-leader-election-role", "tcr-assistant-system"],
    ["RoleBinding", "tcr-assistant-leader-election-rolebinding", "tcr-assistant-system"],
    ["Secret", "tcr-assistant-webhook-server-cert", "tcr-assistant-system"],
    ["Service", "tcr-assistant-webhook-service", "tcr-assistant-system"],
    ["ValidatingWebhookConfiguration", "tcr-assistant-validating-webhook-configuration", undefined],
    ["CustomResourceDefinition", "imagepullsecrets.tcr.tencentcloudcr.com", undefined],
    ["Deployment", "tcr-assistant-controller-manager", "tcr-assistant-system"],
    ["ConfigMap", "updater-config", "tcr-assistant-system"],
    ["DaemonSet", "hosts-updater", "tcr-assistant-system"]
  ]
  for (const [kind, name, namespace] of seeds) {
    const object = find(kind, name)
    expect(object, `${kind} ${name}`).toBeDefined()
    expect(object.metadata.namespace).toBe(namespace)
  }
  expect(find("Namespace", "tcr-assistant-system")).toBe(all()[0])
  expect(all().slice(-2).map((object) => object.kind)).toEqual(["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"])
})

test("the webhook is registered for CREATE and UPDATE of ImagePullSecrets, side-effect free with a short timeout", () => {
  const [webhook] = find("ValidatingWebhookConfiguration", "tcr-assistant-validating-webhook-configuration").webhooks
  expect(webhook.sideEffects).toBe("None")
  expect(webhook.failurePolicy).toBe("Fail")
  expect(webhook.timeoutSeconds).toBeLessThanOrEqual(5)
  expect(webhook.rules).toEqual([expect.objectContaining({ operations: ["CREATE", "UPDATE"], resources: ["imagepullsecrets"] })])
  // Never in the way of cleanup: objects being deleted and metadata-only updates are not sent.
  expect(webhook.matchConditions.map((condition: any) => condition.expression)).toEqual([
    "!has(object.metadata.deletionTimestamp)",
    "request.operation == 'CREATE' || !has(oldObject.spec) || !has(object.spec) || object.spec != oldObject.spec"
  ])
  expect(webhook.clientConfig.service).toMatchObject({ name: "tcr-assistant-webhook-service", namespace: "tcr-assistant-system", path: "/validate" })
  const service = find("Service", "tcr-assistant-webhook-service")
  const deployment = find("Deployment", "tcr-assistant-controller-manager")
  expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels)
  expect(deployment.spec.template.spec.containers[0].ports.map((port: any) => port.name)).toContain(service.spec.ports[0].targetPort)
})

test("the Pod mutation: CREATE only, fail-open, short, reinvoked if needed, never for our own namespace or mirror pods", () => {
  const [webhook] = find("MutatingWebhookConfiguration", "tcr-assistant-mutating-webhook-configuration").webhooks
  expect(webhook.rules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }])
  expect(webhook).toMatchObject({ failurePolicy: "Ignore", reinvocationPolicy: "IfNeeded", sideEffects: "None", admissionReviewVersions: ["v1"] })
  expect(webhook.timeoutSeconds).toBeLessThanOrEqual(3)
  expect(webhook.namespaceSelector).toEqual({
    matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["tcr-assistant-system"] }]
  })
  expect(webhook.matchConditions.map((condition: any) => condition.expression).join(" ")).toContain("kubernetes.io/config.mirror")
  expect(webhook.clientConfig.service).toEqual(
    expect.objectContaining({ ...find("ValidatingWebhookConfiguration", "tcr-assistant-validating-webhook-configuration").webhooks[0].clientConfig.service, path: "/mutate-pods" })
  )
})

test("pods: no privilege escalation, read-only root, no capabilities, requests and limits; root only where the hosts file needs it", () => {
  const workloads = all().filter((object) => object.kind === "Deployment" || object.kind === "DaemonSet")
  expect(workloads.map((object) => object.metadata.name).sort()).toEqual(["hosts-updater", "tcr-assistant-controller-manager"])
  for (const workload of workloads) {
    const pod = workload.spec.template.spec
    for (const container of pod.containers) {
      const where = `${workload.metadata.name}/${container.name}`
      expect(container.securityContext, where).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } })
      expect(container.securityContext.privileged, where).toBeUndefined()
      for (const kind of ["requests", "limits"]) {
        expect(container.resources[kind].cpu, where).toBeDefined()
        expect(container.resources[kind].memory, where).toBeDefined()
      }
      const runsAsRoot = (container.securityContext.runAsUser ?? pod.securityContext?.runAsUser) === 0
      expect(runsAsRoot, where).toBe(workload.metadata.name === "hosts-updater")
    }
    expect(pod.hostNetwork, workload.metadata.name).toBeUndefined()
    expect(pod.hostPID, workload.metadata.name).toBeUndefined()
  }
  const controller = find("Deployment", "tcr-assistant-controller-manager")
  expect(controller.spec.replicas).toBe(2)
  expect(controller.spec.template.spec.securityContext.runAsNonRoot).toBe(true)
  expect(controller.spec.template.spec.containers[0].resources.requests.cpu).toBe("100m")
  const updater = find("DaemonSet", "hosts-updater").spec.template.spec
  expect(updater.volumes).toEqual([{ name: "host-etc", hostPath: { path: "/etc", type: "Directory" } }])
  const container = updater.containers[0]
  const mount = container.volumeMounts.find((volumeMount: any) => volumeMount.name === "host-etc").mountPath
  expect(container.args).toEqual(["hosts-updater", `--hosts-file=${mount}/hosts`])
  expect(container.env).toContainEqual({ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } })
  expect(container.resources.requests).toEqual({ cpu: "100m", memory: "100Mi" })
})

test("RBAC: no wildcards, no escalation verbs, writes to our own cluster objects narrowed by name", () => {
  const roles = all().filter((object) => object.kind === "ClusterRole" || object.kind === "Role")
  expect(roles.length).toBeGreaterThanOrEqual(4)
  for (const role of roles) {
    for (const rule of role.rules) {
      const where = `${role.kind} ${role.metadata.name}: ${JSON.stringify(rule)}`
      for (const field of ["apiGroups", "resources", "verbs"]) expect(rule[field], where).not.toContain("*")
      for (const verb of ["escalate", "bind", "impersonate", "deletecollection"]) expect(rule.verbs, where).not.toContain(verb)
      if (["validatingwebhookconfigurations", "mutatingwebhookconfigurations", "leases"].some((resource) => rule.resources.includes(resource))) {
        if (!rule.verbs.includes("create")) expect(rule.resourceNames, where).toBeDefined()
      }
    }
  }
  const bindings = all().filter((object) => object.kind === "ClusterRoleBinding" || object.kind === "RoleBinding")
  for (const binding of bindings) {
    expect(find(binding.roleRef.kind, binding.roleRef.name), binding.metadata.name).toBeDefined()
    for (const subject of binding.subjects) expect(find("ServiceAccount", subject.name)?.metadata.namespace).toBe(subject.namespace)
  }
})
