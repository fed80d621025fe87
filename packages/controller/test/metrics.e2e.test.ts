// The controller-manager's /metrics for real: run as its own ServiceAccount with the manifests' RBAC (which must
// allow the TokenReviews and SubjectAccessReviews), served over HTTPS, it answers a caller without a token 401, a
// ServiceAccount the apiserver authenticates but RBAC does not allow 403, and one bound to a ClusterRole with
// `get` on the nonResourceURL /metrics 200; what it serves passes `promtool check metrics` (Prometheus's own parser
// and linter), and carries the controller-runtime and process families by the names dashboards expect.
import { loopbackGet } from "@tcr-assistant/testkit/processes"
import { checkMetrics } from "@tcr-assistant/testkit/promtool"
import { applyManifestFile } from "@tcr-assistant/testkit/apply-manifests"
import { parsePrometheus } from "@tcr-assistant/kube/prometheus"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parse } from "yaml"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import { type ManagerProcess, startManagerProcess } from "./manager-process.ts"
import { connect, createNamespace, createServiceAccount, eventually, imagePullSecret, ipsPath, type TestCluster, uniqueName } from "./support.ts"

const namespace = "tcr-assistant-system"
const runId = uniqueName("metrics")
const readerRole = `tcr-assistant-e2e-${runId}-metrics-reader`

let cluster: TestCluster
let manager: ManagerProcess
let port = 0
const cleanups: Array<() => Promise<unknown>> = []
const manifests = join(import.meta.dirname, "..", "..", "..", "manifests")
const version = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "cli", "package.json"), "utf8")).version as string

/** A kubeconfig that authenticates as a ServiceAccount of the add-on's namespace, with a fresh token. */
const serviceAccountKubeconfig = async (dir: string, serviceAccount: string) => {
  const token = await cluster.request<{ status: { token: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
  })
  const admin = parse(readFileSync(inject("kubeconfigPath"), "utf8"))
  const path = join(dir, `${serviceAccount}.kubeconfig`)
  writeFileSync(path, JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "local", cluster: admin.clusters[0].cluster }],
    users: [{ name: serviceAccount, user: { token: token.status.token } }],
    contexts: [{ name: serviceAccount, context: { cluster: "local", user: serviceAccount } }],
    "current-context": serviceAccount
  }))
  return path
}

/** GET /metrics the way `curl -k -H "Authorization: Bearer ..."` does (the certificate is self-signed). */
const scrape = (token?: string) => loopbackGet({ port, path: "/metrics", secure: true, token })

