// Owns the Prometheus text exposition (format 0.0.4): metric families with labels, histograms with cumulative
// buckets, and the escaping rules. Values are gathered at scrape time from whoever owns them.

export interface Sample {
  readonly labels?: Readonly<Record<string, string>> | undefined
  readonly value: number
}

export interface HistogramSnapshot {
  readonly labels?: Readonly<Record<string, string>> | undefined
  /** Upper bounds, ascending, without +Inf. */
  readonly bounds: ReadonlyArray<number>
  /** Observations per bucket (not cumulative); one more entry than bounds, the last for +Inf. */
  readonly counts: ReadonlyArray<number>
  readonly sum: number
  readonly count: number
}

export type MetricFamily =
  | { readonly name: string; readonly help: string; readonly type: "counter" | "gauge"; readonly samples: ReadonlyArray<Sample> }
  | { readonly name: string; readonly help: string; readonly type: "histogram"; readonly histograms: ReadonlyArray<HistogramSnapshot> }

export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/** Seconds, for request and reconcile latencies: 1 ms to 10 s. */
export const durationBuckets: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const escapeHelp = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabelValue = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const formatValue = (value: number) => {
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const formatLabels = (labels: Readonly<Record<string, string>> | undefined, extra?: readonly [string, string]) => {
  const entries = Object.entries(labels ?? {})
  if (extra !== undefined) entries.push([extra[0], extra[1]])
  if (entries.length === 0) return ""
  for (const [name] of entries) if (!labelName.test(name)) throw new Error(`invalid Prometheus label name ${JSON.stringify(name)}`)
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`
}

/** Render families in the text format; every family gets HELP and TYPE even when it has no samples yet. */
export const renderPrometheus = (families: ReadonlyArray<MetricFamily>): string => {
  const lines: Array<string> = []
  for (const family of families) {
    if (!metricName.test(family.name)) throw new Error(`invalid Prometheus metric name ${JSON.stringify(family.name)}`)
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`)
    lines.push(`# TYPE ${family.name} ${family.type}`)
    if (family.type === "histogram") {
      for (const histogram of family.histograms) {
        let cumulative = 0
        histogram.bounds.forEach((bound, index) => {
          cumulative += histogram.counts[index] ?? 0
          lines.push(`${family.name}_bucket${formatLabels(histogram.labels, ["le", formatValue(bound)])} ${cumulative}`)
        })
        lines.push(`${family.name}_bucket${formatLabels(histogram.labels, ["le", "+Inf"])} ${histogram.count}`)
        lines.push(`${family.name}_sum${formatLabels(histogram.labels)} ${formatValue(histogram.sum)}`)
        lines.push(`${family.name}_count${formatLabels(histogram.labels)} ${histogram.count}`)
      }
    } else {
      for (const sample of family.samples) lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`)
    }
  }
  return `${lines.join("\n")}\n`
}

/** A histogram that counts observations into fixed buckets; cheap enough to call on every request. */
export class Histogram {
  readonly bounds: ReadonlyArray<number>
  private readonly counts: Array<number>
  private sum = 0
  private count = 0

  constructor(bounds: ReadonlyArray<number> = durationBuckets) {
    this.bounds = [...bounds].sort((a, b) => a - b)
    this.counts = new Array(this.bounds.length + 1).fill(0)
  }

  observe(value: number): void {
    let index = this.bounds.findIndex((bound) => value <= bound)
    if (index === -1) index = this.bounds.length
    this.counts[index]!++
    this.sum += value
    this.count++
  }

  snapshot(labels?: Readonly<Record<string, string>>): HistogramSnapshot {
    return { labels, bounds: this.bounds, counts: [...this.counts], sum: this.sum, count: this.count }
  }
}

/** Parse the text format back into `name{labels} -> value`, for tests and the CLI's status command. */
export const parsePrometheus = (text: string): ReadonlyMap<string, number> => {
  const values = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const raw = match[2]!
    values.set(match[1]!, raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw))
  }
  return values
}
