// Webhook TLS material: what needs renewing is decided from the certificates alone; the Secret is created when
// missing, kept when good, renewed before expiry with the same CA, and the CA bundle is written into the webhook
// configuration.
import { assert, describe, it } from "@effect/vitest"
import { createCertificateAuthority, issueCertificate } from "@tcr-assistant/kube/pki"
import { Clock, Effect } from "effect"
import { X509Certificate } from "node:crypto"
import { makeFakeApiServer } from "../../kube/test/support/fake-apiserver.ts"
import { makeWebhookTls, servingHosts, type WebhookTlsOptions } from "../src/webhook-tls.ts"
import { planTls, readStoredTls } from "../src/webhook-tls-material.ts"

const dayMillis = 24 * 60 * 60 * 1000
const secretPath = "/api/v1/namespaces/tcr-assistant-system/secrets/tcr-assistant-webhook-server-cert"
const mwcPath = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tcr-assistant-mutating-webhook-configuration"
const vwcPath = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tcr-assistant-validating-webhook-configuration"
const b64 = (text: string) => Buffer.from(text).toString("base64")

const secretWith = (data: Record<string, string>) => ({
  metadata: { name: "tcr-assistant-webhook-server-cert", namespace: "tcr-assistant-system" },
  data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, b64(value)]))
})

describe("planTls", () => {
  const hosts = servingHosts({})

  it.effect("keeps good material and renews what is missing, foreign, expiring or too narrow", () =>
    Effect.gen(function*() {
      const ca = yield* createCertificateAuthority({ commonName: "ca", validityDays: 3650 })
      const otherCa = yield* createCertificateAuthority({ commonName: "other", validityDays: 3650 })
      const issue = (authority: typeof ca, days: number, dnsNames = hosts) =>
        issueCertificate(authority, { commonName: "w", dnsNames, usage: "server", validityDays: days })
      const good = yield* issue(ca, 365)
      // The certificates were issued at the test's Clock: planned against the same time.
      const now = yield* Clock.currentTimeMillis
      const plan = (data: Record<string, string>) => planTls(readStoredTls(secretWith(data)), hosts, 30 * dayMillis, now)
      const caData = { "ca.crt": ca.certPem, "ca.key": ca.keyPem }
      assert.strictEqual(plan({ ...caData, "tls.crt": good.certPem, "tls.key": good.keyPem }), "Keep")
      assert.strictEqual(plan({}), "NewAuthority")
      assert.strictEqual(plan({ "ca.crt": ca.certPem, "ca.key": otherCa.keyPem }), "NewAuthority")
      assert.strictEqual(plan(caData), "NewServingCertificate")
      const foreign = yield* issue(otherCa, 365)
      assert.strictEqual(plan({ ...caData, "tls.crt": foreign.certPem, "tls.key": foreign.keyPem }), "NewServingCertificate")
      const expiring = yield* issue(ca, 10)
      assert.strictEqual(plan({ ...caData, "tls.crt": expiring.certPem, "tls.key": expiring.keyPem }), "NewServingCertificate")
      const narrow = yield* issue(ca, 365, ["elsewhere.example"])
      assert.strictEqual(plan({ ...caData, "tls.crt": narrow.certPem, "tls.key": narrow.keyPem }), "NewServingCertificate")
      assert.strictEqual(plan({ ...caData, "tls.crt": good.certPem, "tls.key": foreign.keyPem }), "NewServingCertificate")
      const oldCa = yield* createCertificateAuthority({ commonName: "old", validityDays: 20 })
      assert.strictEqual(plan({ "ca.crt": oldCa.certPem, "ca.key": oldCa.keyPem }), "NewAuthority")
    }))
})

