// TcrCredentials from the standard environment variables and from flags, always Redacted.
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { TcrCredentials } from "@tcr-assistant/tcr"

const fromEnv = (env: Record<string, string>) => TcrCredentials.config.parse(ConfigProvider.fromEnv({ env }))

describe("TcrCredentials", () => {
  it.effect("reads TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and TENCENTCLOUD_SESSION_TOKEN", () =>
    Effect.gen(function*() {
      const credentials = yield* fromEnv({
        TENCENTCLOUD_SECRET_ID: "AKIDexample",
        TENCENTCLOUD_SECRET_KEY: "key-value",
        TENCENTCLOUD_SESSION_TOKEN: "session-value"
      })
      assert.strictEqual(Redacted.value(credentials.secretId), "AKIDexample")
      assert.strictEqual(Redacted.value(credentials.secretKey), "key-value")
      assert.strictEqual(Option.map(credentials.sessionToken, Redacted.value).pipe(Option.getOrUndefined), "session-value")
      assert.deepStrictEqual(credentials.secretValues(), ["AKIDexample", "key-value", "session-value"])
    }))

  it.effect("the session token is optional, and an empty one counts as absent", () =>
    Effect.gen(function*() {
      const without = yield* fromEnv({ TENCENTCLOUD_SECRET_ID: "id", TENCENTCLOUD_SECRET_KEY: "key" })
      assert.isTrue(Option.isNone(without.sessionToken))
      const empty = yield* fromEnv({
        TENCENTCLOUD_SECRET_ID: "id",
        TENCENTCLOUD_SECRET_KEY: "key",
        TENCENTCLOUD_SESSION_TOKEN: ""
      })
      assert.isTrue(Option.isNone(empty.sessionToken))
    }))

  it.effect("a missing secret key is a ConfigError that does not print the secret ID", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ TENCENTCLOUD_SECRET_ID: "AKIDvisible" }))
      assert.include(String(error), "TENCENTCLOUD_SECRET_KEY")
      assert.notInclude(String(error), "AKIDvisible")
    }))

  it("credentials built from flags print as redacted", () => {
    const credentials = TcrCredentials.make({ secretId: "AKIDflag", secretKey: "flag-key", sessionToken: "flag-token" })
    const printed = [inspect(credentials, { depth: 5 }), JSON.stringify(credentials), String(credentials.secretKey)].join(
      "\n"
    )
    for (const secret of ["AKIDflag", "flag-key", "flag-token"]) assert.notInclude(printed, secret)
    assert.strictEqual(Redacted.value(credentials.secretKey), "flag-key")
    assert.isTrue(Option.isNone(TcrCredentials.make({ secretId: "a", secretKey: "b", sessionToken: "" }).sessionToken))
  })
})
