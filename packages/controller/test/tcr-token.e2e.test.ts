// ImagePullSecrets that name a TCR instance: the controller mints the registry token through the TCR API (the local
// double, reached through the real SDK), distributes it, renews it before it expires, and never reveals the keys.
import { parsePrometheus, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { TcrApi } from "@tcr-assistant/tcr"
import { startTcrDouble, type TcrDouble } from "@tcr-assistant/testkit/tcr-double"
import { Effect } from "effect"
import { afterAll, beforeAll, expect, inject, test } from "vitest"
import { makeTcrTokenIssuer, type TokenIssuer } from "../src/registry-token.ts"
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
let double: TcrDouble
let running: RunningController
const credentialsNamespace = uniqueName("tcr-keys")

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  // Short-lived tokens, so renewal happens within the test.
  double = await startTcrDouble({ tempTokenLifetimeMillis: 6_000 })
  const issuer: TokenIssuer = await Effect.runPromise(
    makeTcrTokenIssuer.pipe(Effect.provide(TcrApi.layerWith({ endpoint: double.endpoint })))
  )
  await createNamespace(cluster, credentialsNamespace)
  running = await runController(cluster.kubeconfigPath, { tokenIssuer: issuer, defaultCredentialsNamespace: credentialsNamespace })
})

afterAll(async () => {
  await running?.stop()
  await double?.close()
  await cluster?.dispose()
})

const keysSecret = (name: string, secretId: string, secretKey: string) =>
  cluster.request({
    method: "POST",
    path: `/api/v1/namespaces/${credentialsNamespace}/secrets`,
    body: { metadata: { name }, stringData: { secretId, secretKey } }
  })

const tcrImagePullSecret = (name: string, namespaces: string, instanceId: string, keys: string) => ({
  apiVersion: "tcr.tencentcloudcr.com/v1",
  kind: "ImagePullSecret",
  metadata: { name },
  spec: { namespaces, tcr: { region: "ap-guangzhou", instanceId, credentialsSecretRef: { name: keys } } }
})

test("a token is minted, distributed and renewed before it expires", async () => {
  const startedAt = Date.now() / 1000
  const instance = double.seedInstance({ name: uniqueName("registry"), region: "ap-guangzhou" })
  const ns = uniqueName("tcr-ns")
  await createNamespace(cluster, ns)
  await keysSecret("good-keys", double.secretId, double.secretKey)
  const name = uniqueName("tcr")
  await cluster.request({ method: "POST", path: ipsPath, body: tcrImagePullSecret(name, ns, instance.id, "good-keys") })

  const readAuth = async () => {
    const secret = await cluster.get<any>(`/api/v1/namespaces/${ns}/secrets/tcr.ips${name}`)
    expect(secret).toBeDefined()
    const auths = decodeDockerConfig(secret).auths
    expect(Object.keys(auths)).toEqual([`${instance.name}.tencentcloudcr.com`])
    return { auth: auths[`${instance.name}.tencentcloudcr.com`], uid: secret.metadata.uid as string }
  }
  const first = await eventually(readAuth)
  expect(double.checkToken(first.auth.username, first.auth.password)).toBe("valid")
  await eventually(async () => expect((await cluster.get<any>(`${ipsPath}/${name}`)).status?.conditions?.[0]?.status).toBe("True"))
  // The token never lands in the ImagePullSecret itself.
  expect(JSON.stringify(await cluster.get(`${ipsPath}/${name}`))).not.toContain(first.auth.password)

  // Renewal: a new token replaces the old one in place before the old one expires.
  const renewed = await eventually(async () => {
    const next = await readAuth()
    expect(next.auth.password).not.toBe(first.auth.password)
    return next
  }, 30_000)
  expect(renewed.uid).toBe(first.uid)
  expect(double.checkToken(renewed.auth.username, renewed.auth.password)).toBe("valid")

  // The metrics say when the current token expires and count the TCR calls (the controller runs in this process,
  // recording into the default registry).
  const scrape = () => parsePrometheus(scrapePrometheusUnsafe(Effect.runSync(Effect.context<never>())))
  const expirySeries = `tcr_assistant_registry_token_expiry_timestamp_seconds{imagepullsecret="${name}",source="minted"}`
  const expiry = scrape().get(expirySeries)!
  // Every token minted since the test started expires after it started.
  expect(expiry).toBeGreaterThan(startedAt)
  expect(expiry).toBeLessThan(Date.now() / 1000 + 60)
  // The status says when the distributed token expires, as the metric does (to the second).
  await eventually(async () => {
    const shown = Date.parse((await cluster.get<any>(`${ipsPath}/${name}`)).status?.tokenExpiresAt ?? "")
    expect(Math.abs(shown / 1000 - scrape().get(expirySeries)!)).toBeLessThanOrEqual(1)
  })
  expect(scrape().get(`tcr_assistant_tcr_api_requests_total{action="CreateInstanceToken",result="success"}`)).toBeGreaterThanOrEqual(2)

  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  await eventually(async () => expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined())
  // No token, no expiry series.
  await eventually(() => expect(scrape().has(expirySeries)).toBe(false))
})

