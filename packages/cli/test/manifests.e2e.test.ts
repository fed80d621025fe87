// The manifests against a real apiserver: the kustomize tree and install.yaml pass server-side dry run and render
// the same objects, and the controller-manager does its whole job with nothing but the RBAC they grant it
// (distribution, events, finalizers, leader Lease, webhook Secret renewal, CA bundle).
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import { parse, parseAllDocuments } from "yaml"
import { type ManagerProcess, startManagerProcess } from "../../controller/test/manager-process.ts"
import { connect, createNamespace, eventually, type TestCluster, uniqueName } from "../../controller/test/support.ts"
import { renderInstallYaml, renderYaml } from "../src/manifests.ts"

const repository = join(import.meta.dirname, "..", "..", "..")
const namespace = "tcr-assistant-system"
const ipsPath = "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets"
const vwcPath = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tcr-assistant-validating-webhook-configuration"
const mwcPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tcr-assistant-mutating-webhook-configuration"
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/tcr-assistant-controller-manager`
const certPath = `/api/v1/namespaces/${namespace}/secrets/tcr-assistant-webhook-server-cert`

let cluster: TestCluster
const scratch = mkdtempSync(join(tmpdir(), "tcr-manifests-e2e-"))

const kubectl = (args: ReadonlyArray<string>, kubeconfig = inject("kubeconfigPath")) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", kubeconfig, ...args], { cwd: repository, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (status) => resolve({ status, stdout, stderr }))
  })

const objectsOf = (text: string) =>
  parseAllDocuments(text).map((document) => document.toJS()).filter((value) => value !== null) as Array<any>

const key = (object: any) => `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  // A server-side dry run persists nothing: the Namespace it "creates" is not there for the objects inside it.
  await createNamespace(cluster, namespace).catch((error: { _tag?: string }) => {
    if (error._tag !== "KubeConflict") throw error
  })
})

afterAll(async () => {
  await cluster?.dispose()
  rmSync(scratch, { recursive: true, force: true })
})

describe("server-side dry run", () => {
  test("kubectl apply -k manifests/ and -f manifests/install.yaml are accepted, and render the same objects", async () => {
    for (const args of [["apply", "--dry-run=server", "-k", "manifests/"], ["apply", "--dry-run=server", "-f", "manifests/install.yaml"]]) {
      const result = await kubectl(args)
      // Objects this shared plane got from other tests were not created by kubectl apply: it says so, harmlessly.
      const stderr = result.stderr.split("\n").filter((line) => line !== "" && !/is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation/.test(line))
      expect(stderr, args.join(" ")).toEqual([])
      expect(result.status, args.join(" ")).toBe(0)
      for (const object of objectsOf(renderInstallYaml())) {
        expect(result.stdout).toContain(`${object.kind.toLowerCase()}`)
        expect(result.stdout).toContain(object.metadata.name)
      }
    }
    const kustomized = await kubectl(["kustomize", "manifests/"])
    expect(kustomized.status).toBe(0)
    const fromKustomize = new Map(objectsOf(kustomized.stdout).map((object) => [key(object), object]))
    const fromInstall = new Map(objectsOf(readFileSync(join(repository, "manifests", "install.yaml"), "utf8")).map((object) => [key(object), object]))
    expect([...fromKustomize.keys()].sort()).toEqual([...fromInstall.keys()].sort())
    for (const [name, object] of fromInstall) expect(fromKustomize.get(name), name).toEqual(object)
  })
})

