// The JSON logger prints one parseable object per line with level, time, message and annotations, and never a
// credential-named field's value; a program's fatal failure is one such line (message, tag, cause chain), with its
// stack only at debug level, and the runtime is told not to print it again.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, References, Runtime, Schema } from "effect"
import { jsonLogging, programLogging, redactLogValue, withProgramLogging } from "../src/logging.ts"

const capture = () => {
  const lines: Array<string> = []
  return { lines, write: (line: string) => void lines.push(line) }
}

describe("jsonLogging", () => {
  it.effect("prints one JSON object per line with level, time, msg and annotations", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.logInfo("reconciled").pipe(
        Effect.annotateLogs({ kind: "ImagePullSecret", name: "sample" }),
        Effect.provide(jsonLogging({ write: sink.write }))
      )
      assert.strictEqual(sink.lines.length, 1)
      assert.notInclude(sink.lines[0]!, "\n")
      const record = JSON.parse(sink.lines[0]!)
      assert.strictEqual(record.level, "info")
      assert.strictEqual(record.msg, "reconciled")
      assert.strictEqual(record.kind, "ImagePullSecret")
      assert.strictEqual(record.name, "sample")
      assert.isFalse(Number.isNaN(Date.parse(record.time)))
    }))

  it.effect("drops levels below the minimum and prints the cause of errors", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.gen(function*() {
        yield* Effect.logDebug("noise")
        yield* Effect.logError("write failed", new Error("boom"))
      }).pipe(Effect.provide(jsonLogging({ level: "Info", write: sink.write })))
      assert.strictEqual(sink.lines.length, 1)
      const record = JSON.parse(sink.lines[0]!)
      assert.strictEqual(record.level, "error")
      assert.include(record.msg, "write failed")
    }))

  it.effect("redacts credential-named annotations and nested fields", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.logWarning("oops", { docker: { server: "r.example.com", password: "hunter2" } }).pipe(
        Effect.annotateLogs({ token: "t0ps3cret", spec: { docker: { password: "hunter2", username: "u" } } }),
        Effect.provide(jsonLogging({ write: sink.write }))
      )
      const line = sink.lines.join("\n")
      assert.notInclude(line, "hunter2")
      assert.notInclude(line, "t0ps3cret")
      const record = JSON.parse(sink.lines[0]!)
      assert.strictEqual(record.token, "[redacted]")
      assert.strictEqual(record.spec.docker.username, "u")
      assert.include(record.msg, "r.example.com")
    }))
})

describe("redactLogValue", () => {
  it("survives cycles and keeps plain values", () => {
    const cyclic: Record<string, unknown> = { name: "a" }
    cyclic.self = cyclic
    assert.deepStrictEqual(redactLogValue(cyclic), { name: "a", self: "[circular]" })
    assert.strictEqual(redactLogValue(3), 3)
    assert.deepStrictEqual(redactLogValue({ authorization: "Bearer x", list: [{ apiToken: "y" }] }), {
      authorization: "[redacted]",
      list: [{ apiToken: "[redacted]" }]
    })
  })
})

describe("programLogging", () => {
  it.effect("logs JSON lines by default, and keeps the minimum level in text format", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.logInfo("json by default").pipe(Effect.provide(programLogging({ write: sink.write })))
      assert.strictEqual(JSON.parse(sink.lines[0]!).msg, "json by default")
      const text = capture()
      const level = yield* References.MinimumLogLevel.pipe(
        Effect.provide(programLogging({ format: "text", level: "Warn", write: text.write }))
      )
      assert.strictEqual(level, "Warn")
      yield* Effect.logWarning("not json").pipe(Effect.provide(programLogging({ format: "text", write: text.write })))
      assert.deepStrictEqual(text.lines, [], "text format leaves Effect's own logger in place")
    }))
})

class ServingFailed extends Schema.TaggedError<ServingFailed>()("ServingFailed", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

describe("withProgramLogging", () => {
  const failing = Effect.fail(new ServingFailed({ message: "listen on 0.0.0.0:8080: address in use", cause: new Error("EADDRINUSE: bind failed") }))

  it.effect("logs a fatal failure as one JSON line: message, tag, cause chain, no stack; marked reported", () =>
    Effect.gen(function*() {
      const sink = capture()
      const exit = yield* Effect.exit(failing.pipe(withProgramLogging({ write: sink.write })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(sink.lines.length, 1)
      assert.notInclude(sink.lines[0]!, "\n")
      const record = JSON.parse(sink.lines[0]!)
      assert.strictEqual(record.level, "error")
      assert.strictEqual(record.msg, "stopped by a fatal error")
      assert.strictEqual(record.error, "listen on 0.0.0.0:8080: address in use")
      assert.strictEqual(record.errorTag, "ServingFailed")
      assert.deepStrictEqual(record.causes, [{ tag: "Error", message: "EADDRINUSE: bind failed" }])
      assert.notProperty(record, "stack")
      assert.notInclude(sink.lines[0]!, "    at ")
      // The runtime's own report (runMain) would print the cause again, as a multi-line stack trace.
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.isFalse(Runtime.getErrorReported(error !== undefined && "error" in error ? error.error : undefined))
    }))

  it.effect("adds the stack at debug level", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.exit(failing.pipe(withProgramLogging({ level: "Debug", write: sink.write })))
      const record = JSON.parse(sink.lines.at(-1)!)
      assert.strictEqual(record.errorTag, "ServingFailed")
      assert.include(record.stack, "ServingFailed")
      assert.include(record.stack, "    at ")
    }))

  it.effect("logs a defect the same way, and nothing for an interrupted program", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.exit(Effect.die(new TypeError("x is undefined")).pipe(withProgramLogging({ write: sink.write })))
      const record = JSON.parse(sink.lines[0]!)
      assert.strictEqual(record.errorTag, "TypeError")
      assert.strictEqual(record.error, "x is undefined")
      yield* Effect.exit(Effect.interrupt.pipe(withProgramLogging({ write: sink.write })))
      assert.strictEqual(sink.lines.length, 1)
    }))

  it.effect("an error annotation of a log call without a failure is the conventional error field", () =>
    Effect.gen(function*() {
      const sink = capture()
      yield* Effect.logWarning("target failed").pipe(Effect.annotateLogs({ error: "quota exceeded" }), Effect.provide(jsonLogging({ write: sink.write })))
      assert.strictEqual(JSON.parse(sink.lines[0]!).error, "quota exceeded")
    }))
})
