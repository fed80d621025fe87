// The webhook's HTTPS server: answers AdmissionReviews at /validate over TLS, refuses what is not one, counts
// results, and swaps its certificate for new connections without a restart.
import { assert, describe, it } from "@effect/vitest"
import { createCertificateAuthority, issueCertificate } from "@tcr-assistant/kube/pki"
import { metricRegistryLayer, parsePrometheus, scrapePrometheusUnsafe } from "@tcr-assistant/kube/prometheus"
import { Effect } from "effect"
import { X509Certificate } from "node:crypto"
import { request } from "node:https"
import { connect } from "node:tls"
import { toDistribution } from "../src/distribution.ts"
import { mutatePath } from "../src/pod-mutation.ts"
import { reviewAdmission, startWebhookServer } from "../src/webhook.ts"

const post = (port: number, ca: string, path: string, body: string, method = "POST") =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, ca, headers: { "content-type": "application/json" } },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
      }
    )
    req.on("error", reject)
    req.end(body)
  })

const peerSerial = (port: number, ca: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca }, () => {
      resolve(socket.getPeerX509Certificate()?.serialNumber ?? "")
      socket.end()
    })
    socket.on("error", reject)
  })

const review = (object: unknown, operation = "CREATE") =>
  JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: "u-1", kind: { kind: "ImagePullSecret" }, operation, object }
  })

const valid = {
  apiVersion: "tcr.tencentcloudcr.com/v1",
  kind: "ImagePullSecret",
  metadata: { name: "sample" },
  spec: { namespaces: "*", docker: { server: "example.tencentcloudcr.com", username: "u", password: "s3cret-pass" } }
}

const serving = Effect.gen(function*() {
  const ca = yield* createCertificateAuthority({ commonName: "test-ca", validityDays: 1 })
  const cert = yield* issueCertificate(ca, { commonName: "webhook", ipAddresses: ["127.0.0.1"], usage: "server", validityDays: 1 })
  return { ca, cert }
})

describe("reviewAdmission", () => {
  it("denies a 1 MiB value with a message of at most a few KiB, whichever field holds it", () => {
    const huge = "Bad_Name,".repeat(1 << 17)
    for (const spec of [
      { ...valid.spec, namespaces: huge },
      { ...valid.spec, excludedNamespaces: huge.split(",").slice(0, 1000) },
      { ...valid.spec, docker: { ...valid.spec.docker, password: huge } },
      { tcr: { region: huge, instanceId: huge, credentialsSecretRef: { name: huge } } }
    ]) {
      const outcome = reviewAdmission(JSON.parse(review({ ...valid, spec })))
      const message = (outcome.body as any).response.status.message as string
      assert.strictEqual(outcome.result, "denied")
      assert.isBelow(message.length, 4096)
      assert.notInclude(message, huge.slice(0, 100))
    }
  })

  it("denies with every violation and its field path", () => {
    const outcome = reviewAdmission(JSON.parse(review({ ...valid, spec: { namespaces: "Bad_NS", docker: { server: "https://x", username: "", password: "p" } } })))
    const body = outcome.body as any
    assert.strictEqual(outcome.result, "denied")
    assert.isFalse(body.response.allowed)
    assert.strictEqual(body.response.uid, "u-1")
    assert.strictEqual(body.response.status.code, 422)
    for (const path of ["spec.namespaces", "spec.docker.server", "spec.docker.username"]) assert.include(body.response.status.message, `${path}:`)
  })

  it("allows deletion-time updates of an object stored before the webhook existed", () => {
    const invalid = { ...valid, spec: { docker: { server: "bad host" } } }
    const body = JSON.parse(review({ ...invalid, metadata: { name: "sample", deletionTimestamp: "2024-01-01T00:00:00Z" } }, "UPDATE"))
    body.request.oldObject = invalid
    assert.strictEqual(reviewAdmission(body).result, "allowed")
  })

  it("answers a non-review with HTTP 400", () => {
    assert.strictEqual(reviewAdmission({ hello: "world" }).httpStatus, 400)
    assert.strictEqual(reviewAdmission(undefined).result, "malformed")
  })
})

