// The validating webhook for real: kube-apiserver calls it at a 127.0.0.1 URL, trusting the CA bundle that the
// webhook's own TLS code wrote into the ValidatingWebhookConfiguration; kubectl shows its message; certificates are
// renewed and hot-reloaded while the apiserver keeps calling; replicas racing for the Secret agree on one.
import { freePort, kubectl as runKubectl } from "@tcr-assistant/testkit/processes"
import { KubeClient } from "@tcr-assistant/kube"
import { parsePrometheus, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { connect as tlsConnect } from "node:tls"
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest"
import { AdmissionWebhook } from "../src/main.ts"
import { makeWebhookTls } from "../src/webhook-tls.ts"
import { connect, eventually, ipsPath, registerWebhookByUrl, type TestCluster, uniqueName } from "./support.ts"

const namespace = "tcr-assistant-system"
const runId = uniqueName("wh")
const vwcName = `tcr-assistant-e2e-${runId}`
const vwcPath = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${vwcName}`
const selectorLabel = "tcr-assistant.test/webhook"
const password = "wh-e2e-S3NTINEL-pass"

let cluster: TestCluster
let runtime: ManagedRuntime.ManagedRuntime<AdmissionWebhook, unknown>
let port = 0

const kubectl = (args: ReadonlyArray<string>, input?: string) => runKubectl(inject("kubeconfigPath"), args, input)

const manifest = (name: string, spec: Record<string, unknown>, labelled = true) =>
  JSON.stringify({
    apiVersion: "tcr.tencentcloudcr.com/v1",
    kind: "ImagePullSecret",
    metadata: { name, labels: labelled ? { [selectorLabel]: runId } : {} },
    spec
  })

const peerSerial = () =>
  new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.serialNumber ?? "")
      socket.end()
    })
    socket.on("error", reject)
  })

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  await cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: namespace } } }).catch((error: { _tag?: string }) => {
    if (error._tag !== "KubeConflict") throw error
  })
  port = await freePort()
  // Only objects carrying this run's label are sent to the webhook, so other test files never depend on it.
  await registerWebhookByUrl(cluster, { name: vwcName, port, label: selectorLabel, value: runId })
  runtime = ManagedRuntime.make(
    AdmissionWebhook.layer({
      namespace,
      host: "127.0.0.1",
      port,
      extraHosts: ["127.0.0.1"],
      secretName: `${runId}-cert`,
      configurationName: vwcName,
      mutatingConfigurationName: null,
      // Short-lived certificates, so renewal and hot reload happen while the apiserver keeps calling.
      certValidityMillis: 30_000,
      renewBeforeMillis: 20_000,
      checkIntervalMillis: 500
    }).pipe(Layer.provide(KubeClient.layer({ kubeconfig: inject("kubeconfigPath") })))
  )
  await runtime.runPromise(Effect.service(AdmissionWebhook))
  await eventually(async () => {
    const vwc = await cluster.get<any>(vwcPath)
    expect(vwc.webhooks[0].clientConfig.caBundle).toBeTruthy()
  })
})

afterAll(async () => {
  await cluster?.request({ method: "DELETE", path: vwcPath }).catch(() => undefined)
  await runtime?.dispose()
  await cluster?.dispose()
})

describe("the apiserver calls the webhook", () => {
  test("kubectl apply of an invalid object fails with every violation; a valid one passes", async () => {
    const name = uniqueName("wh-bad")
    const denied = await kubectl(["apply", "-f", "-"], manifest(name, {
      namespaces: "good, Bad_Name",
      serviceAccounts: "-dash",
      docker: { server: "example.tencentcloudcr.com", username: "u", password }
    }))
    expect(denied.status).not.toBe(0)
    expect(denied.stderr).toContain('admission webhook "vimagepullsecret.tcr.tencentcloudcr.com" denied the request')
    expect(denied.stderr).toContain("spec.namespaces:")
    expect(denied.stderr).toContain("spec.serviceAccounts:")
    expect(denied.stderr).not.toContain(password)
    expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined()

    const good = uniqueName("wh-good")
    const allowed = await kubectl(["apply", "-f", "-"], manifest(good, { namespaces: "*", docker: { server: "example.tencentcloudcr.com", username: "u", password } }))
    expect(allowed.stderr).toBe("")
    expect(allowed.status).toBe(0)
    expect(await cluster.get(`${ipsPath}/${good}`)).toBeDefined()

    // Editing it into an invalid spec is refused; editing only its labels is not.
    const edit = await kubectl(["apply", "-f", "-"], manifest(good, { namespaces: "*", docker: { server: "https://example.tencentcloudcr.com/x", username: "u", password } }))
    expect(edit.status).not.toBe(0)
    expect(edit.stderr).toContain("spec.docker.server:")
    expect((await kubectl(["label", "imagepullsecret", good, "team=a"])).status).toBe(0)
    expect((await kubectl(["delete", "imagepullsecret", good, "--wait=false"])).status).toBe(0)
  })

  test("a 1 MiB password or namespaces list is refused with a short message that does not echo it", async () => {
    const huge = "x".repeat(1 << 20)
    for (const spec of [
      { namespaces: "*", docker: { server: "r.example.com", username: "u", password: `${password}${huge}` } },
      { namespaces: huge, docker: { server: "r.example.com", username: "u", password } }
    ]) {
      const name = uniqueName("wh-huge")
      const denied = await kubectl(["create", "-f", "-"], manifest(name, spec))
      expect(denied.status).not.toBe(0)
      expect(denied.stderr).toMatch(/spec\.(docker\.password|namespaces)/)
      expect(denied.stderr.length).toBeLessThan(2000)
      expect(denied.stderr).not.toContain(password)
      expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined()
    }
    // Within the CRD's bound but full of invalid names: the webhook lists a few and counts the rest.
    const name = uniqueName("wh-many")
    const many = Array.from({ length: 3000 }, (_, index) => `Bad_${index}`).join(",")
    const denied = await kubectl(["create", "-f", "-"], manifest(name, { namespaces: many, docker: { server: "r.example.com", username: "u", password } }))
    expect(denied.status).not.toBe(0)
    expect(denied.stderr).toContain('admission webhook "vimagepullsecret.tcr.tencentcloudcr.com" denied the request')
    expect(denied.stderr).toContain("and 2995 more")
    expect(denied.stderr.length).toBeLessThan(2000)
  })

  test("the webhook is not called for objects outside its selector, and counts what it answered", async () => {
    const webhook = await runtime.runPromise(Effect.service(AdmissionWebhook))
    const before = webhook!.server.stats().requests
    const name = uniqueName("wh-free")
    // Structurally valid for the CRD but invalid for the webhook; unlabelled, so it is created.
    expect((await kubectl(["apply", "--dry-run=server", "-f", "-"], manifest(name, { namespaces: "Bad_Name", docker: { server: "r.example.com", username: "u", password } }, false))).status).toBe(0)
    expect(webhook!.server.stats().requests).toEqual(before)
  })

  test("latency: the apiserver's create with and without the webhook in the path", async () => {
    const create = async (labelled: boolean) => {
      const started = performance.now()
      await cluster.request({
        method: "POST",
        path: ipsPath,
        query: { dryRun: "All" },
        body: JSON.parse(manifest(uniqueName("wh-lat"), { namespaces: "*", docker: { server: "r.example.com", username: "u", password } }, labelled))
      })
      return performance.now() - started
    }
    const rounds = 100
    const withWebhook: Array<number> = []
    const without: Array<number> = []
    for (let i = 0; i < rounds; i++) {
      withWebhook.push(await create(true))
      without.push(await create(false))
    }
    const scraped = parsePrometheus(scrapePrometheusUnsafe(await runtime.runPromise(Effect.context<never>())))
    const series = `{webhook="validate-imagepullsecret"}`
    const served = {
      sum: scraped.get(`tcr_assistant_webhook_request_duration_seconds_sum${series}`) ?? NaN,
      count: scraped.get(`tcr_assistant_webhook_request_duration_seconds_count${series}`) ?? NaN
    }
    console.log(
      `apiserver create (dry run), ${rounds} each: with webhook p50 ${percentile(withWebhook, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(withWebhook, 99).toFixed(1)} ms; without p50 ${percentile(without, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(without, 99).toFixed(1)} ms; webhook handler mean ${((served.sum / served.count) * 1000).toFixed(2)} ms over ${served.count} reviews`
    )
    expect(served.count).toBeGreaterThanOrEqual(rounds)
  })

  test("the serving certificate is renewed and hot-reloaded while the apiserver keeps calling", async () => {
    const first = await peerSerial()
    await eventually(async () => expect(await peerSerial()).not.toBe(first), 120_000)
    const name = uniqueName("wh-after")
    const denied = await kubectl(["apply", "-f", "-"], manifest(name, { namespaces: "Bad_Name", docker: { server: "r.example.com", username: "u", password } }))
    expect(denied.stderr).toContain("denied the request: spec.namespaces:")
    const allowed = await kubectl(["apply", "--dry-run=server", "-f", "-"], manifest(name, { namespaces: "*", docker: { server: "r.example.com", username: "u", password } }))
    expect(allowed.status).toBe(0)
  })

  test("a CA bundle removed from the configuration (an apply of a manifest without it) is written back by the watch", async () => {
    // The periodic check writes only a bundle that changed; the restore comes from watching the configuration.
    const removed = await kubectl(["patch", "validatingwebhookconfiguration", vwcName, "--type=json", "-p",
      JSON.stringify([{ op: "remove", path: "/webhooks/0/clientConfig/caBundle" }])])
    expect(removed.stderr).toBe("")
    await eventually(async () => {
      const vwc = await cluster.get<any>(vwcPath)
      expect(vwc.webhooks[0].clientConfig.caBundle).toBeTruthy()
    })
    // The apiserver trusts us again: its calls get the webhook's verdict, not an x509 error.
    await eventually(async () => {
      const name = uniqueName("wh-restored")
      const denied = await kubectl(["apply", "--dry-run=server", "-f", "-"], manifest(name, { namespaces: "Bad_Name", docker: { server: "r.example.com", username: "u", password } }))
      expect(denied.stderr).toContain("denied the request: spec.namespaces:")
    })
  })
})

describe("replicas sharing the webhook Secret", () => {
  test("concurrent starts against a missing Secret end with one certificate for all", async () => {
    const secretName = uniqueName("wh-race")
    const tls = Effect.scoped(makeWebhookTls({ namespace, secretName, webhookConfigurationName: undefined, extraHosts: ["127.0.0.1"] }).pipe(
      Effect.map((started) => started.current().certPem)
    ))
    const replicas = await Effect.runPromise(
      Effect.all([tls, tls, tls, tls], { concurrency: "unbounded" }).pipe(Effect.provide(KubeClient.layer({ kubeconfig: inject("kubeconfigPath") })))
    )
    expect(new Set(replicas).size).toBe(1)
    const stored = await cluster.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${namespace}/secrets/${secretName}`)
    expect(Buffer.from(stored!.data["tls.crt"]!, "base64").toString()).toBe(replicas[0])
  })

  test("a configuration created after the replica started (helm creates it after the Deployment) gets the bundle from the watch", async () => {
    const name = `${vwcName}-later`
    const path = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${name}`
    // The periodic check is an hour away: only the watch can write the bundle in time.
    const client = ManagedRuntime.make(KubeClient.layer({ kubeconfig: inject("kubeconfigPath") }))
    const scope = await Effect.runPromise(Scope.make())
    try {
      const tls = await client.runPromise(makeWebhookTls({
        namespace, secretName: uniqueName("wh-later"), webhookConfigurationName: name, extraHosts: ["127.0.0.1"], checkIntervalMillis: 3_600_000
      }).pipe(Scope.provide(scope)))
      expect(tls.bundleInjected()).toBe(false)
      await registerWebhookByUrl(cluster, { name, port, label: selectorLabel, value: `${runId}-later` })
      await eventually(async () => {
        const vwc = await cluster.get<any>(path)
        expect(vwc.webhooks[0].clientConfig.caBundle).toBe(Buffer.from(tls.current().caBundlePem).toString("base64"))
      })
    } finally {
      await cluster.request({ method: "DELETE", path }).catch(() => undefined)
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await client.dispose()
    }
  })
})
