// Owns the check of what our programs print (issue 14): every line is one JSON object with an ISO `time`, a known
// `level` and a string `msg`, and a failure's message sits under `error`. A log file that breaks it is reported with
// the offending line, its number and the file.
import type { ChildProcess } from "node:child_process"
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** The levels the kit's logger prints (effect's log levels, lowercased). */
export const logLevels: ReadonlySet<string> = new Set(["trace", "debug", "info", "warn", "error", "fatal"])

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

/** Why `line` is not one of our log lines, or undefined when it is. */
export const logLineProblem = (line: string): string | undefined => {
  let record: unknown
  try {
    record = JSON.parse(line)
  } catch {
    return "not JSON"
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return "not a JSON object"
  const { time, level, msg, error, errorTag } = record as Record<string, unknown>
  if (typeof time !== "string" || !isoTime.test(time) || Number.isNaN(Date.parse(time))) return "no ISO time"
  if (typeof level !== "string" || !logLevels.has(level)) return `level ${JSON.stringify(level)} is not one of ${[...logLevels].join(", ")}`
  if (typeof msg !== "string") return "no msg string"
  if (error !== undefined && typeof error !== "string") return "error is not a string"
  if (errorTag !== undefined && error === undefined) return "errorTag without error"
  return undefined
}

export interface LogLineFailure {
  readonly file: string
  /** 1-based. */
  readonly lineNumber: number
  readonly line: string
  readonly problem: string
}

/** Every line of `text` (from `file`) that is not a log line; a trailing newline ends the last line. */
export const logTextFailures = (text: string, file: string): ReadonlyArray<LogLineFailure> =>
  text
    .split("\n")
    .map((line, index) => ({ line, lineNumber: index + 1 }))
    .filter(({ line }, index, lines) => !(line === "" && index === lines.length - 1))
    .flatMap(({ line, lineNumber }) => {
      const problem = logLineProblem(line)
      return problem === undefined ? [] : [{ file, lineNumber, line, problem }]
    })

/** The failures of each file; an empty list when every line is a log line. */
export const logFileFailures = (files: ReadonlyArray<string>): ReadonlyArray<LogLineFailure> =>
  files.flatMap((file) => logTextFailures(readFileSync(file, "utf8"), file))

/** One message naming every offending line, for a test's failure. */
export const describeLogFailures = (failures: ReadonlyArray<LogLineFailure>) =>
  failures.map((failure) => `${failure.file}:${failure.lineNumber}: ${failure.problem}: ${failure.line}`).join("\n")

/** The environment variable naming the e2e run's log directory (set by the global setup). */
export const runLogDirVariable = "TCR_E2E_RUN_LOG_DIR"

/** Keeps a copy of a program's log file in the run's log directory, for the run's last check; no-op outside a run. */
export const keepRunLog = (logFile: string, name: string) => {
  const dir = process.env[runLogDirVariable]
  if (dir === undefined || dir === "" || !existsSync(logFile)) return
  mkdirSync(dir, { recursive: true })
  copyFileSync(logFile, join(dir, `${process.pid}-${Date.now()}-${name}.log`))
}

/** Whether this process runs inside an e2e run that keeps logs (so that collecting them is worth its cost). */
export const keepingRunLogs = (): boolean => (process.env[runLogDirVariable] ?? "") !== ""

/** Keeps `text` (a program's log read some other way, e.g. `kubectl logs`) for the run's last check; no-op outside a run. */
export const keepRunLogText = (text: string, name: string) => {
  const dir = process.env[runLogDirVariable]
  if (dir === undefined || dir === "") return
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${process.pid}-${Date.now()}-${name}.log`), text)
}

/** The failures of every log file kept in the run's log directory `dir`. */
export const runLogFailures = (dir: string): ReadonlyArray<LogLineFailure> =>
  existsSync(dir) ? logFileFailures(readdirSync(dir).filter((name) => name.endsWith(".log")).map((name) => join(dir, name))) : []

/**
 * Appends everything a running program prints on stdout and on stderr (each line must be a log record) to files in
 * the run's log directory, one per stream so that lines never interleave, for the run's last check; no-op outside a
 * run. The caller may read the streams too.
 */
export const captureRunLog = (name: string, child: ChildProcess) => {
  const dir = process.env[runLogDirVariable]
  if (dir === undefined || dir === "") return
  mkdirSync(dir, { recursive: true })
  const prefix = join(dir, `${process.pid}-${Date.now()}-${child.pid ?? 0}-${name}`)
  child.stdout?.on("data", (chunk: Buffer | string) => appendFileSync(`${prefix}-stdout.log`, chunk))
  child.stderr?.on("data", (chunk: Buffer | string) => appendFileSync(`${prefix}-stderr.log`, chunk))
}
