// Credentials by reference on a real control plane: copies follow the watched source Secret in place within
// seconds, and a missing or malformed source keeps the last good copies and explains itself without the value.
import { tokenExpiresAtAnnotation } from "@tcr-assistant/api"
import { parsePrometheus, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import {
  connect,
  createNamespace,
  decodeDockerConfig,
  eventually,
  ipsPath,
  runController,
  type RunningController,
  type TestCluster,
  uniqueName
} from "./support.ts"

let cluster: TestCluster
let running: RunningController
/** The add-on's namespace for this run: where a secretRef without a namespace points. */
const addonNamespace = uniqueName("src-addon")
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  await createNamespace(cluster, addonNamespace)
  running = await runController(cluster.kubeconfigPath, {
    defaultCredentialsNamespace: addonNamespace
  })
})

afterAll(async () => {
  await running?.stop()
  await cluster?.dispose()
})

/** The Events about an ImagePullSecret (cluster-scoped, so they live in `default`). */
const eventsOf = async (ips: string): Promise<ReadonlyArray<{ readonly reason: string; readonly message: string }>> =>
  (await cluster.get<{ items: Array<{ reason: string; message: string }> }>(
    `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=ImagePullSecret,involvedObject.name=${ips}`)}`
  ))?.items ?? []

const secretsPath = (ns: string) => `/api/v1/namespaces/${ns}/secrets`
const copyOf = (namespace: string, ips: string) => cluster.get<any>(`${secretsPath(namespace)}/tcr.ips${ips}`)
const readyOf = async (ips: string) =>
  (await cluster.get<any>(`${ipsPath}/${ips}`))?.status?.conditions?.find((c: { type: string }) => c.type === "Ready")

const dockerConfigSource = (name: string, auths: Record<string, { username: string; password: string }>) => ({
  metadata: { name },
  type: "kubernetes.io/dockerconfigjson",
  data: { ".dockerconfigjson": b64(JSON.stringify({ auths })) }
})

const putSecret = (
  ns: string,
  body: { readonly metadata: { readonly name: string; readonly [key: string]: unknown }; readonly [key: string]: unknown }
) =>
  cluster.request({ method: "PUT", path: `${secretsPath(ns)}/${body.metadata.name}`, body })

const createIps = (name: string, namespaces: string, secretRef: Record<string, string>) =>
  cluster.request({
    method: "POST",
    path: ipsPath,
    body: { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name }, spec: { namespaces, secretRef } }
  })

const deleteIps = async (name: string) => {
  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` }).catch(() => undefined)
  await eventually(async () => expect(await cluster.get<any>(`${ipsPath}/${name}`)).toBeUndefined())
}

const expectCopies = async (ips: string, namespaces: ReadonlyArray<string>, server: string, credentials: object) => {
  for (const ns of namespaces) {
    expect(decodeDockerConfig(await copyOf(ns, ips)).auths[server]).toMatchObject(credentials)
  }
}