describe("startWebhookServer", () => {
  it.live("serves reviews over TLS, counts results and swaps certificates", () =>
    Effect.gen(function*() {
      const first = yield* serving
      const server = yield* startWebhookServer({ host: "127.0.0.1", port: 0 }, { certPem: first.cert.certPem, keyPem: first.cert.keyPem })
      const call = (path: string, body: string, method?: string) => Effect.promise(() => post(server.port, first.ca.certPem, path, body, method))

      const allowed = yield* call("/validate", review(valid))
      assert.strictEqual(allowed.status, 200)
      assert.isTrue(JSON.parse(allowed.body).response.allowed)

      const denied = yield* call("/validate", review({ ...valid, spec: { docker: { server: "", username: "u", password: "s3cret-pass" } } }))
      assert.isFalse(JSON.parse(denied.body).response.allowed)
      assert.notInclude(denied.body, "s3cret-pass")

      assert.strictEqual((yield* call("/validate", "not json")).status, 400)
      assert.strictEqual((yield* call("/other", review(valid))).status, 404)
      assert.strictEqual((yield* call("/validate", "", "GET")).status, 405)
      assert.deepStrictEqual(server.stats().requests, { allowed: 1, denied: 1, error: 0, malformed: 1 })
      const metrics = parsePrometheus(scrapePrometheusUnsafe(yield* Effect.context<never>()))
      assert.strictEqual(metrics.get("tcr_assistant_webhook_request_duration_seconds_count{webhook=\"validate-imagepullsecret\"}"), 3)
      assert.strictEqual(metrics.get("tcr_assistant_webhook_requests_total{webhook=\"validate-imagepullsecret\",operation=\"CREATE\",result=\"denied\"}"), 1)
      assert.strictEqual(metrics.get("tcr_assistant_webhook_requests_total{webhook=\"validate-imagepullsecret\",operation=\"\",result=\"malformed\"}"), 1)

      const before = yield* Effect.promise(() => peerSerial(server.port, first.ca.certPem))
      const second = yield* issueCertificate(first.ca, { commonName: "webhook", ipAddresses: ["127.0.0.1"], usage: "server", validityDays: 1 })
      server.setTls({ certPem: second.certPem, keyPem: second.keyPem })
      const after = yield* Effect.promise(() => peerSerial(server.port, first.ca.certPem))
      assert.notStrictEqual(after, before)
      assert.strictEqual(after.toLowerCase(), new X509Certificate(second.certPem).serialNumber.toLowerCase())
    }).pipe(Effect.provide(metricRegistryLayer)))

  it.live("serves the Pod mutation on the same server, from the source it is given, only when given one", () =>
    Effect.gen(function*() {
      const { ca, cert } = yield* serving
      let distributions = [toDistribution({ metadata: { name: "x", uid: "u" }, spec: valid.spec })]
      const server = yield* startWebhookServer(
        { host: "127.0.0.1", port: 0 },
        { certPem: cert.certPem, keyPem: cert.keyPem },
        { distributions: () => distributions }
      )
      const podReview = JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: { uid: "p-1", namespace: "apps", operation: "CREATE", object: { spec: { imagePullSecrets: [{ name: "mine" }] } } }
      })
      const call = (path: string, body: string) => Effect.promise(() => post(server.port, ca.certPem, path, body))
      const patched = JSON.parse((yield* call(mutatePath, podReview)).body).response
      assert.strictEqual(patched.allowed, true)
      assert.deepStrictEqual(JSON.parse(Buffer.from(patched.patch, "base64").toString()), [
        { op: "add", path: "/spec/imagePullSecrets/-", value: { name: "tcr.ipsx" } }
      ])
      distributions = []
      assert.deepStrictEqual(JSON.parse((yield* call(mutatePath, podReview)).body).response, { uid: "p-1", allowed: true })
      assert.strictEqual((yield* call(mutatePath, "not json")).status, 400)
      assert.deepStrictEqual(server.stats().podMutations, { patched: 1, unchanged: 1, malformed: 1 })
      // Validation is unaffected and counted apart.
      assert.isTrue(JSON.parse((yield* call("/validate", review(valid))).body).response.allowed)
      assert.deepStrictEqual(server.stats().requests, { allowed: 1, denied: 0, error: 0, malformed: 0 })

      const validatingOnly = yield* startWebhookServer({ host: "127.0.0.1", port: 0 }, { certPem: cert.certPem, keyPem: cert.keyPem })
      assert.strictEqual((yield* Effect.promise(() => post(validatingOnly.port, ca.certPem, mutatePath, podReview))).status, 404)
    }).pipe(Effect.provide(metricRegistryLayer)))
})
