// The controller against a real control plane: distribution, edits, drift repair, deletion and the user's data.
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import {
  connect,
  createNamespace,
  createServiceAccount,
  decodeDockerConfig,
  eventually,
  imagePullSecret,
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

const docker = { server: "registry.example.com", username: "robot", password: "first-password" }

const secretOf = (namespace: string, ips: string) =>
  cluster.get<any>(`/api/v1/namespaces/${namespace}/secrets/tcr.ips${ips}`)

const getIps = (name: string) => cluster.get<any>(`${ipsPath}/${name}`)

const waitForDefaultServiceAccount = (namespace: string) =>
  eventually(async () => expect(await serviceAccountEntries(cluster, namespace, "default")).toBeDefined())

const deleteIps = async (name: string) => {
  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` }).catch(() => undefined)
  await eventually(async () => expect(await getIps(name)).toBeUndefined())
}

describe("distribution", () => {
  test("a new ImagePullSecret reaches every selected namespace and ServiceAccount, and only those", async () => {
    const [a, b, other] = [uniqueName("dist-a"), uniqueName("dist-b"), uniqueName("dist-other")]
    for (const ns of [a, b, other]) await createNamespace(cluster, ns)
    await createServiceAccount(cluster, a, "builder")
    await createServiceAccount(cluster, b, "builder")
    const name = uniqueName("dist")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: `${a}, ${b}`, serviceAccounts: "*", docker }) })

    await eventually(async () => {
      for (const ns of [a, b]) {
        const secret = await secretOf(ns, name)
        expect(secret?.type).toBe("kubernetes.io/dockerconfigjson")
        expect(decodeDockerConfig(secret).auths["registry.example.com"]).toMatchObject({ username: "robot", password: "first-password" })
        expect(await serviceAccountEntries(cluster, ns, "builder")).toEqual([`tcr.ips${name}`])
        expect(await serviceAccountEntries(cluster, ns, "default")).toEqual([`tcr.ips${name}`])
      }
    })
    expect(await secretOf(other, name)).toBeUndefined()
    await eventually(async () => expect(await serviceAccountEntries(cluster, other, "default")).toEqual([]))

    await eventually(async () => {
      const status = (await getIps(name)).status
      expect(status).toMatchObject({ secretsDesired: 2, secretsSuccess: 2, serviceAccountsDesired: 4, serviceAccountsSuccess: 4 })
      // The seed's names for the same counts.
      expect(status).toMatchObject({ SAsDesired: 4, SAsSuccess: 4 })
      expect(status.conditions[0]).toMatchObject({ type: "Ready", status: "True", observedGeneration: 1 })
    })
    await deleteIps(name)
  })

  test("a namespace created later gets its Secret and its default ServiceAccount patched", async () => {
    const name = uniqueName("late")
    const ns = uniqueName("late-ns")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, serviceAccounts: "default", docker }) })
    await eventually(async () => expect((await getIps(name)).status?.secretsDesired).toBe(0))
    await createNamespace(cluster, ns)
    await createServiceAccount(cluster, ns, "not-selected")
    await eventually(async () => {
      expect(await secretOf(ns, name)).toBeDefined()
      expect(await serviceAccountEntries(cluster, ns, "default")).toEqual([`tcr.ips${name}`])
    })
    expect(await serviceAccountEntries(cluster, ns, "not-selected")).toEqual([])
    await deleteIps(name)
  })

  test("several ImagePullSecrets share namespaces and ServiceAccounts", async () => {
    const ns = uniqueName("shared")
    await createNamespace(cluster, ns)
    await waitForDefaultServiceAccount(ns)
    const [one, two] = [uniqueName("one"), uniqueName("two")]
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(one, { namespaces: ns, docker }) })
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(two, { namespaces: ns, docker: { ...docker, server: "other.example.com" } }) })
    await eventually(async () => {
      const entries = await serviceAccountEntries(cluster, ns, "default")
      expect([...(entries ?? [])].sort()).toEqual([`tcr.ips${one}`, `tcr.ips${two}`].sort())
    })
    await deleteIps(one)
    await eventually(async () => expect(await serviceAccountEntries(cluster, ns, "default")).toEqual([`tcr.ips${two}`]))
    expect(await secretOf(ns, one)).toBeUndefined()
    expect(await secretOf(ns, two)).toBeDefined()
    await deleteIps(two)
  })
})

describe("the user's data", () => {
  test("user entries in a ServiceAccount survive distribution, edits and deletion, in their order", async () => {
    const ns = uniqueName("user")
    await createNamespace(cluster, ns)
    await createServiceAccount(cluster, ns, "app", ["user-first", "user-second"])
    const name = uniqueName("keep")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, serviceAccounts: "app", docker }) })
    await eventually(async () =>
      expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-first", "user-second", `tcr.ips${name}`])
    )
    // The user adds another entry after ours.
    const sa = await cluster.get<any>(`/api/v1/namespaces/${ns}/serviceaccounts/app`)
    await cluster.request({
      method: "PATCH",
      path: `/api/v1/namespaces/${ns}/serviceaccounts/app`,
      body: [{ op: "add", path: "/imagePullSecrets/-", value: { name: "user-third" } }, { op: "test", path: "/metadata/resourceVersion", value: sa.metadata.resourceVersion }]
    })
    // Credentials edit: entries untouched.
    await cluster.request({ method: "PATCH", path: `${ipsPath}/${name}`, contentType: "application/merge-patch+json", body: { spec: { docker: { password: "second-password" } } } })
    await eventually(async () => expect(decodeDockerConfig(await secretOf(ns, name)).auths["registry.example.com"].password).toBe("second-password"))
    expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-first", "user-second", `tcr.ips${name}`, "user-third"])
    await deleteIps(name)
    await eventually(async () => expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-first", "user-second", "user-third"]))
    expect(await secretOf(ns, name)).toBeUndefined()
  })

  test("a Secret of the same name that we do not own is never overwritten, and the conflict is reported", async () => {
    const ns = uniqueName("conflict")
    await createNamespace(cluster, ns)
    const name = uniqueName("clash")
    await cluster.request({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: `tcr.ips${name}` }, type: "Opaque", stringData: { mine: "user data" } }
    })
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, docker }) })
    await eventually(async () => {
      const status = (await getIps(name)).status
      expect(status.targets).toContainEqual(expect.objectContaining({ kind: "Secret", namespace: ns, state: "Conflict", reason: "SecretNotOwned" }))
      expect(status.conditions[0]).toMatchObject({ status: "False", reason: "TargetsFailing" })
    })
    const secret = await secretOf(ns, name)
    expect(secret.type).toBe("Opaque")
    expect(Buffer.from(secret.data.mine, "base64").toString()).toBe("user data")
    // Our entry is not added to ServiceAccounts while the Secret is someone else's.
    expect(await serviceAccountEntries(cluster, ns, "default")).toEqual([])
    await deleteIps(name)
    expect((await secretOf(ns, name))?.type).toBe("Opaque")
  })
})

describe("edits", () => {
  test("credentials edited: every Secret is updated in place", async () => {
    const ns = uniqueName("creds")
    await createNamespace(cluster, ns)
    const name = uniqueName("creds")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, docker }) })
    const before = await eventually(async () => {
      const secret = await secretOf(ns, name)
      expect(secret).toBeDefined()
      return secret
    })
    await cluster.request({ method: "PATCH", path: `${ipsPath}/${name}`, contentType: "application/merge-patch+json", body: { spec: { docker: { username: "robot2", password: "rotated" } } } })
    await eventually(async () => {
      const after = await secretOf(ns, name)
      expect(decodeDockerConfig(after).auths["registry.example.com"]).toMatchObject({ username: "robot2", password: "rotated" })
      expect(after.metadata.uid).toBe(before.metadata.uid)
    })
    await deleteIps(name)
  })

  test("selector narrowed: targets no longer matched lose our entry and our Secret", async () => {
    const [keep, drop] = [uniqueName("narrow-keep"), uniqueName("narrow-drop")]
    for (const ns of [keep, drop]) {
      await createNamespace(cluster, ns)
      await createServiceAccount(cluster, ns, "app", ["user-entry"])
    }
    const name = uniqueName("narrow")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: `${keep},${drop}`, docker }) })
    await eventually(async () => {
      for (const ns of [keep, drop]) expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-entry", `tcr.ips${name}`])
    })
    await cluster.request({ method: "PATCH", path: `${ipsPath}/${name}`, contentType: "application/merge-patch+json", body: { spec: { namespaces: keep, serviceAccounts: "app" } } })
    await eventually(async () => {
      expect(await secretOf(drop, name)).toBeUndefined()
      expect(await serviceAccountEntries(cluster, drop, "app")).toEqual(["user-entry"])
      expect(await serviceAccountEntries(cluster, drop, "default")).toEqual([])
      expect(await serviceAccountEntries(cluster, keep, "default")).toEqual([])
      expect(await serviceAccountEntries(cluster, keep, "app")).toEqual(["user-entry", `tcr.ips${name}`])
    })
    expect(await secretOf(keep, name)).toBeDefined()
    await deleteIps(name)
  })
})

describe("drift repair", () => {
  test("a managed Secret deleted or edited by hand, an entry removed, a ServiceAccount recreated: all repaired", async () => {
    const ns = uniqueName("drift")
    await createNamespace(cluster, ns)
    await createServiceAccount(cluster, ns, "app")
    const name = uniqueName("drift")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, serviceAccounts: "app", docker }) })
    const secretPath = `/api/v1/namespaces/${ns}/secrets/tcr.ips${name}`
    await eventually(async () => expect(await serviceAccountEntries(cluster, ns, "app")).toEqual([`tcr.ips${name}`]))

    await cluster.request({ method: "DELETE", path: secretPath })
    await eventually(async () => expect(decodeDockerConfig(await secretOf(ns, name)).auths["registry.example.com"].password).toBe("first-password"))

    await cluster.request({ method: "PATCH", path: secretPath, contentType: "application/merge-patch+json", body: { data: { ".dockerconfigjson": Buffer.from("{}").toString("base64") } } })
    await eventually(async () => expect(decodeDockerConfig(await secretOf(ns, name)).auths?.["registry.example.com"]?.password).toBe("first-password"))

    await cluster.request({ method: "PATCH", path: `/api/v1/namespaces/${ns}/serviceaccounts/app`, contentType: "application/merge-patch+json", body: { imagePullSecrets: [] } })
    await eventually(async () => expect(await serviceAccountEntries(cluster, ns, "app")).toEqual([`tcr.ips${name}`]))

    await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${ns}/serviceaccounts/app` })
    await eventually(async () => expect(await serviceAccountEntries(cluster, ns, "app")).toBeUndefined())
    await createServiceAccount(cluster, ns, "app")
    await eventually(async () => expect(await serviceAccountEntries(cluster, ns, "app")).toEqual([`tcr.ips${name}`]))
    await deleteIps(name)
  })
})

