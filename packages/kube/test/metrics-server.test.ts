// The decisions of the secure /metrics server that need no apiserver: which token a request carries, and what each
// verdict answers (the metrics themselves only to an allowed caller). The apiserver's side is in the e2e suites.
import { assert, describe, it } from "@effect/vitest"
import { bearerToken, secureMetricsReply } from "../src/metrics-server.ts"

describe("bearerToken", () => {
  it("reads the token of a Bearer Authorization header, and nothing else", () => {
    assert.strictEqual(bearerToken("Bearer abc.def-ghi"), "abc.def-ghi")
    assert.strictEqual(bearerToken("bearer  abc "), "abc")
    assert.isUndefined(bearerToken(undefined))
    assert.isUndefined(bearerToken(""))
    assert.isUndefined(bearerToken("Basic dXNlcjpwYXNz"))
    assert.isUndefined(bearerToken("Bearer"))
    assert.isUndefined(bearerToken("Bearer two tokens"))
  })
})

describe("secureMetricsReply", () => {
  const exposition = "# HELP up h\n# TYPE up gauge\nup 1\n"
  let scrapes = 0
  const scrape = () => {
    scrapes++
    return exposition
  }

  it("answers 401 with a Bearer challenge, 403 naming the user, and the metrics only when allowed", () => {
    const unauthenticated = secureMetricsReply({ _tag: "Unauthenticated", reason: "no bearer token" }, scrape)
    assert.strictEqual(unauthenticated.status, 401)
    assert.strictEqual(unauthenticated.headers["www-authenticate"], "Bearer")
    const forbidden = secureMetricsReply({ _tag: "Forbidden", user: "system:serviceaccount:ns:stranger", reason: "" }, scrape)
    assert.strictEqual(forbidden.status, 403)
    assert.include(forbidden.body, "system:serviceaccount:ns:stranger")
    assert.strictEqual(scrapes, 0, "nothing is scraped for a caller who may not see it")
    const allowed = secureMetricsReply({ _tag: "Allowed", user: "system:serviceaccount:monitoring:prometheus-k8s" }, scrape)
    assert.strictEqual(allowed.status, 200)
    assert.strictEqual(allowed.body, exposition)
    assert.include(allowed.headers["content-type"]!, "version=0.0.4")
  })
})