describe("makeWebhookTls", () => {
  // The refresh fiber lives in the test's scope.
  const start = (fake: ReturnType<typeof makeFakeApiServer>, options: WebhookTlsOptions) =>
    makeWebhookTls(options).pipe(Effect.provide(fake.layer()))

  it.live("creates the Secret, injects the CA bundle, and a second replica reuses what the first wrote", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      fake.objects.set(vwcPath, {
        metadata: { name: "tcr-assistant-validating-webhook-configuration", resourceVersion: "1" },
        webhooks: [{ name: "vimagepullsecret.tcr.tencentcloudcr.com", clientConfig: { service: { name: "x" } } }]
      })
      const options = { webhookConfigurationName: "tcr-assistant-validating-webhook-configuration", extraHosts: ["127.0.0.1"] }
      const first = yield* start(fake, options)
      const second = yield* start(fake, options)
      assert.strictEqual(second.current().certPem, first.current().certPem)
      const secret = fake.objects.get(secretPath)
      assert.deepStrictEqual(Object.keys(secret.data).sort(), ["ca.crt", "ca.key", "tls.crt", "tls.key"])
      assert.strictEqual(secret.type, "Opaque")
      const cert = new X509Certificate(first.current().certPem)
      assert.isDefined(cert.checkHost("tcr-assistant-webhook-service.tcr-assistant-system.svc"))
      assert.isDefined(cert.checkIP("127.0.0.1"))
      assert.isTrue(cert.checkIssued(new X509Certificate(first.current().caPem)))
      const vwc = fake.objects.get(vwcPath)
      assert.strictEqual(vwc.webhooks[0].clientConfig.caBundle, b64(first.current().caBundlePem))
      assert.deepStrictEqual(vwc.webhooks[0].clientConfig.service, { name: "x" })
      assert.isTrue(first.bundleInjected())
    }))

  it.live("injects the bundle into the MutatingWebhookConfiguration too, and reports the injection missing until it exists", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      fake.objects.set(vwcPath, {
        metadata: { name: "tcr-assistant-validating-webhook-configuration", resourceVersion: "1" },
        webhooks: [{ name: "vimagepullsecret.tcr.tencentcloudcr.com", clientConfig: { service: { name: "x" } } }]
      })
      const options = {
        webhookConfigurationName: "tcr-assistant-validating-webhook-configuration",
        mutatingWebhookConfigurationName: "tcr-assistant-mutating-webhook-configuration",
        extraHosts: ["127.0.0.1"],
        checkIntervalMillis: 20
      }
      const tls = yield* start(fake, options)
      assert.isFalse(tls.bundleInjected())
      fake.objects.set(mwcPath, {
        metadata: { name: "tcr-assistant-mutating-webhook-configuration", resourceVersion: "1" },
        webhooks: [{ name: "mpod.tcr.tencentcloudcr.com", clientConfig: { service: { name: "x", path: "/mutate-pods" } } }]
      })
      while (!tls.bundleInjected()) yield* Effect.sleep("20 millis")
      const bundle = b64(tls.current().caBundlePem)
      assert.strictEqual(fake.objects.get(vwcPath).webhooks[0].clientConfig.caBundle, bundle)
      assert.deepStrictEqual(fake.objects.get(mwcPath).webhooks[0].clientConfig, { service: { name: "x", path: "/mutate-pods" }, caBundle: bundle })
    }))

  it.live("renews the serving certificate before it expires, keeps the CA, and tells subscribers", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const tls = yield* start(fake, { certValidityMillis: 4_000, renewBeforeMillis: 2_500, checkIntervalMillis: 200 })
      const initial = tls.current()
      const seen: Array<string> = []
      tls.subscribe((material) => seen.push(material.certPem))
      for (let i = 0; i < 300 && seen.length === 0; i++) yield* Effect.sleep("50 millis")
      assert.strictEqual(seen.length >= 1, true, "no renewal within 15 s")
      assert.notStrictEqual(tls.current().certPem, initial.certPem)
      assert.strictEqual(tls.current().caPem, initial.caPem)
      assert.isAbove(tls.notAfter().getTime(), initial.notAfter.getTime())
    }))

  it.live("replaces a CA about to expire and keeps the old one in the bundle meanwhile", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const old = yield* createCertificateAuthority({ commonName: "old", validityDays: 5 })
      fake.objects.set(secretPath, { ...secretWith({ "ca.crt": old.certPem, "ca.key": old.keyPem }), type: "Opaque" })
      fake.objects.get(secretPath).metadata.resourceVersion = "1"
      const tls = yield* start(fake, {})
      assert.notStrictEqual(tls.current().caPem, old.certPem)
      assert.include(tls.current().caBundlePem, tls.current().caPem.trim())
      assert.include(tls.current().caBundlePem, old.certPem.trim())
    }))
})