describe("deletion", () => {
  test("deleting the ImagePullSecret removes entries, then Secrets, then the finalizer", async () => {
    const ns = uniqueName("delete")
    await createNamespace(cluster, ns)
    await createServiceAccount(cluster, ns, "app", ["user-entry"])
    const name = uniqueName("delete")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: ns, docker }) })
    await eventually(async () => {
      expect((await getIps(name)).metadata.finalizers).toContain("tcr.tencentcloudcr.com/cleanup")
      expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-entry", `tcr.ips${name}`])
    })
    await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
    await eventually(async () => expect(await getIps(name)).toBeUndefined())
    expect(await secretOf(ns, name)).toBeUndefined()
    expect(await serviceAccountEntries(cluster, ns, "app")).toEqual(["user-entry"])
    expect(await serviceAccountEntries(cluster, ns, "default")).toEqual([])
  })

  test("a namespace being deleted is skipped quietly and the rest converges", async () => {
    const [live, dying] = [uniqueName("live"), uniqueName("dying")]
    for (const ns of [live, dying]) await createNamespace(cluster, ns)
    // A finalizer of ours on a ConfigMap keeps the namespace terminating for as long as the test needs.
    await cluster.request({
      method: "POST",
      path: `/api/v1/namespaces/${dying}/configmaps`,
      body: { metadata: { name: "hold", finalizers: ["example.com/hold"] } }
    })
    await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${dying}` })
    await eventually(async () => expect((await cluster.get<any>(`/api/v1/namespaces/${dying}`)).status.phase).toBe("Terminating"))
    const name = uniqueName("skip")
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: `${live},${dying}`, docker }) })
    await eventually(async () => {
      const status = (await getIps(name)).status
      expect(status).toMatchObject({ secretsDesired: 1, secretsSuccess: 1 })
      expect(status.conditions[0].status).toBe("True")
    })
    expect(await secretOf(dying, name)).toBeUndefined()
    await cluster.request({
      method: "PATCH",
      path: `/api/v1/namespaces/${dying}/configmaps/hold`,
      contentType: "application/merge-patch+json",
      body: { metadata: { finalizers: null } }
    })
    await deleteIps(name)
  })
})

describe("validation in the controller", () => {
  test("an invalid spec that reached the cluster changes nothing and says why", async () => {
    const ns = uniqueName("invalid")
    await createNamespace(cluster, ns)
    const name = uniqueName("invalid")
    // The CRD's structural schema cannot judge the selector grammar; only the webhook and the controller do, so
    // such an object can exist when the webhook is not installed.
    await cluster.request({ method: "POST", path: ipsPath, body: imagePullSecret(name, { namespaces: `${ns},Not_A_Namespace`, docker }) })
    await eventually(async () => {
      const condition = (await getIps(name)).status?.conditions?.[0]
      expect(condition).toMatchObject({ status: "False", reason: "InvalidSpec" })
      expect(condition.message).toContain("spec.namespaces")
      expect(condition.message).not.toContain("first-password")
    })
    expect(await secretOf(ns, name)).toBeUndefined()
    await deleteIps(name)
  })
})