describe("the controller-manager under the manifests' RBAC", () => {
  const rbacKinds = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret"])
  const rbacObjects = () => objectsOf(renderInstallYaml()).filter((object) => rbacKinds.has(object.kind))
  let manager: ManagerProcess | undefined
  const runId = uniqueName("rbac")

  afterAll(async () => {
    if (manager !== undefined && !manager.exited()) {
      manager.tied.child.kill("SIGTERM")
      await manager.tied.exited
    }
    // Leave the shared control plane as we found it: these objects carry the add-on's real names.
    for (const path of [vwcPath, leasePath, certPath]) await cluster.request({ method: "DELETE", path }).catch(() => undefined)
    const file = join(scratch, "rbac.yaml")
    writeFileSync(file, rbacObjects().map(renderYaml).join("---\n"))
    await kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", file])
  })

  test("distributes, records events, cleans up, renews its certificate and writes the CA bundle, with no 403", async () => {
    const file = join(scratch, "rbac.yaml")
    writeFileSync(file, rbacObjects().map(renderYaml).join("---\n"))
    const applied = await kubectl(["apply", "--server-side", "--force-conflicts", "-f", file])
    expect(applied.stderr).toBe("")

    // The real webhook configuration name (RBAC allows only that one), pointed at this test's process by URL and
    // limited to this test's objects.
    const port = await new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolve(port))
      })
    })
    await cluster.request({ method: "DELETE", path: vwcPath }).catch(() => undefined)
    await cluster.request({
      method: "POST",
      path: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
      body: {
        metadata: { name: "tcr-assistant-validating-webhook-configuration" },
        webhooks: [{
          name: "vimagepullsecret.tcr.tencentcloudcr.com",
          clientConfig: { url: `https://127.0.0.1:${port}/validate` },
          rules: [{ apiGroups: ["tcr.tencentcloudcr.com"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["imagepullsecrets"], scope: "Cluster" }],
          objectSelector: { matchLabels: { "tcr-assistant.test/webhook": runId } },
          failurePolicy: "Fail",
          sideEffects: "None",
          admissionReviewVersions: ["v1"],
          timeoutSeconds: 5
        }]
      }
    })
    // The real Pod mutation, by URL too, for Pods of this test's labelled namespace only.
    const mutating = objectsOf(renderInstallYaml()).find((object) => object.kind === "MutatingWebhookConfiguration")
    await cluster.request({ method: "DELETE", path: mwcPath }).catch(() => undefined)
    await cluster.request({
      method: "POST",
      path: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
      body: {
        ...mutating,
        webhooks: mutating.webhooks.map((webhook: any) => ({
          ...webhook,
          clientConfig: { url: `https://127.0.0.1:${port}${webhook.clientConfig.service.path}` },
          namespaceSelector: { matchLabels: { "tcr-assistant.test/webhook": runId } }
        }))
      }
    })

    // A kubeconfig that authenticates as the controller's ServiceAccount.
    const token = await cluster.request<{ status: { token: string } }>({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/tcr-assistant-controller-manager/token`,
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
    })
    const admin = parse(readFileSync(inject("kubeconfigPath"), "utf8"))
    const kubeconfig = join(scratch, "controller.kubeconfig")
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "local", cluster: admin.clusters[0].cluster }],
      users: [{ name: "controller", user: { token: token.status.token } }],
      contexts: [{ name: "controller", context: { cluster: "local", user: "controller" } }],
      "current-context": "controller"
    }))
    const whoami = await kubectl(["auth", "can-i", "create", "namespaces"], kubeconfig)
    expect(whoami.stdout.trim()).toBe("no")

    manager = startManagerProcess("rbac", {
      kubeconfig,
      identity: "rbac",
      statusIntervalMillis: 200,
      webhook: { host: "127.0.0.1", port, extraHosts: ["127.0.0.1"], certValidityMillis: 20_000, renewBeforeMillis: 12_000, checkIntervalMillis: 500 },
      log: { level: "Debug" }
    })
    const running = manager
    await eventually(async () => expect((await running.get("/readyz")).status).toBe(200), 120_000)
    await eventually(async () => expect((await cluster.get<any>(vwcPath)).webhooks[0].clientConfig.caBundle).toBeTruthy())
    await eventually(async () => expect((await cluster.get<any>(mwcPath)).webhooks[0].clientConfig.caBundle).toBeTruthy())
    const firstCert = (await cluster.get<any>(certPath)).data["tls.crt"]

    const ns = uniqueName("rbac-ns")
    const quota = uniqueName("rbac-quota")
    for (const name of [ns, quota]) await createNamespace(cluster, name)
    await cluster.request({ method: "POST", path: `/api/v1/namespaces/${quota}/resourcequotas`, body: { metadata: { name: "no-secrets" }, spec: { hard: { "count/secrets": "0" } } } })
    await cluster.request({
      method: "PATCH",
      path: `/api/v1/namespaces/${quota}/resourcequotas/no-secrets/status`,
      contentType: "application/merge-patch+json",
      body: { status: { hard: { "count/secrets": "0" }, used: { "count/secrets": "0" } } }
    })
    await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`)).toBeDefined())
    const ips = uniqueName("rbac-ips")
    await cluster.request({
      method: "POST",
      path: ipsPath,
      body: {
        apiVersion: "tcr.tencentcloudcr.com/v1",
        kind: "ImagePullSecret",
        metadata: { name: ips, labels: { "tcr-assistant.test/webhook": runId } },
        spec: { namespaces: `${ns},${quota}`, docker: { server: "rbac.tencentcloudcr.com", username: "u", password: "rbac-pass" } }
      }
    })
    await eventually(async () => {
      const sa = await cluster.get<any>(`/api/v1/namespaces/${ns}/serviceaccounts/default`)
      expect(sa.imagePullSecrets).toContainEqual({ name: `tcr.ips${ips}` })
    }, 120_000)
    // A Pod with an entry of its own gets nothing from its ServiceAccount: ours comes from the Pod mutation.
    await cluster.request({
      method: "PATCH",
      path: `/api/v1/namespaces/${ns}`,
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { "tcr-assistant.test/webhook": runId } } }
    })
    await eventually(async () => {
      const pod = await cluster.request<any>({
        method: "POST",
        path: `/api/v1/namespaces/${ns}/pods`,
        query: { dryRun: "All" },
        body: { metadata: { name: "app" }, spec: { containers: [{ name: "app", image: "rbac.tencentcloudcr.com/a:1" }], imagePullSecrets: [{ name: "user" }] } }
      })
      expect(pod.spec.imagePullSecrets).toEqual([{ name: "user" }, { name: `tcr.ips${ips}` }])
    })
    await eventually(async () => {
      const events = await cluster.get<any>("/api/v1/namespaces/default/events")
      expect(events.items.some((event: any) => event.involvedObject.name === ips && event.count >= 2)).toBe(true)
    }, 120_000)
    await eventually(async () => expect((await running.metrics()).get("tcr_assistant_webhook_requests_total{webhook=\"validate-imagepullsecret\",operation=\"CREATE\",result=\"allowed\"}")).toBeGreaterThan(0))
    await eventually(async () => expect((await cluster.get<any>(certPath)).data["tls.crt"]).not.toBe(firstCert), 120_000)

    await cluster.request({ method: "DELETE", path: `${ipsPath}/${ips}` })
    await eventually(async () => expect(await cluster.get(`${ipsPath}/${ips}`)).toBeUndefined(), 120_000)
    expect(await cluster.get(`/api/v1/namespaces/${ns}/secrets/tcr.ips${ips}`)).toBeUndefined()

    const denied = running.logs().filter((record) => /forbidden|\b403\b/i.test(JSON.stringify(record)) && !JSON.stringify(record).includes("exceeded quota"))
    expect(denied).toEqual([])
    expect((await running.metrics()).get("tcr_assistant_events_total{outcome=\"failed\"}")).toBe(0)
    expect((await running.metrics()).get("tcr_assistant_leader")).toBe(1)
    await cluster.request({ method: "DELETE", path: mwcPath }).catch(() => undefined)
  })
})
