// Owns the Prometheus side of Effect's `Metric`: one registry per program, series whose values are read from their
// owners at scrape time, and the text exposition format (0.0.4) that both programs serve.
import { Context, Effect, Layer, Metric, type Scope } from "effect"

export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/** Seconds, for request and reconcile latencies: 1 ms to 10 s (the +Inf bucket is implied). */
export const durationBuckets: ReadonlyArray<number> = Metric.boundariesFromIterable([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
])

export type Labels = Readonly<Record<string, string>>

export interface Sample {
  readonly labels?: Labels | undefined
  readonly value: number
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const escapeHelp = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabelValue = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const formatValue = (value: number | bigint) => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const formatLabels = (labels: Labels | undefined, extra?: readonly [string, string]) => {
  const entries = Object.entries(labels ?? {})
  if (extra !== undefined) entries.push([extra[0], extra[1]])
  if (entries.length === 0) return ""
  for (const [name] of entries) {
    if (!labelName.test(name) || name.startsWith("__")) throw new Error(`invalid Prometheus label name ${JSON.stringify(name)}`)
  }
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`
}

const prometheusType = (snapshot: Metric.Metric.Snapshot) => {
  switch (snapshot.type) {
    case "Counter":
      return "counter"
    case "Gauge":
      return "gauge"
    case "Histogram":
      return "histogram"
    case "Summary":
      return "summary"
    case "Frequency":
      throw new Error(`metric ${snapshot.id}: a Frequency has no Prometheus type; use a Counter with a label`)
  }
}

const seriesLines = (snapshot: Metric.Metric.Snapshot): ReadonlyArray<string> => {
  const name = snapshot.id
  const labels = snapshot.attributes
  switch (snapshot.type) {
    case "Counter":
      return [`${name}${formatLabels(labels)} ${formatValue(snapshot.state.count)}`]
    case "Gauge":
      return [`${name}${formatLabels(labels)} ${formatValue(snapshot.state.value)}`]
    case "Histogram": {
      const lines = snapshot.state.buckets.map(([bound, cumulative]) =>
        `${name}_bucket${formatLabels(labels, ["le", formatValue(bound)])} ${cumulative}`
      )
      if (snapshot.state.buckets.at(-1)?.[0] !== Infinity) {
        lines.push(`${name}_bucket${formatLabels(labels, ["le", "+Inf"])} ${snapshot.state.count}`)
      }
      lines.push(`${name}_sum${formatLabels(labels)} ${formatValue(snapshot.state.sum)}`)
      lines.push(`${name}_count${formatLabels(labels)} ${snapshot.state.count}`)
      return lines
    }
    case "Summary": {
      const lines = snapshot.state.quantiles.map(([quantile, value]) =>
        `${name}${formatLabels(labels, ["quantile", formatValue(quantile)])} ${formatValue(value ?? NaN)}`
      )
      lines.push(`${name}_sum${formatLabels(labels)} ${formatValue(snapshot.state.sum)}`)
      lines.push(`${name}_count${formatLabels(labels)} ${snapshot.state.count}`)
      return lines
    }
    case "Frequency":
      return []
  }
}

/**
 * Render snapshots in the text format: the series of one name form one family with one HELP and TYPE line, in the
 * order the names were first registered. Every family needs a description (its HELP), and one name has one type.
 */
export const renderPrometheus = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>): string => {
  const families = new Map<string, { type: string; help: string; series: Array<Metric.Metric.Snapshot> }>()
  for (const snapshot of snapshots) {
    if (!metricName.test(snapshot.id)) throw new Error(`invalid Prometheus metric name ${JSON.stringify(snapshot.id)}`)
    const type = prometheusType(snapshot)
    const help = snapshot.description ?? ""
    if (help === "") throw new Error(`metric ${snapshot.id} has no description for its HELP line`)
    const family = families.get(snapshot.id)
    if (family === undefined) families.set(snapshot.id, { type, help, series: [snapshot] })
    else if (family.type !== type || family.help !== help) {
      throw new Error(`metric ${snapshot.id} is registered twice with different types or descriptions`)
    } else family.series.push(snapshot)
  }
  const lines: Array<string> = []
  for (const [name, family] of families) {
    lines.push(`# HELP ${name} ${escapeHelp(family.help)}`, `# TYPE ${name} ${family.type}`)
    for (const series of family.series) lines.push(...seriesLines(series))
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

// `s`: a label value may hold a raw carriage return or line separator; the format escapes only \n.
const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/s
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y
const unescapeLabelValue = (text: string) => text.replace(/\\(.)/g, (_, char: string) => (char === "n" ? "\n" : char))
const sampleValue = (raw: string) => (raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw))

const parseLines = <A>(text: string, sample: (name: string, labels: string, value: number) => A): Array<A> => {
  const samples: Array<A> = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = sampleLine.exec(line)
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`)
    samples.push(sample(match[1]!, match[2] ?? "", sampleValue(match[3]!)))
  }
  return samples
}

/** Parse the text format back into `name{labels} -> value`, for tests and the CLI's status command. */
export const parsePrometheus = (text: string): ReadonlyMap<string, number> =>
  new Map(parseLines(text, (name, labels, value) => [`${name}${labels}`, value] as const))

/** One sample of an exposition, its labels unescaped. */
export interface ParsedSample {
  readonly name: string
  readonly labels: Labels
  readonly value: number
}

/** Parse the text format into its samples, for readers that select by label rather than by the whole series. */
export const prometheusSamples = (text: string): ReadonlyArray<ParsedSample> =>
  parseLines(text, (name, braced, value) => {
    const labels: Record<string, string> = {}
    const inner = braced.slice(1, -1)
    labelPair.lastIndex = 0
    while (labelPair.lastIndex < inner.length) {
      const at = labelPair.lastIndex
      const pair = labelPair.exec(inner)
      if (pair === null) throw new Error(`not a Prometheus label set at ${at}: ${braced}`)
      labels[pair[1]!] = unescapeLabelValue(pair[2]!)
    }
    return { name, labels, value }
  })

/** The sum of a family's samples whose labels include every one of `match`'s. */
export const sumSamples = (samples: ReadonlyArray<ParsedSample>, name: string, match: Labels = {}): number =>
  samples.reduce(
    (sum, sample) =>
      sample.name === name && Object.entries(match).every(([label, value]) => sample.labels[label] === value)
        ? sum + sample.value
        : sum,
    0
  )

/**
 * `Metric.withAttributes(metric, labels)` made once per label set and kept: an attributed metric computes its series
 * key on its first update and reuses it, so the hot paths (every apiserver request, every reconcile) skip turning
 * their labels into a key each time. `labels` must list the same label names in the same order at every call.
 */
export const seriesOf = <M extends Metric.Metric<any, any>>(metric: M) => {
  const series = new Map<string, M>()
  return (labels: Labels): M => {
    const key = Object.values(labels).join("\u0000")
    let attributed = series.get(key)
    if (attributed === undefined) {
      attributed = Metric.withAttributes(metric, labels) as M
      series.set(key, attributed)
    }
    return attributed
  }
}

/** A family whose series are read from their owner at every scrape: one sample per label set, sets come and go. */
export type ReadMetric = Metric.Gauge<number> | Metric.Counter<number>

interface Tracked {
  readonly refresh: () => void
}

const labelKey = (labels: Labels | undefined) =>
  JSON.stringify(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

/** What each registry refreshes before a scrape; keyed by the registry so each program has its own. */
const trackedByRegistry = new WeakMap<Metric.MetricRegistry, Set<Tracked>>()

const trackedOf = (context: Context.Context<never>) => {
  const registry = Context.get(context, Metric.MetricRegistry)
  let tracked = trackedByRegistry.get(registry)
  if (tracked === undefined) {
    tracked = new Set()
    trackedByRegistry.set(registry, tracked)
  }
  return tracked
}

/**
 * Keep `metric`'s series equal to `read()` at every scrape of the current registry, for values another component
 * owns (a cache's size, a status field, a total it counts itself). Label sets missing from a later read disappear;
 * all of them do when the scope closes.
 */
export const trackMetric = (metric: ReadMetric, read: () => Iterable<Sample>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.context<never>(), (context) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const series = new Map<string, { value: number; readonly registration: Metric.Registration }>()
        const register = (labels: Labels | undefined) => {
          const labelled: Metric.Metric<number, any> = labels === undefined || Object.keys(labels).length === 0
            ? metric
            : Metric.withAttributes(metric as Metric.Metric<number, any>, labels)
          const entry: { value: number; registration: Metric.Registration | undefined } = { value: 0, registration: undefined }
          const get = metric.type === "Counter" ? () => ({ count: entry.value, incremental: true }) : () => ({ value: entry.value })
          entry.registration = Metric.registerUnsafe(labelled, context, {
            get,
            update: () => {},
            modify: () => {}
          })
          return entry as { value: number; readonly registration: Metric.Registration }
        }
        const refresh = () => {
          const seen = new Set<string>()
          for (const sample of read()) {
            const key = labelKey(sample.labels)
            seen.add(key)
            const entry = series.get(key) ?? register(sample.labels)
            entry.value = sample.value
            series.set(key, entry)
          }
          for (const [key, entry] of series) {
            if (seen.has(key)) continue
            entry.registration.remove()
            series.delete(key)
          }
        }
        const owner = { refresh, series }
        trackedOf(context).add(owner)
        return owner
      }),
      (owner) =>
        Effect.sync(() => {
          trackedOf(context).delete(owner)
          for (const entry of owner.series.values()) entry.registration.remove()
        })
    )).pipe(Effect.asVoid)

/** The text exposition of every series in the context's registry, after refreshing the tracked ones. */
export const scrapePrometheusUnsafe = (context: Context.Context<never>): string => {
  for (const owner of trackedOf(context)) owner.refresh()
  return renderPrometheus(Metric.snapshotUnsafe(context))
}

/** A fresh registry for one program, so two programs in one process (as in tests) do not mix their series. */
export const metricRegistryLayer = Layer.sync(Metric.MetricRegistry, () => new Map())
