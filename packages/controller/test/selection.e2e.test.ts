// Selection against a real control plane: a namespace label selector, a relabelled namespace, a changed selector,
// globs, the exclusion of kube-* under "*", and the opt-out label, each converging in place with the user's entries
// untouched.
import { kubectl } from "@tcr-assistant/testkit/processes"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import {
  connect,
  createNamespace,
  createServiceAccount,
  eventually,
  ipsPath,
  runController,
  type RunningController,
  serviceAccountEntries,
  type TestCluster,
  uniqueName
} from "./support.ts"

let cluster: TestCluster
let running: RunningController

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  running = await runController(cluster.kubeconfigPath)
})

afterAll(async () => {
  await running?.stop()
  await cluster?.dispose()
})

const docker = { server: "registry.example.com", username: "robot", password: "selection-password" }
const optOut = "tcr.tencentcloudcr.com/ignore"

const createIps = (name: string, spec: Record<string, unknown>) =>
  cluster.request({
    method: "POST",
    path: ipsPath,
    body: { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name }, spec: { ...spec, docker } }
  })

const patchIps = (name: string, spec: Record<string, unknown>) =>
  cluster.request({ method: "PATCH", path: `${ipsPath}/${name}`, contentType: "application/merge-patch+json", body: { spec } })

/** Merge-patch labels onto a Namespace or ServiceAccount; a null value removes the label. */
const label = (path: string, labels: Record<string, string | null>) =>
  cluster.request({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { metadata: { labels } } })

const namespacePath = (ns: string) => `/api/v1/namespaces/${ns}`
const serviceAccountPath = (ns: string, sa: string) => `/api/v1/namespaces/${ns}/serviceaccounts/${sa}`

const createLabelledNamespace = (name: string, labels: Record<string, string>) =>
  cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name, labels } } })

const secretOf = (namespace: string, ips: string) => cluster.get<any>(`/api/v1/namespaces/${namespace}/secrets/tcr.ips${ips}`)

const getIps = (name: string) => cluster.get<any>(`${ipsPath}/${name}`)

