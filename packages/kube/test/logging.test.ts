// The JSON logger prints one parseable object per line with level, time, message and annotations, and never a
// credential-named field's value.
import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import { jsonLogging, programLogging, redactLogValue } from "../src/logging.ts"

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
