// Owns the log format of our processes: one JSON object per line with time, level, msg and the log annotations
// (the object's kind and name, the error), the way Kubernetes components log, with a last-resort redaction of
// fields whose names say they carry credentials.
import { Cause, Layer, Logger, References } from "effect"
import type { LogLevel } from "effect/LogLevel"

export type LogLine = (line: string) => void

/** Field names whose values are never printed, however they got into a log call. */
const credentialKey = /pass(word|wd)?$|token|secret[-_]?key|credential|authorization|private[-_]?key|^auth$/i
const redacted = "[redacted]"

const reservedKeys = new Set(["time", "level", "msg", "error"])

/** Deep copy of a log value with credential-named fields replaced; cycles and functions are flattened. */
export const redactLogValue = (value: unknown, seen: Set<unknown> = new Set()): unknown => {
  if (value === null || typeof value !== "object") {
    return typeof value === "function" || typeof value === "symbol" ? String(value) : value
  }
  if (seen.has(value)) return "[circular]"
  seen.add(value)
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map((item) => redactLogValue(item, seen))
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value)) out[key] = credentialKey.test(key) ? redacted : redactLogValue(field, seen)
  return out
}

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts
    .map((part) => (typeof part === "string" ? part : JSON.stringify(redactLogValue(part))))
    .join(" ")
}

/** The JSON object printed for one log call. */
export const logRecord = (options: Logger.Options<unknown>): Record<string, unknown> => {
  const record: Record<string, unknown> = {
    time: options.date.toISOString(),
    level: options.logLevel.toLowerCase(),
    msg: messageText(options.message)
  }
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  for (const [key, value] of Object.entries(annotations)) {
    const name = reservedKeys.has(key) ? `annotation.${key}` : key
    record[name] = credentialKey.test(key) ? redacted : redactLogValue(value)
  }
  if (options.cause.reasons.length > 0) record.error = Cause.pretty(options.cause)
  return record
}

const writeStdout: LogLine = (line) => {
  process.stdout.write(`${line}\n`)
}

/** A logger that prints one JSON object per line to `write` (stdout by default). */
export const jsonLogger = (write: LogLine = writeStdout) =>
  Logger.make<unknown, void>((options) => write(JSON.stringify(logRecord(options))))

export interface JsonLoggingOptions {
  /** Least severe level printed; default Info. */
  readonly level?: LogLevel | undefined
  readonly write?: LogLine | undefined
}

/** Replaces the default loggers with the JSON logger and sets the minimum level. */
export const jsonLogging = (options: JsonLoggingOptions = {}) =>
  Layer.mergeAll(
    Logger.layer([jsonLogger(options.write)]),
    Layer.succeed(References.MinimumLogLevel, options.level ?? "Info")
  )

export interface ProgramLoggingOptions extends JsonLoggingOptions {
  /** Default json: one JSON object per line. text keeps Effect's default logger, for people at a terminal. */
  readonly format?: "json" | "text" | undefined
}

/** How each of our programs logs: the `--log-format` flag's two formats, at the minimum level either way. */
export const programLogging = (options: ProgramLoggingOptions = {}) =>
  options.format === "text"
    ? Layer.succeed(References.MinimumLogLevel, options.level ?? "Info")
    : jsonLogging(options)
