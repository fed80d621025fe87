// The log-line check accepts what the programs' logger prints and names every line that is not one JSON object
// with time, level and msg (a failure under `error`).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cause, Effect, Logger } from "effect"
import { expect, test } from "vitest"
import { logRecord } from "@tcr-assistant/kube/logging"
import { describeLogFailures, keepRunLog, logLineProblem, logTextFailures, runLogDirVariable, runLogFailures } from "../src/log-lines.ts"

const printed = (program: Effect.Effect<unknown, unknown>) => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => lines.push(JSON.stringify(logRecord(options))))
  return Effect.runPromise(program.pipe(Effect.provide(Logger.layer([logger])), Effect.ignore)).then(() => lines)
}

test("every line the programs' logger prints passes, failures included", async () => {
  const lines = await printed(Effect.gen(function* () {
    yield* Effect.logInfo("started", { port: 1 })
    yield* Effect.logWarning("slow")
    yield* Effect.logError("failed", Cause.fail(new Error("boom")))
  }))
  expect(lines).toHaveLength(3)
  expect(JSON.parse(lines[2]!)).toMatchObject({ level: "error", msg: "failed", error: "boom" })
  expect(logTextFailures(`${lines.join("\n")}\n`, "controller.log")).toEqual([])
})

test("lines that are not one JSON log object are named with their file, number and problem", () => {
  expect(logLineProblem("plain text")).toBe("not JSON")
  expect(logLineProblem("[1]")).toBe("not a JSON object")
  expect(logLineProblem('{"level":"info","msg":"x"}')).toBe("no ISO time")
  expect(logLineProblem('{"time":"yesterday","level":"info","msg":"x"}')).toBe("no ISO time")
  expect(logLineProblem('{"time":"2026-12-02T21:00:00.000Z","level":"INFO","msg":"x"}')).toMatch(/^level "INFO"/)
  expect(logLineProblem('{"time":"2026-12-02T21:00:00.000Z","level":"info"}')).toBe("no msg string")
  expect(logLineProblem('{"time":"2026-12-02T21:00:00.000Z","level":"error","msg":"x","error":{"m":1}}')).toBe("error is not a string")
  expect(logLineProblem('{"time":"2026-12-02T21:00:00.000Z","level":"error","msg":"x","errorTag":"E"}')).toBe("errorTag without error")
  const good = '{"time":"2026-12-02T21:00:00.000Z","level":"info","msg":"ok"}'
  const failures = logTextFailures(`${good}\n    at Object.<anonymous> (main.ts:1:1)\n\n${good}\n`, "hosts-updater.log")
  expect(failures.map(({ lineNumber, problem }) => [lineNumber, problem])).toEqual([[2, "not JSON"], [3, "not JSON"]])
  expect(describeLogFailures(failures)).toContain("hosts-updater.log:2: not JSON:     at Object.<anonymous> (main.ts:1:1)")
})

test("a run's kept logs are checked together, naming the file of each offending line", () => {
  const dir = mkdtempSync(join(tmpdir(), "tcr-run-logs-"))
  try {
    const good = '{"time":"2026-12-02T21:00:00.000Z","level":"info","msg":"ok"}\n'
    const source = join(dir, "source.log")
    writeFileSync(source, good)
    process.env[runLogDirVariable] = join(dir, "run")
    keepRunLog(source, "controller")
    writeFileSync(source, `${good}Error: not a log line\n`)
    keepRunLog(source, "hosts-updater")
    const failures = runLogFailures(join(dir, "run"))
    expect(failures.map(({ file, lineNumber, line }) => [file.endsWith("-hosts-updater.log"), lineNumber, line]))
      .toEqual([[true, 2, "Error: not a log line"]])
  } finally {
    delete process.env[runLogDirVariable]
    rmSync(dir, { recursive: true, force: true })
  }
})