/** A short-lived token of a ServiceAccount, from the TokenRequest API. */
const tokenOf = async (serviceAccount: string) => {
  const review = await cluster.request<{ status: { token: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${runId}/serviceaccounts/${serviceAccount}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } }
  })
  return review.status.token
}

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  await createNamespace(cluster, namespace).catch((error: { _tag?: string }) => {
    if (error._tag !== "KubeConflict") throw error
  })
  await createNamespace(cluster, runId)
  cleanups.push(() => cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${runId}` }))
  await createServiceAccount(cluster, runId, "prometheus")
  await createServiceAccount(cluster, runId, "stranger")
  // What the README tells a Prometheus operator to apply.
  await cluster.request({
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    body: { metadata: { name: readerRole }, rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] }
  })
  cleanups.push(() => cluster.request({ method: "DELETE", path: `/apis/rbac.authorization.k8s.io/v1/clusterroles/${readerRole}` }))
  await cluster.request({
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    body: {
      metadata: { name: readerRole },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: readerRole },
      subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: runId }]
    }
  })
  cleanups.push(() => cluster.request({ method: "DELETE", path: `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${readerRole}` }))
  // The controller's ServiceAccount and RBAC exactly as installed.
  for (const file of ["rbac/service-accounts.yaml", "rbac/manager-role.yaml"]) {
    const objects = await applyManifestFile(inject("kubeconfigPath"), join(manifests, file))
    for (const object of objects.filter((candidate) => candidate.kind !== "ServiceAccount")) {
      const path = object.kind === "ClusterRole"
        ? `/apis/rbac.authorization.k8s.io/v1/clusterroles/${object.metadata!.name}`
        : `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${object.metadata!.name}`
      cleanups.push(() => cluster.request({ method: "DELETE", path }))
    }
  }
  const scratch = mkdtempSync(join(tmpdir(), "metrics-e2e-"))
  cleanups.push(async () => rmSync(scratch, { recursive: true, force: true }))
  manager = startManagerProcess("secure-metrics", {
    kubeconfig: await serviceAccountKubeconfig(scratch, "tcr-assistant-controller-manager"),
    identity: `secure-metrics-${runId}`,
    statusIntervalMillis: 200,
    // One replica, no webhook: the Lease and the webhook Secret RBAC allows are other tests' business.
    leaderElection: { enabled: false },
    webhook: { enabled: false },
    metrics: { secure: true, host: "127.0.0.1", port: 0 }
  })
  port = await manager.metricsPort()
})

afterAll(async () => {
  if (manager !== undefined && !manager.exited()) {
    manager.tied.child.kill("SIGTERM")
    await manager.tied.exited
  }
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
  await cluster?.dispose()
})

describe("secure metrics", () => {
  test("no token: 401; a ServiceAccount without the RBAC rule: 403; with it: 200; not on the probe port", async () => {
    const anonymous = await scrape()
    expect(anonymous.status).toBe(401)
    expect(anonymous.body).not.toContain("tcr_assistant")
    expect((await scrape("not-a-real-token")).status).toBe(401)

    const stranger = await scrape(await tokenOf("stranger"))
    expect(stranger.status).toBe(403)
    expect(stranger.body).not.toContain("tcr_assistant")

    const allowed = await scrape(await tokenOf("prometheus"))
    expect(allowed.status).toBe(200)
    expect(allowed.contentType).toContain("version=0.0.4")
    expect(allowed.body).toContain("# TYPE tcr_assistant_build_info gauge")

    expect((await manager.get("/metrics")).status).toBe(404)
    expect((await manager.get("/readyz")).status).toBe(200)
    // No token ever appears in what the process logs.
    expect(manager.output()).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/)
  })

  test("what it serves after real work passes promtool check metrics and has the conventional families", async () => {
    const token = await tokenOf("prometheus")
    const name = uniqueName("ips-metrics")
    await cluster.request({
      method: "POST",
      path: ipsPath,
      body: imagePullSecret(name, { namespaces: runId, docker: { server: "metrics.example.com", username: "u", password: "metrics-S3NTINEL" } })
    })
    cleanups.push(() => cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` }))
    const series = `{imagepullsecret="${name}"}`
    const body = await eventually(async () => {
      const reply = await scrape(token)
      expect(reply.status).toBe(200)
      const values = parsePrometheus(reply.body)
      expect(values.get(`tcr_assistant_secrets_synced${series}`)).toBe(1)
      return reply.body
    }, 120_000)
    const values = parsePrometheus(body)
    expect(body).not.toContain("metrics-S3NTINEL")
    expect(values.get(`controller_runtime_reconcile_total{controller="imagepullsecret",result="success"}`)).toBeGreaterThan(0)
    expect(values.get(`controller_runtime_reconcile_time_seconds_count{controller="imagepullsecret"}`)).toBeGreaterThan(0)
    expect(values.get(`workqueue_adds_total{name="imagepullsecret"}`)).toBeGreaterThan(0)
    expect(values.has(`workqueue_depth{name="imagepullsecret"}`)).toBe(true)
    expect(values.get(`tcr_assistant_apiserver_requests_total{verb="create",resource="secrets",code="201"}`)).toBeGreaterThan(0)
    expect(values.get(`tcr_assistant_apiserver_requests_total{verb="create",resource="tokenreviews",code="201"}`)).toBeGreaterThan(0)
    expect(values.get(`tcr_assistant_apiserver_requests_total{verb="patch",resource="imagepullsecrets/status",code="200"}`)).toBeGreaterThan(0)
    const lastEvent = values.get(`tcr_assistant_watch_last_event_timestamp_seconds{informer="imagepullsecrets"}`)!
    expect(Math.abs(lastEvent - Date.now() / 1000)).toBeLessThan(3600)
    expect(values.get("process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000)
    expect(values.get("process_resident_memory_bytes")).toBeGreaterThan(0)
    expect(values.get("process_open_fds")).toBeGreaterThan(0)
    expect(values.get("tcr_assistant_leader")).toBe(1)
    expect(values.get(`tcr_assistant_build_info{version="${version}",program="controller",nodejs_version="${process.version}"}`)).toBe(1)

    const check = await checkMetrics(body)
    expect({ status: check.status, problems: `${check.stdout}${check.stderr}` }).toEqual({ status: 0, problems: "" })
  })

  test("every line the process logged is one JSON object with time, level and msg", () => {
    const lines = manager.output().split("\n").filter((line) => line !== "")
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual(expect.arrayContaining(["controller-manager started", "metrics request refused"]))
    for (const line of lines) {
      const record = JSON.parse(line)
      expect(Object.keys(record), line).toEqual(expect.arrayContaining(["time", "level", "msg"]))
      expect(Number.isNaN(Date.parse(record.time)), line).toBe(false)
    }
  })
})