test("wrong API keys: the status says why, nothing is distributed, and no key is revealed", async () => {
  const instance = double.seedInstance({ name: uniqueName("registry"), region: "ap-guangzhou" })
  const ns = uniqueName("tcr-bad")
  await createNamespace(cluster, ns)
  const wrongKey = "wrong-secret-key-0123456789"
  await keysSecret("bad-keys", double.secretId, wrongKey)
  const name = uniqueName("tcr-bad")
  await cluster.request({ method: "POST", path: ipsPath, body: tcrImagePullSecret(name, ns, instance.id, "bad-keys") })
  const condition = await eventually(async () => {
    const found = (await cluster.get<any>(`${ipsPath}/${name}`)).status?.conditions?.[0]
    expect(found).toMatchObject({ status: "False", reason: "TokenUnavailable" })
    return found
  })
  expect(condition.message).toMatch(/Auth/)
  // Each retry fails the same way, so its Warning Event is one Event counted up: the message carries no RequestId,
  // which would be new at every attempt (it goes to the log instead).
  const events = await eventually(async () => {
    const list = await cluster.get<{ items: Array<{ reason: string; message: string; count?: number }> }>(
      `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=ImagePullSecret,involvedObject.name=${name}`)}`
    )
    const unavailable = (list?.items ?? []).filter((event) => event.reason === "TokenUnavailable")
    expect(unavailable).toHaveLength(1)
    expect(unavailable[0]!.count ?? 1).toBeGreaterThanOrEqual(2)
    return unavailable
  }, 60_000)
  expect(events[0]!.message).toMatch(/AuthFailure/)
  expect(events[0]!.message).not.toMatch(/RequestId/)
  expect(condition.message).not.toMatch(/RequestId/)
  expect(JSON.stringify(await cluster.get(`${ipsPath}/${name}`))).not.toContain(wrongKey)
  expect(await cluster.get(`/api/v1/namespaces/${ns}/secrets/tcr.ips${name}`)).toBeUndefined()
  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  await eventually(async () => expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined())
})

test("API keys with bytes that cannot go into a header: the status names the field, not the key or a signature", async () => {
  const instance = double.seedInstance({ name: uniqueName("registry"), region: "ap-guangzhou" })
  const ns = uniqueName("tcr-bytes")
  await createNamespace(cluster, ns)
  // A trailing newline, as `echo` into a file and `--from-file` leave it.
  await keysSecret("newline-keys", `${double.secretId}\n`, double.secretKey)
  const name = uniqueName("tcr-bytes")
  const callsBefore = double.calls().length
  await cluster.request({ method: "POST", path: ipsPath, body: tcrImagePullSecret(name, ns, instance.id, "newline-keys") })
  const condition = await eventually(async () => {
    const found = (await cluster.get<any>(`${ipsPath}/${name}`)).status?.conditions?.[0]
    expect(found).toMatchObject({ status: "False", reason: "TokenUnavailable" })
    return found
  })
  expect(condition.message).toContain("secretId contains characters that are not allowed")
  const stored = JSON.stringify(await cluster.get(`${ipsPath}/${name}`))
  expect(stored).not.toContain(double.secretId)
  expect(stored).not.toMatch(/Signature|Credential=|TC3-HMAC/)
  // Nothing was sent with those keys.
  expect(double.calls().length).toBe(callsBefore)
  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  await eventually(async () => expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined())
})