const deleteIps = async (name: string) => {
  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` }).catch(() => undefined)
  await eventually(async () => expect(await getIps(name)).toBeUndefined())
}

/** The namespace holds our Secret and its ServiceAccount `app` lists the user's entry, then ours. */
const expectSelected = async (ns: string, ips: string) => {
  expect(await secretOf(ns, ips)).toBeDefined()
  expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-entry", `tcr.ips${ips}`])
}

/** Nothing of ours in the namespace, the user's entry still there. */
const expectUnselected = async (ns: string, ips: string) => {
  expect(await secretOf(ns, ips)).toBeUndefined()
  expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-entry"])
}

describe("namespace label selector", () => {
  test("relabelling a namespace selects and unselects it in place; the user's entries stay", async () => {
    const team = uniqueName("team")
    const [a, b] = [uniqueName("sel-a"), uniqueName("sel-b")]
    await createLabelledNamespace(a, { team })
    await createNamespace(cluster, b)
    for (const ns of [a, b]) await createServiceAccount(cluster, ns, "app", ["user-entry"])
    const name = uniqueName("sel")
    await createIps(name, { namespaces: "*", serviceAccounts: "app", namespaceSelector: { matchLabels: { team } } })

    await eventually(async () => {
      await expectSelected(a, name)
      await expectUnselected(b, name)
      expect((await getIps(name)).status).toMatchObject({ secretsDesired: 1, secretsSuccess: 1 })
    })

    await label(namespacePath(b), { team })
    await eventually(async () => expectSelected(b, name))
    await label(namespacePath(a), { team: null })
    await eventually(async () => {
      await expectUnselected(a, name)
      await expectSelected(b, name)
      expect((await getIps(name)).status).toMatchObject({ secretsDesired: 1, secretsSuccess: 1 })
    })
    await deleteIps(name)
  })

  test("changing the selector and the exclusions converges in place", async () => {
    const run = uniqueName("tier")
    const [web, batch] = [uniqueName("sel-web"), uniqueName("sel-batch")]
    await createLabelledNamespace(web, { tier: "web", run })
    await createLabelledNamespace(batch, { tier: "batch", run })
    for (const ns of [web, batch]) await createServiceAccount(cluster, ns, "app", ["user-entry"])
    const name = uniqueName("sel-edit")
    await createIps(name, {
      namespaceSelector: { matchLabels: { run }, matchExpressions: [{ key: "tier", operator: "In", values: ["web"] }] }
    })
    await eventually(async () => {
      await expectSelected(web, name)
      await expectUnselected(batch, name)
    })

    await patchIps(name, {
      namespaceSelector: { matchLabels: { run }, matchExpressions: [{ key: "tier", operator: "NotIn", values: ["web"] }] },
      excludedServiceAccounts: ["de*"]
    })
    await eventually(async () => {
      await expectUnselected(web, name)
      await expectSelected(batch, name)
      expect(await serviceAccountEntries(cluster, batch, "default")).toEqual([])
      expect((await getIps(name)).status).toMatchObject({ observedGeneration: 2, secretsDesired: 1, serviceAccountsDesired: 1 })
    })

    await patchIps(name, { excludedNamespaces: [batch] })
    await eventually(async () => {
      await expectUnselected(batch, name)
      expect((await getIps(name)).status).toMatchObject({ secretsDesired: 0 })
    })
    await deleteIps(name)
  })
})

describe("globs and exclusions", () => {
  test("a glob in namespaces selects the namespaces it matches, now and later", async () => {
    const prefix = uniqueName("glob")
    const [one, other] = [`${prefix}-one`, uniqueName("nomatch")]
    for (const ns of [one, other]) {
      await createNamespace(cluster, ns)
      await createServiceAccount(cluster, ns, "app", ["user-entry"])
    }
    const name = uniqueName("glob-ips")
    await createIps(name, { namespaces: `${prefix}-*`, serviceAccounts: "app" })
    await eventually(async () => {
      await expectSelected(one, name)
      await expectUnselected(other, name)
    })
    const later = `${prefix}-later`
    await createNamespace(cluster, later)
    await createServiceAccount(cluster, later, "app", ["user-entry"])
    await eventually(async () => expectSelected(later, name))
    await deleteIps(name)
  })

  test("\"*\" with excludedNamespaces kube-* leaves the system namespaces alone and reaches the others", async () => {
    const ns = uniqueName("star")
    await createNamespace(cluster, ns)
    await createServiceAccount(cluster, ns, "app", ["user-entry"])
    const name = uniqueName("star-ips")
    await createIps(name, { namespaces: "*", serviceAccounts: "app,default", excludedNamespaces: ["kube-*"] })
    await eventually(async () => expectSelected(ns, name))
    for (const system of ["kube-system", "kube-public", "kube-node-lease"]) {
      expect(await secretOf(system, name)).toBeUndefined()
      expect(await serviceAccountEntries(cluster, system, "default")).not.toContain(`tcr.ips${name}`)
    }
    await deleteIps(name)
  })
})

describe("opt-out label", () => {
  test("a Namespace or ServiceAccount labelled tcr.tencentcloudcr.com/ignore=true is left alone, and cleaned up when it opts out later", async () => {
    const [quiet, loud] = [uniqueName("optout-quiet"), uniqueName("optout-loud")]
    await createLabelledNamespace(quiet, { [optOut]: "true" })
    await createNamespace(cluster, loud)
    for (const ns of [quiet, loud]) await createServiceAccount(cluster, ns, "app", ["user-entry"])
    await cluster.request({
      method: "POST",
      path: `/api/v1/namespaces/${loud}/serviceaccounts`,
      body: { metadata: { name: "robot", labels: { [optOut]: "true" } }, imagePullSecrets: [{ name: "user-entry" }] }
    })
    const name = uniqueName("optout")
    await createIps(name, { namespaces: `${quiet},${loud}`, serviceAccounts: "app,robot" })
    await eventually(async () => {
      await expectSelected(loud, name)
      await expectUnselected(quiet, name)
      expect(await serviceAccountEntries(cluster, loud, "robot")).toEqual(["user-entry"])
      expect((await getIps(name)).status).toMatchObject({ secretsDesired: 1, serviceAccountsDesired: 1, serviceAccountsSuccess: 1 })
    })

    // Opting out later removes what was distributed; opting back in brings it back.
    await label(serviceAccountPath(loud, "app"), { [optOut]: "true" })
    await eventually(async () => expect(await serviceAccountEntries(cluster, loud, "app")).toEqual(["user-entry"]))
    await label(namespacePath(loud), { [optOut]: "true" })
    await eventually(async () => expectUnselected(loud, name))
    await label(namespacePath(loud), { [optOut]: null })
    await label(serviceAccountPath(loud, "app"), { [optOut]: null })
    await eventually(async () => expectSelected(loud, name))
    await deleteIps(name)
  })
})

describe("validation of the selection fields", () => {
  test("the CRD refuses In without values and Exists with values, at their paths", async () => {
    const refused = await cluster.request({
      method: "POST",
      path: ipsPath,
      body: {
        apiVersion: "tcr.tencentcloudcr.com/v1",
        kind: "ImagePullSecret",
        metadata: { name: uniqueName("sel-cel") },
        spec: {
          docker,
          namespaceSelector: { matchExpressions: [{ key: "env", operator: "In" }, { key: "env", operator: "Exists", values: ["a"] }] }
        }
      }
    }).then(() => "created", (error: { message?: string }) => error.message ?? String(error))
    expect(refused).toContain("spec.namespaceSelector.matchExpressions[0]")
    expect(refused).toContain("spec.namespaceSelector.matchExpressions[1]")
    expect(refused).toContain("values must be non-empty for the operators In and NotIn")
  })

  test("a selection the CRD cannot judge (label key and glob grammar) reaches the controller, which changes nothing and says where", async () => {
    const ns = uniqueName("sel-invalid")
    await createNamespace(cluster, ns)
    await createServiceAccount(cluster, ns, "app", ["user-entry"])
    const name = uniqueName("sel-invalid")
    await createIps(name, { namespaces: ns, serviceAccounts: "app" })
    await eventually(async () => expectSelected(ns, name))
    await patchIps(name, { excludedNamespaces: ["Kube-*"], namespaceSelector: { matchLabels: { "bad key": "x" } } })
    await eventually(async () => {
      const condition = (await getIps(name)).status?.conditions?.[0]
      expect(condition).toMatchObject({ status: "False", reason: "InvalidSpec" })
      expect(condition.message).toContain("spec.excludedNamespaces.0")
      expect(condition.message).toContain("spec.namespaceSelector.matchLabels")
      expect(condition.message).not.toContain(docker.password)
    })
    // What was distributed stays as it was.
    await expectSelected(ns, name)
    await deleteIps(name)
  })
})

describe("printer columns", () => {
  test("kubectl get shows the seed's columns; -o wide adds the label selector and the exclusions", async () => {
    const name = uniqueName("sel-columns")
    await createIps(name, { namespaces: "team-*", namespaceSelector: { matchLabels: { tier: "web" } }, excludedNamespaces: ["kube-*"] })
    const narrow = await kubectl(inject("kubeconfigPath"), ["get", "ipss", name])
    const [header, row] = narrow.stdout.trimEnd().split("\n")
    expect(header?.trim().split(/\s+/)).toEqual(["NAME", "NAMESPACES", "SERVICE-ACCOUNTS", "SECRETS-DESIRED", "SECRETS-SUCCESS", "READY", "AGE"])
    expect(row).toMatch(new RegExp(`^${name}\\s+team-\\*\\s`))
    const wide = await kubectl(inject("kubeconfigPath"), ["get", "ipss", name, "-o", "wide"])
    expect(wide.stdout).toContain("NAMESPACE-SELECTOR")
    expect(wide.stdout).toContain('{"matchLabels":{"tier":"web"}}')
    expect(wide.stdout).toContain('["kube-*"]')
    await deleteIps(name)
  })
})
