// Faults against a private control plane: the apiserver restarting in the middle of convergence, and another
// writer hammering the same ServiceAccounts while we patch them.
import { startControlPlane, type ControlPlane } from "@tcr-assistant/testkit/control-plane"
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { afterAll, beforeAll, expect, test } from "vitest"
import {
  connect,
  createNamespace,
  createServiceAccount,
  eventually,
  imagePullSecret,
  ipsPath,
  runController,
  serviceAccountEntries,
  type TestCluster,
  uniqueName
} from "./support.ts"

let plane: ControlPlane
let cluster: TestCluster

beforeAll(async () => {
  plane = await startControlPlane()
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "apply", "-f", join(import.meta.dirname, "../../../manifests/crd")])
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "wait", "--for", "condition=established", "crd/imagepullsecrets.tcr.tencentcloudcr.com"])
  cluster = connect(plane.kubeconfigPath)
})

afterAll(async () => {
  await cluster?.dispose()
  await plane?.stop()
})

const docker = { server: "registry.example.com", username: "robot", password: "fault-password" }

test("an apiserver restart in the middle of convergence ends converged, with no duplicate entries", async () => {
  const prefix = uniqueName("restart")
  const namespaces = Array.from({ length: 60 }, (_, i) => `${prefix}-${i}`)
  for (const ns of namespaces) await createNamespace(cluster, ns)
  await eventually(async () => {
    for (const ns of namespaces) expect(await serviceAccountEntries(cluster, ns, "default")).toBeDefined()
  })
  const running = await runController(plane.kubeconfigPath, { concurrency: 2 })
  try {
    const name = uniqueName("restart")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: namespaces.join(","), docker }) })
    // Restart as soon as some, but not all, of the work is done.
    await eventually(async () => expect(running.controller.stats.reconciles()).toBeGreaterThan(5), 60_000)
    await plane.restartApiServer()
    await eventually(async () => {
      for (const ns of namespaces) {
        expect(await serviceAccountEntries(cluster, ns, "default")).toEqual([`tcr.ips${name}`])
        expect(await cluster.get(`/api/v1/namespaces/${ns}/secrets/tcr.ips${name}`)).toBeDefined()
      }
    }, 120_000)
    await eventually(async () => {
      const status = (await cluster.get<any>(`${ipsPath}/${name}`)).status
      expect(status).toMatchObject({ secretsDesired: 60, secretsSuccess: 60, serviceAccountsDesired: 60, serviceAccountsSuccess: 60 })
    }, 120_000)
    expect(running.controller.informers.some((informer) => informer.health().restarts > 0)).toBe(true)
  } finally {
    await running.stop()
  }
})

test("a concurrent writer hammering the same ServiceAccounts loses nothing", async () => {
  const ns = uniqueName("hammer")
  await createNamespace(cluster, ns)
  const accounts = Array.from({ length: 8 }, (_, i) => `sa-${i}`)
  for (const sa of accounts) await createServiceAccount(cluster, ns, sa, ["user-0"])
  const running = await runController(plane.kubeconfigPath)
  const name = uniqueName("hammer")
  // The other writer appends its own entries with read-modify-write under optimistic concurrency, as kubectl
  // edit would; every append must survive.
  const appended = new Map<string, Array<string>>(accounts.map((sa) => [sa, ["user-0"]]))
  const writer = async (sa: string) => {
    for (let i = 1; i <= 15; i++) {
      const entry = `user-${i}`
      while (true) {
        const current = await cluster.get<any>(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}`)
        const entries = [...(current.imagePullSecrets ?? []), { name: entry }]
        try {
          await cluster.request({
            method: "PUT",
            path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa}`,
            body: { ...current, imagePullSecrets: entries }
          })
          appended.get(sa)!.push(entry)
          break
        } catch (error: any) {
          if (error?._tag !== "KubeConflict") throw error
        }
      }
    }
  }
  try {
    const hammering = Promise.all(accounts.map(writer))
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, serviceAccounts: accounts.join(","), docker }) })
    await hammering
    await eventually(async () => {
      for (const sa of accounts) {
        const entries = (await serviceAccountEntries(cluster, ns, sa)) ?? []
        expect(entries.filter((entry) => entry !== `tcr.ips${name}`)).toEqual(appended.get(sa))
        expect(entries.filter((entry) => entry === `tcr.ips${name}`)).toHaveLength(1)
      }
    })
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
    await eventually(async () => {
      for (const sa of accounts) expect(await serviceAccountEntries(cluster, ns, sa)).toEqual(appended.get(sa))
    })
  } finally {
    await running.stop()
  }
})
