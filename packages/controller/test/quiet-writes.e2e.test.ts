// The controller's writes at scale, counted by its own apiserver client on a private control plane (nothing else
// there reconciles): while one ImagePullSecret converges over many status intervals its status is written at most
// once per interval, and once everything has converged the informers' periodic relists write nothing at all.
import { prometheusSamples } from "@tcr-assistant/kube/prometheus"
import { describeWrites, totalWrites, writesBetween, writesByResource } from "@tcr-assistant/testkit/apiserver-writes"
import { applyManifestFile, crdManifestPath, waitForCustomResourceDefinition } from "@tcr-assistant/testkit/apply-manifests"
import { type ControlPlane, startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { firstTrue } from "@tcr-assistant/testkit/eventually"
import { afterAll, beforeAll, expect, test } from "vitest"
import { type ManagerProcess, startManagerProcess } from "./manager-process.ts"
import { connect, createNamespace, eventually, imagePullSecret, ipsPath, type TestCluster } from "./support.ts"

const namespaceCount = 300
const statusIntervalMillis = 250
const resyncMillis = 3_000
/** Renewed all the time by any replica; and the secure /metrics' reviews, which are not stored. */
const notCounted = ["leases", "tokenreviews", "subjectaccessreviews"]

let plane: ControlPlane
let cluster: TestCluster
let manager: ManagerProcess | undefined

beforeAll(async () => {
  plane = await startControlPlane()
  await applyManifestFile(plane.kubeconfigPath, crdManifestPath)
  await waitForCustomResourceDefinition(plane.kubeconfigPath, "imagepullsecrets.tcr.tencentcloudcr.com")
  cluster = connect(plane.kubeconfigPath)
  await createNamespace(cluster, "tcr-assistant-system")
})

afterAll(async () => {
  if (manager !== undefined && !manager.exited()) manager.tied.child.kill("SIGKILL")
  await manager?.tied.exited
  await cluster?.dispose()
  await plane?.stop()
})

/** Every informer's relist count, by informer. */
const relistsByInformer = (metricsText: string) =>
  new Map(prometheusSamples(metricsText).filter((sample) => sample.name === "tcr_assistant_watch_relists_total").map((sample) => [sample.labels.informer!, sample.value]))

test("status writes are coalesced per interval while converging; periodic relists at quiet write nothing", async () => {
  const names = Array.from({ length: namespaceCount }, (_, i) => `quiet-${i}`)
  for (let i = 0; i < names.length; i += 20) await Promise.all(names.slice(i, i + 20).map((name) => createNamespace(cluster, name)))
  // kube-controller-manager creates each namespace's default ServiceAccount; the controller patches them all.
  await eventually(async () => {
    const accounts = await cluster.request<{ items: Array<{ metadata: { namespace: string } }> }>({ method: "GET", path: "/api/v1/serviceaccounts", query: { fieldSelector: "metadata.name=default" } })
    expect(accounts.items.filter((account) => account.metadata.namespace.startsWith("quiet-")).length).toBe(namespaceCount)
  }, 120_000)

  manager = startManagerProcess("quiet-writes", {
    kubeconfig: plane.kubeconfigPath,
    identity: "quiet-writes",
    statusIntervalMillis,
    informerResyncMillis: resyncMillis,
    leaderElection: { leaseName: "quiet-writes" },
    webhook: { host: "127.0.0.1", port: 0, extraHosts: ["127.0.0.1"], secretName: "quiet-writes-cert", configurationName: null, mutatingConfigurationName: null }
  })
  const running = manager
  await eventually(async () => expect((await running.get("/readyz")).status).toBe(200), 120_000)
  const beforeIps = writesByResource(await running.scrape(), notCounted)

  // --- converging: one ImagePullSecret for every namespace --------------------------------------------------------
  const createdAt = performance.now()
  await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret("quiet", { namespaces: "quiet-*", docker: { server: "r.example.com", username: "u", password: "quiet-password" } }) })
  type Status = { secretsDesired?: number; secretsSuccess?: number; serviceAccountsDesired?: number; serviceAccountsSuccess?: number }
  const all = { secretsDesired: namespaceCount, secretsSuccess: namespaceCount, serviceAccountsDesired: namespaceCount, serviceAccountsSuccess: namespaceCount }
  await eventually(async () => expect((await cluster.get<{ status?: Status }>(`${ipsPath}/quiet`))?.status).toMatchObject(all), 300_000)
  // The status that says so was the last one: no write follows it over several intervals.
  let statusWrites = -1
  await firstTrue(async () => {
    const now = writesBetween(beforeIps, writesByResource(await running.scrape(), notCounted)).get("patch imagepullsecrets/status") ?? 0
    const settled = now === statusWrites
    statusWrites = now
    return settled
  }, 4 * statusIntervalMillis)
  const elapsedMillis = performance.now() - createdAt - 4 * statusIntervalMillis
  const converging = writesBetween(beforeIps, writesByResource(await running.scrape(), notCounted))
  console.log(`converged ${namespaceCount} namespaces in ${(elapsedMillis / 1000).toFixed(1)} s with ${describeWrites(converging)}`)
  expect(converging.get("create secrets")).toBe(namespaceCount)
  expect(converging.get("patch serviceaccounts")).toBe(namespaceCount)
  // Flushes happen once per interval: however long convergence took, no more status writes than intervals in it.
  expect(statusWrites).toBeGreaterThan(0)
  expect(statusWrites).toBeLessThanOrEqual(Math.ceil(elapsedMillis / statusIntervalMillis) + 1)

  // --- quiet: every informer relists at least twice, and nothing is written ---------------------------------------
  const quietText = await running.scrape()
  const [quietWrites, relistsBefore] = [writesByResource(quietText, notCounted), relistsByInformer(quietText)]
  expect(relistsBefore.size).toBeGreaterThanOrEqual(4)
  let atQuietEnd = quietText
  await firstTrue(async () => {
    atQuietEnd = await running.scrape()
    const relists = relistsByInformer(atQuietEnd)
    return [...relistsBefore].every(([informer, count]) => (relists.get(informer) ?? 0) >= count + 2)
  }, 500)
  const relistWrites = writesBetween(quietWrites, writesByResource(atQuietEnd, notCounted))
  console.log(`relists at quiet: ${JSON.stringify(Object.fromEntries(relistsByInformer(atQuietEnd)))}; writes: ${describeWrites(relistWrites)}`)
  expect(describeWrites(relistWrites)).toBe("none")
  expect(totalWrites(relistWrites)).toBe(0)
})