describe("credentials by reference", () => {
  test("rotating a dockerconfigjson source Secret rotates every copy in place", async () => {
    const [sourceNs, a, b] = [uniqueName("src"), uniqueName("src-a"), uniqueName("src-b")]
    for (const ns of [sourceNs, a, b]) await createNamespace(cluster, ns)
    const server = "vault.example.com"
    // Two entries: secretRef.server picks one.
    await cluster.request({
      method: "POST",
      path: secretsPath(sourceNs),
      body: dockerConfigSource("pull", { [server]: { username: "robot", password: "first-pw" }, "other.example.com": { username: "x", password: "y" } })
    })
    const ips = uniqueName("src-ref")
    await createIps(ips, `${a},${b}`, { name: "pull", namespace: sourceNs, server })
    await eventually(async () => {
      await expectCopies(ips, [a, b], server, { username: "robot", password: "first-pw" })
      expect(await readyOf(ips)).toMatchObject({ status: "True" })
    })
    const uids = await Promise.all([a, b].map(async (ns) => (await copyOf(ns, ips)).metadata.uid))

    // The controller runs in this process and records into the default registry.
    const expirySeries = `tcr_assistant_registry_token_expiry_timestamp_seconds{imagepullsecret="${ips}",source="secret"}`
    const scrape = () => parsePrometheus(scrapePrometheusUnsafe(Effect.runSync(Effect.context<never>()))).get(expirySeries)
    expect(scrape()).toBeUndefined()

    const rotatedAt = Date.now()
    const rotated = dockerConfigSource("pull", { [server]: { username: "robot", password: "second-pw" } })
    // The new token's expiry travels on the Secret as an annotation.
    await putSecret(sourceNs, { ...rotated, metadata: { ...rotated.metadata, annotations: { [tokenExpiresAtAnnotation]: "2036-01-02T03:04:05Z" } } })
    await eventually(async () => await expectCopies(ips, [a, b], server, { username: "robot", password: "second-pw" }))
    console.log(`source rotation reached 2 copies in ${Date.now() - rotatedAt} ms`)
    expect(await Promise.all([a, b].map(async (ns) => (await copyOf(ns, ips)).metadata.uid))).toEqual(uids)
    await eventually(async () => expect(scrape()).toBe(Date.parse("2036-01-02T03:04:05Z") / 1000))
    // And in the ImagePullSecret's status, where `kubectl describe` shows it.
    await eventually(async () => expect((await cluster.get<any>(`${ipsPath}/${ips}`)).status.tokenExpiresAt).toBe("2036-01-02T03:04:05Z"))
    await deleteIps(ips)
    await eventually(async () => expect(scrape()).toBeUndefined())
  })

  test("a malformed or missing source keeps the last good copies and says why, without the value", async () => {
    const target = uniqueName("src-keep")
    await createNamespace(cluster, target)
    const server = "keys.example.com"
    const good = { metadata: { name: "keys" }, type: "Opaque", data: { server: b64(server), username: b64("robot"), password: b64("good-pw-1") } }
    await cluster.request({ method: "POST", path: secretsPath(addonNamespace), body: good })
    const ips = uniqueName("src-keys")
    // No namespace in the reference: the add-on's.
    await createIps(ips, target, { name: "keys" })
    await eventually(async () => await expectCopies(ips, [target], server, { username: "robot", password: "good-pw-1" }))

    // Malformed: the password key is gone and the username holds something else.
    await putSecret(addonNamespace, { ...good, data: { server: b64(server), username: b64("Broken-Sentinel-4411") } })
    await eventually(async () => {
      const ready = await readyOf(ips)
      expect(ready).toMatchObject({ status: "False", reason: "CredentialSourceUnavailable" })
      expect(ready.message).toContain(`source Secret ${addonNamespace}/keys`)
      expect(ready.message).toContain("username and password")
    })
    await eventually(async () => expect((await eventsOf(ips)).map((event) => event.reason)).toContain("CredentialSourceUnavailable"))
    await expectCopies(ips, [target], server, { username: "robot", password: "good-pw-1" })

    // Missing.
    await cluster.request({ method: "DELETE", path: `${secretsPath(addonNamespace)}/keys` })
    await eventually(async () => expect((await readyOf(ips)).message).toContain(`source Secret ${addonNamespace}/keys: not found`))
    await expectCopies(ips, [target], server, { username: "robot", password: "good-pw-1" })
    const status = JSON.stringify((await cluster.get<any>(`${ipsPath}/${ips}`)).status)
    const events = await eventsOf(ips)
    for (const value of ["good-pw-1", b64("good-pw-1"), "Broken-Sentinel-4411", b64("Broken-Sentinel-4411")]) {
      expect(status).not.toContain(value)
      for (const event of events) expect(event.message).not.toContain(value)
    }

    // Back again, with a new password: the copy follows and Ready returns.
    await cluster.request({ method: "POST", path: secretsPath(addonNamespace), body: { ...good, data: { ...good.data, password: b64("good-pw-2") } } })
    await eventually(async () => {
      await expectCopies(ips, [target], server, { username: "robot", password: "good-pw-2" })
      expect(await readyOf(ips)).toMatchObject({ status: "True" })
    })
    await deleteIps(ips)
  })

  test("an ImagePullSecret whose source Secret never existed distributes nothing and explains", async () => {
    const target = uniqueName("src-none")
    await createNamespace(cluster, target)
    const ips = uniqueName("src-none")
    await createIps(ips, target, { name: "absent" })
    await eventually(async () =>
      expect(await readyOf(ips)).toMatchObject({
        status: "False",
        reason: "CredentialSourceUnavailable",
        message: expect.stringContaining(`source Secret ${addonNamespace}/absent: not found`)
      })
    )
    expect(await copyOf(target, ips)).toBeUndefined()
    await deleteIps(ips)
  })

  test("the CRD refuses a spec with two sources", async () => {
    const error = await cluster.request({
      method: "POST",
      path: ipsPath,
      body: {
        apiVersion: "tcr.tencentcloudcr.com/v1",
        kind: "ImagePullSecret",
        metadata: { name: uniqueName("src-two") },
        spec: { secretRef: { name: "x" }, docker: { server: "r.example.com", username: "u", password: "p" } }
      }
    }).then(() => undefined, (e: { message?: string }) => e)
    expect(error?.message).toContain("exactly one of spec.docker, spec.tcr and spec.secretRef must be set")
  })
})
