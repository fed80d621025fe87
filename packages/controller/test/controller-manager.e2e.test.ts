// Several controller-manager processes against one control plane: one leads and only it writes, a SIGKILLed leader
// is replaced within the lease duration plus a retry period, SIGTERM hands the lease over at once, a leader that
// loses its lease exits non-zero, and the probes and metrics tell which replica is which.
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import type { ControllerManagerOptions } from "../src/main.ts"
import { totalWrites, writesByResource } from "@tcr-assistant/testkit/apiserver-writes"
import { type ManagerProcess, startManagerProcess } from "./manager-process.ts"
import { connect, createNamespace, eventually, imagePullSecret, ipsPath, type TestCluster, uniqueName } from "./support.ts"

const namespace = "tcr-assistant-system"
const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`

let cluster: TestCluster
const processes: Array<ManagerProcess> = []

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  await createNamespace(cluster, namespace).catch((error: { _tag?: string }) => {
    if (error._tag !== "KubeConflict") throw error
  })
})

afterAll(async () => {
  for (const process of processes) if (!process.exited()) process.tied.child.kill("SIGKILL")
  await Promise.all(processes.map((process) => process.tied.exited))
  await cluster?.dispose()
})

const start = (name: string, leaseName: string, options: Partial<ControllerManagerOptions> = {}) => {
  const process = startManagerProcess(name, {
    kubeconfig: inject("kubeconfigPath"),
    identity: name,
    statusIntervalMillis: 200,
    leaderElection: { leaseName },
    // Every replica serves the webhook; these tests only need it to start (no webhook configuration points here).
    webhook: { host: "127.0.0.1", port: 0, extraHosts: ["127.0.0.1"], secretName: `${leaseName}-cert`, configurationName: null, mutatingConfigurationName: null },
    ...options
  })
  processes.push(process)
  return process
}

const holder = async (leaseName: string) =>
  (await cluster.get<{ spec?: { holderIdentity?: string } }>(`${leasesPath}/${leaseName}`))?.spec?.holderIdentity

const isLeader = async (process: ManagerProcess) => (await process.metrics()).get("tcr_assistant_leader") === 1

/** Requests that change something, except those about the lease itself (which followers must make to take over). */
const writes = async (process: ManagerProcess) => totalWrites(writesByResource(await process.scrape(), ["leases"]))

describe("leader election across processes", () => {
  test("one leads and writes; SIGKILL fails over within the lease duration; SIGTERM hands over at once", async () => {
    const leaseName = uniqueName("lease")
    const a = start("replica-a", leaseName)
    await eventually(async () => expect(await holder(leaseName)).toBe("replica-a"), 120_000)
    const b = start("replica-b", leaseName)
    await eventually(async () => expect((await b.get("/readyz")).status).toBe(200), 120_000)
    await eventually(async () => expect((await a.get("/readyz")).status).toBe(200), 120_000)

    // The leader distributes; the follower makes no write at all.
    const ns = uniqueName("le")
    await createNamespace(cluster, ns)
    const ips = uniqueName("le-ips")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(ips, { namespaces: ns, docker: { server: "r.example.com", username: "u", password: "leader-only" } }) })
    await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${ns}/secrets/tcr.ips${ips}`)).toBeDefined())
    expect(await isLeader(a)).toBe(true)
    expect(await isLeader(b)).toBe(false)
    expect(await writes(a)).toBeGreaterThan(0)
    expect(await writes(b)).toBe(0)
    const followerMetrics = await b.metrics()
    expect(followerMetrics.get(`controller_runtime_reconcile_total{controller="imagepullsecret",result="success"}`)).toBeUndefined()

    // SIGKILL: no release; b waits out the lease on its own clock, then leads and repairs drift.
    const killedAt = Date.now()
    a.tied.child.kill("SIGKILL")
    await eventually(async () => expect(await holder(leaseName)).toBe("replica-b"), 60_000)
    const failoverMillis = Date.now() - killedAt
    console.log(`failover after SIGKILL: ${failoverMillis} ms (lease 15 s, retry 2 s)`)
    expect(failoverMillis).toBeLessThan(15_000 + 2_400 + 5_000)
    await eventually(async () => expect(await isLeader(b)).toBe(true))
    await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${ns}/secrets/tcr.ips${ips}` })
    await eventually(async () => expect(await cluster.get(`/api/v1/namespaces/${ns}/secrets/tcr.ips${ips}`)).toBeDefined())

    // SIGTERM: b stops its controller, releases the lease, and c takes over on its next try.
    const c = start("replica-c", leaseName)
    await eventually(async () => expect((await c.get("/readyz")).status).toBe(200), 120_000)
    expect(await isLeader(c)).toBe(false)
    const terminatedAt = Date.now()
    b.tied.child.kill("SIGTERM")
    await eventually(async () => expect(await holder(leaseName)).toBe("replica-c"), 60_000)
    const handoverMillis = Date.now() - terminatedAt
    console.log(`handover after SIGTERM: ${handoverMillis} ms`)
    // Well under the 15 s a crashed leader costs: the next acquire attempt (at most 2.4 s later) succeeds.
    expect(handoverMillis).toBeLessThan(2_400 + 5_000)
    const exit = await b.tied.exited
    expect(b.logs().some((record) => record.msg === "released the lease")).toBe(true)
    expect(exit.code === 0 || exit.code === 130).toBe(true)
    const lease = await cluster.get<{ spec: { leaseTransitions: number } }>(`${leasesPath}/${leaseName}`)
    expect(lease?.spec.leaseTransitions).toBe(2)
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${ips}` })
  })

  test("a leader whose lease is taken exits non-zero", async () => {
    const leaseName = uniqueName("lease")
    const timings = { leaseName, leaseDurationMillis: 6_000, renewDeadlineMillis: 4_000, retryPeriodMillis: 1_000 }
    const d = start("replica-d", leaseName, { leaderElection: timings })
    await eventually(async () => expect(await holder(leaseName)).toBe("replica-d"), 120_000)
    // An intruder keeps the lease for itself, as a partitioned-away leader would find it on its return.
    const steal = async () => {
      const lease = await cluster.get<any>(`${leasesPath}/${leaseName}`)
      const now = new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")
      await cluster.request({ method: "PUT", path: `${leasesPath}/${leaseName}`, body: { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", renewTime: now } } }).catch(() => undefined)
    }
    const stealer = setInterval(() => void steal(), 500)
    try {
      const exit = await d.tied.exited
      expect(exit.code).not.toBe(0)
      expect(exit.code).not.toBeNull()
      expect(d.logs().some((record) => record.msg === "lost the leadership; stopping")).toBe(true)
    } finally {
      clearInterval(stealer)
    }
  })
})