describe("makeWebhookTls watches its configurations", () => {
  const vwcName = "tcr-assistant-validating-webhook-configuration"
  const options = { webhookConfigurationName: vwcName, extraHosts: ["127.0.0.1"], checkIntervalMillis: 3_600_000 }
  const vwc = (caBundle?: string) => ({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: vwcName },
    webhooks: [{ name: "vimagepullsecret.tcr.tencentcloudcr.com", clientConfig: { service: { name: "x" }, ...(caBundle === undefined ? {} : { caBundle }) } }]
  })
  const vwcCollection = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
  const caBundleIn = (fake: ReturnType<typeof makeFakeApiServer>) => fake.objects.get(vwcPath)?.webhooks[0].clientConfig.caBundle
  /** Until the check holds; the hour-long periodic check never runs, so only the watch can make it hold. */
  const until = (check: () => boolean) =>
    Effect.gen(function*() {
      for (let i = 0; i < 200 && !check(); i++) yield* Effect.sleep("25 millis")
      return check()
    })

  it.live("a configuration created after the start gets the bundle at once, not at the next check", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      const tls = yield* makeWebhookTls(options).pipe(Effect.provide(fake.layer()))
      assert.isFalse(tls.bundleInjected())
      // The informer must have listed before the create for its watch to see it: the fake keeps no history.
      yield* Effect.sleep("100 millis")
      yield* fake.client().request({ method: "POST", path: vwcCollection, body: vwc() })
      assert.isTrue(yield* until(() => caBundleIn(fake) === b64(tls.current().caBundlePem)))
      assert.isTrue(tls.bundleInjected())
    }))

  it.live("a bundle blanked or replaced by someone else is written back, and a user's other fields stay", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      yield* fake.client().request({ method: "POST", path: vwcCollection, body: vwc() })
      const tls = yield* makeWebhookTls(options).pipe(Effect.provide(fake.layer()))
      const ours = b64(tls.current().caBundlePem)
      assert.strictEqual(caBundleIn(fake), ours)
      yield* Effect.sleep("100 millis")
      for (const foreign of [undefined, b64("-----BEGIN CERTIFICATE-----\nnot ours\n-----END CERTIFICATE-----\n")]) {
        const stored = fake.objects.get(vwcPath)
        yield* fake.client().request({ method: "PUT", path: vwcPath, body: { ...vwc(foreign), metadata: stored.metadata } })
        assert.isTrue(yield* until(() => caBundleIn(fake) === ours), `not restored from ${foreign}`)
        assert.deepStrictEqual(fake.objects.get(vwcPath).webhooks[0].clientConfig.service, { name: "x" })
      }
    }))

  it.live("a replica that sees another's new CA in the configuration adopts it from the Secret instead of writing its own back", () =>
    Effect.gen(function*() {
      const fake = makeFakeApiServer()
      yield* fake.client().request({ method: "POST", path: vwcCollection, body: vwc() })
      const tls = yield* makeWebhookTls(options).pipe(Effect.provide(fake.layer()))
      const before = tls.current()
      yield* Effect.sleep("100 millis")
      // Another replica replaced the CA: a new Secret, then the new bundle (the old CA kept in it) in the configuration.
      const ca = yield* createCertificateAuthority({ commonName: "rotated", validityDays: 3650 })
      const serving = yield* issueCertificate(ca, {
        commonName: "tcr-assistant-webhook-service.tcr-assistant-system.svc",
        dnsNames: servingHosts(options).filter((host) => host !== "127.0.0.1"),
        ipAddresses: ["127.0.0.1"],
        usage: "server",
        validityDays: 365
      })
      const secret = fake.objects.get(secretPath)
      yield* fake.client().request({ method: "PUT", path: secretPath, body: {
        ...secret,
        data: { ...secret.data, "ca.crt": b64(ca.certPem), "ca.key": b64(ca.keyPem), "tls.crt": b64(serving.certPem), "tls.key": b64(serving.keyPem), "ca-previous.crt": b64(before.caPem) }
      } })
      const writesBefore = fake.log.filter((line) => line.startsWith(`PUT ${vwcPath}`)).length
      const theirs = b64(`${ca.certPem.trim()}\n${before.caPem.trim()}\n`)
      const stored = fake.objects.get(vwcPath)
      yield* fake.client().request({ method: "PUT", path: vwcPath, body: { ...vwc(theirs), metadata: stored.metadata } })
      assert.isTrue(yield* until(() => tls.current().caPem === ca.certPem))
      assert.include(tls.current().caBundlePem, ca.certPem.trim())
      assert.include(tls.current().caBundlePem, before.caPem.trim())
      assert.strictEqual(tls.current().certPem, serving.certPem)
      // Our view of the bundle is now theirs, or ours is written once over it; never the old one alone.
      yield* Effect.sleep("200 millis")
      assert.strictEqual(caBundleIn(fake), b64(tls.current().caBundlePem))
      assert.isAtMost(fake.log.filter((line) => line.startsWith(`PUT ${vwcPath}`)).length - writesBefore, 2)
    }))
})
