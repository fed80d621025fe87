// No TCR credential (secret ID, secret key, session token) and no issued token appears in an error or a log line.
import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Logger, References } from "effect"
import { TcrApi, TcrCredentials } from "@tcr-assistant/tcr"
import { tcrDoubleScoped } from "@tcr-assistant/testkit/tcr-double"

const secretId = "AKIDsecretidvalue0123456789abcdef"
const secretKey = "SecretKeyValue-must-never-be-printed-9f8e7d"
const sessionToken = "SessionTokenValue-must-never-be-printed-1a2b3c"
const region = "ap-guangzhou"

describe("TcrApi keeps credentials out of errors and logs", () => {
  it.live("every failure and every log line of a run full of failures is free of secrets", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.formatLogFmt.log(options))
        lines.push(JSON.stringify(Logger.formatStructured.log(options)))
      })
      const written: Array<string> = []
      const originalStdout = process.stdout.write.bind(process.stdout)
      const originalStderr = process.stderr.write.bind(process.stderr)
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.stdout.write = ((chunk: string | Uint8Array, ...rest: Array<never>) => {
            written.push(String(chunk))
            return originalStdout(chunk, ...rest)
          }) as typeof process.stdout.write
          process.stderr.write = ((chunk: string | Uint8Array, ...rest: Array<never>) => {
            written.push(String(chunk))
            return originalStderr(chunk, ...rest)
          }) as typeof process.stderr.write
        }),
        () =>
          Effect.sync(() => {
            process.stdout.write = originalStdout
            process.stderr.write = originalStderr
          })
      )

      const double = yield* tcrDoubleScoped({ secretId, secretKey, sessionToken })
      const services = yield* Layer.build(
        TcrApi.layerWith({ endpoint: double.endpoint, retry: { baseDelay: "2 millis", maxDelay: "10 millis", maxRetries: 2 } })
      )
      const tcr = Context.get(services, TcrApi)
      const credentials = TcrCredentials.make({ secretId, secretKey, sessionToken })
      const target = { credentials, region }
      const demo = double.seedInstance({ name: "demo" })

      const exits: Array<Exit.Exit<unknown, unknown>> = []
      const run = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          Effect.provide(Logger.layer([capture])),
          Effect.provideService(References.MinimumLogLevel, "All"),
          Effect.exit,
          Effect.tap((exit) => Effect.sync(() => exits.push(exit)))
        )

      const issued = yield* run(tcr.createInstanceToken({ ...target, instanceId: demo.id, tokenType: "longterm" }))
      assert.isTrue(Exit.isSuccess(issued))
      const tokenValue = double.tokens()[0]!.token

      // Retried failures (logged as warnings), then exhausted retries.
      double.injectFailure("DescribeInstances", { code: "RequestLimitExceeded" }, 10)
      yield* run(tcr.describeInstances(target))
      double.clearInjectedFailures()
      // An API error whose message echoes the credentials back, as a misbehaving server might.
      double.injectFailure("DescribeInstances", {
        code: "FailedOperation",
        message: `rejected ${secretId} ${secretKey} ${sessionToken}`
      })
      yield* run(tcr.describeInstances(target))
      double.injectFailure("DescribeInstances", { connection: "reset" }, 10)
      yield* run(tcr.describeInstances(target))
      double.clearInjectedFailures()
      yield* run(tcr.getInstance({ ...target, instanceId: "tcr-missing" }))
      yield* run(tcr.describeInstances({ credentials: TcrCredentials.make({ secretId, secretKey: `${secretKey}-wrong`, sessionToken }), region }))
      double.setClockSkew(10 * 60_000)
      yield* run(tcr.describeInstances(target))

      const failures = exits.filter(Exit.isFailure)
      assert.strictEqual(failures.length, 6)
      const rendered: Array<string> = [...lines, ...written, inspect(credentials), String(credentials.secretKey)]
      for (const exit of exits) rendered.push(inspect(exit, { depth: 10 }))
      for (const exit of failures) {
        rendered.push(Cause.pretty(exit.cause))
        for (const error of Cause.prettyErrors(exit.cause)) {
          rendered.push(error.message, String(error), JSON.stringify(error), inspect(error, { depth: 10 }))
        }
      }
      assert.isAbove(lines.length, 0)
      const everything = rendered.join("\n")
      for (const secret of [secretId, secretKey, sessionToken, tokenValue]) {
        assert.notInclude(everything, secret)
      }
      // The echoed credentials were replaced, not dropped with the whole message.
      assert.include(everything, "rejected <redacted> <redacted> <redacted>")
    }))
})
