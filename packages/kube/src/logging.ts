// Owns the log format of our processes: one JSON object per line with time, level, msg and the log annotations
// (the object's kind and name, the error), the way Kubernetes components log, with a last-resort redaction of
// fields whose names say they carry credentials. A failure is its message, tag and cause chain on one line, the
// stack only when debugging; the failure that ends a program is logged the same way, once.
import { Cause, Effect, Layer, Logger, References, Runtime } from "effect"
import type { LogLevel } from "effect/LogLevel"

export type LogLine = (line: string) => void

/** Field names whose values are never printed, however they got into a log call. */
const credentialKey = /pass(word|wd)?$|token|secret[-_]?key|credential|authorization|private[-_]?key|^auth$/i
const redacted = "[redacted]"

const reservedKeys = new Set(["time", "level", "msg", "error", "errorTag", "causes", "stack"])

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

interface CauseLink {
  readonly tag: string
  readonly message: string
}

const tagOf = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return typeof error
  const tagged = (error as { readonly _tag?: unknown })._tag
  if (typeof tagged === "string") return tagged
  return error instanceof Error ? error.name : "Object"
}

const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    return (error as { message: string }).message
  }
  return typeof error === "string" ? error : JSON.stringify(redactLogValue(error)) ?? String(error)
}

/** What `error` was caused by, outermost first: its `cause` properties, followed as far as they go. */
const causeChain = (error: unknown): ReadonlyArray<CauseLink> => {
  const chain: Array<CauseLink> = []
  const seen = new Set<unknown>([error])
  let next = typeof error === "object" && error !== null ? (error as { cause?: unknown }).cause : undefined
  while (next !== undefined && next !== null && !seen.has(next) && chain.length < 10) {
    seen.add(next)
    chain.push({ tag: tagOf(next), message: messageOf(next) })
    next = typeof next === "object" ? (next as { cause?: unknown }).cause : undefined
  }
  return chain
}

const debugLevels: ReadonlySet<string> = new Set(["All", "Trace", "Debug"])

/**
 * The fields of a failure: `error` (its message), `errorTag`, `causes` (the cause chain, and any further failures of
 * the same Cause), and `stack` only when `withStack`. One line, whatever the failure.
 */
export const failureFields = (cause: Cause.Cause<unknown>, withStack: boolean): Record<string, unknown> => {
  const reasons = cause.reasons.filter((reason) => !Cause.isInterruptReason(reason))
  if (reasons.length === 0) return { error: "interrupted", errorTag: "Interrupted" }
  const errorOf = (reason: Cause.Reason<unknown>) => (Cause.isFailReason(reason) ? reason.error : Cause.isDieReason(reason) ? reason.defect : undefined)
  const [first, ...rest] = reasons.map(errorOf)
  const causes = [...causeChain(first), ...rest.flatMap((error) => [{ tag: tagOf(error), message: messageOf(error) }, ...causeChain(error)])]
  const stack = first instanceof Error ? first.stack : undefined
  return {
    error: messageOf(first),
    errorTag: tagOf(first),
    ...(causes.length === 0 ? {} : { causes }),
    ...(withStack && stack !== undefined ? { stack } : {})
  }
}

/** The JSON object printed for one log call. */
export const logRecord = (options: Logger.Options<unknown>): Record<string, unknown> => {
  const record: Record<string, unknown> = {
    time: options.date.toISOString(),
    level: options.logLevel.toLowerCase(),
    msg: messageText(options.message)
  }
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  const failed = options.cause.reasons.length > 0
  for (const [key, value] of Object.entries(annotations)) {
    // An `error` annotation is the conventional error field, unless the log call carries a failure of its own.
    const name = reservedKeys.has(key) && !(key === "error" && !failed) ? `annotation.${key}` : key
    record[name] = credentialKey.test(key) ? redacted : redactLogValue(value)
  }
  if (failed) {
    Object.assign(record, failureFields(options.cause, debugLevels.has(options.fiber.getRef(References.MinimumLogLevel))))
  }
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

const markReported = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause)
  if (typeof error === "object" && error !== null) {
    Object.defineProperty(error, Runtime.errorReported, { value: false, configurable: true })
  }
}

/**
 * Run a program with its logging. In JSON format its fatal failure is logged as one record (message, tag, cause
 * chain; the stack at debug level) and marked reported, so the runtime does not print it again as a stack trace.
 */
export const withProgramLogging = (options: ProgramLoggingOptions = {}) => <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  options.format === "text"
    ? Effect.provide(program, programLogging(options))
    : program.pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Effect.logError("stopped by a fatal error", cause).pipe(Effect.andThen(Effect.sync(() => markReported(cause))))
      ),
      Effect.provide(programLogging(options))
    )
