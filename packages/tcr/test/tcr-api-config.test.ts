// TcrApi options from the environment: endpoint override, proxy variables and NO_PROXY.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { exemptFromProxy, TcrApi, tcrApiLayerFromEnv, tcrApiOptionsConfig, TcrCredentials } from "@tcr-assistant/tcr"
import { tcrDoubleScoped } from "@tcr-assistant/testkit/tcr-double"

const optionsFrom = (env: Record<string, string>) => tcrApiOptionsConfig.parse(ConfigProvider.fromEnv({ env }))

describe("tcrApiOptionsConfig", () => {
  it.effect("defaults to the public endpoint without a proxy", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* optionsFrom({}), { endpoint: "https://tcr.tencentcloudapi.com", proxy: undefined })
    }))

  it.effect("uses HTTPS_PROXY (or https_proxy) for the https endpoint unless NO_PROXY exempts it", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* optionsFrom({ HTTPS_PROXY: "http://proxy:3128" })).proxy, "http://proxy:3128")
      assert.strictEqual((yield* optionsFrom({ https_proxy: "http://proxy:3128" })).proxy, "http://proxy:3128")
      assert.isUndefined((yield* optionsFrom({ http_proxy: "http://proxy:3128" })).proxy)
      assert.isUndefined(
        (yield* optionsFrom({ HTTPS_PROXY: "http://proxy:3128", NO_PROXY: "localhost,.tencentcloudapi.com" })).proxy
      )
    }))

  it.effect("never proxies a loopback endpoint", () =>
    Effect.gen(function*() {
      const options = yield* optionsFrom({ TCR_API_ENDPOINT: "http://tcr.localhost:8080", HTTP_PROXY: "http://proxy:3128" })
      assert.deepStrictEqual(options, { endpoint: "http://tcr.localhost:8080", proxy: undefined })
    }))

  it("exemptFromProxy matches hosts, domains, wildcards and ignores ports", () => {
    assert.isTrue(exemptFromProxy("tcr.tencentcloudapi.com", "tencentcloudapi.com"))
    assert.isTrue(exemptFromProxy("tcr.tencentcloudapi.com", "*.tencentcloudapi.com"))
    assert.isTrue(exemptFromProxy("tcr.tencentcloudapi.com", "other, tcr.tencentcloudapi.com:443"))
    assert.isTrue(exemptFromProxy("tcr.tencentcloudapi.com", "*"))
    assert.isFalse(exemptFromProxy("tcr.tencentcloudapi.com", "cloudapi.com,tencent.com"))
    assert.isFalse(exemptFromProxy("tcr.tencentcloudapi.com", ""))
  })

  it.live("tcrApiLayerFromEnv reaches the endpoint named in TCR_API_ENDPOINT", () =>
    Effect.gen(function*() {
      const double = yield* tcrDoubleScoped()
      double.seedInstance({ name: "demo" })
      const env = ConfigProvider.layer(
        ConfigProvider.fromEnv({ env: { TCR_API_ENDPOINT: double.endpoint, HTTP_PROXY: "http://127.0.0.1:9" } })
      )
      const services = yield* Layer.build(tcrApiLayerFromEnv.pipe(Layer.provide(env)))
      const credentials = TcrCredentials.make({ secretId: double.secretId, secretKey: double.secretKey })
      const instances = yield* Context.get(services, TcrApi).describeInstances({ credentials, region: "ap-guangzhou" })
      assert.deepStrictEqual(instances.map((instance) => instance.name), ["demo"])
    }))
})
