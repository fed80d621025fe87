// Owns the metrics every program exports about its own process, under the names Prometheus client libraries use
// (process_*, nodejs_*), and the build-info series that tells which version is running.
import { Effect, Layer, Metric } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { trackMetric } from "./prometheus.ts"

/** The version of the add-on, for `tcr_assistant_build_info`; one place so both programs report the same. */
export const addonVersion = "0.1.0"

const gauge = (name: string, description: string) => Metric.gauge(name, { description })

const startTime = gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.")
const residentMemory = gauge("process_resident_memory_bytes", "Resident memory size, in bytes.")
const cpuSeconds = Metric.counter("process_cpu_seconds_total", { description: "User and system CPU time spent, in seconds.", incremental: true })
const openFds = gauge("process_open_fds", "Open file descriptors.")
const maxFds = gauge("process_max_fds", "Most file descriptors the process may open.")
const heapUsed = gauge("nodejs_heap_size_used_bytes", "V8 heap in use, in bytes.")
const heapTotal = gauge("nodejs_heap_size_total_bytes", "V8 heap allocated, in bytes.")
const eventLoopLag = gauge("nodejs_eventloop_lag_seconds", "Mean event-loop delay since the previous scrape, in seconds.")
const eventLoopLagMax = gauge("nodejs_eventloop_lag_max_seconds", "Longest event-loop delay since the previous scrape, in seconds.")
const buildInfo = gauge("tcr_assistant_build_info", "Always 1; the labels say which build of tcr-assistant is running.")

/** Descriptors open now, from /proc (Linux); undefined elsewhere. */
const countOpenFds = (): number | undefined => {
  try {
    // The listing itself holds one descriptor on the directory.
    return readdirSync("/proc/self/fd").length - 1
  } catch {
    return undefined
  }
}

const readMaxFds = (): number | undefined => {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
    return match?.[1] === undefined ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

const optional = (value: number | undefined) => (value === undefined ? [] : [{ value }])

export interface ProcessMetricsOptions {
  /** Which program this process runs, a label of the build info: controller or hosts-updater. */
  readonly program: string
}

/** Track the process's figures for as long as the layer lives. */
export const ProcessMetricsLive = (options: ProcessMetricsOptions) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const started = (performance.timeOrigin) / 1000
    const delay = monitorEventLoopDelay({ resolution: 10 })
    delay.enable()
    yield* Effect.addFinalizer(() => Effect.sync(() => delay.disable()))
    const maximum = readMaxFds()
    const lag = () => {
      const mean = Number.isNaN(delay.mean) ? 0 : delay.mean / 1e9
      const max = delay.max / 1e9
      return { mean, max }
    }
    let lastLag = { mean: 0, max: 0 }
    yield* trackMetric(startTime, () => [{ value: Math.round(started * 1000) / 1000 }])
    yield* trackMetric(residentMemory, () => [{ value: process.memoryUsage.rss() }])
    yield* trackMetric(cpuSeconds, () => {
      const usage = process.cpuUsage()
      return [{ value: (usage.user + usage.system) / 1e6 }]
    })
    yield* trackMetric(openFds, () => optional(countOpenFds()))
    yield* trackMetric(maxFds, () => optional(maximum))
    yield* trackMetric(heapUsed, () => [{ value: process.memoryUsage().heapUsed }])
    yield* trackMetric(heapTotal, () => [{ value: process.memoryUsage().heapTotal }])
    // Both lag gauges come from one reading per scrape; the delay histogram restarts after it.
    yield* trackMetric(eventLoopLag, () => {
      lastLag = lag()
      delay.reset()
      return [{ value: lastLag.mean }]
    })
    yield* trackMetric(eventLoopLagMax, () => [{ value: lastLag.max }])
    yield* trackMetric(buildInfo, () => [{
      labels: { version: addonVersion, program: options.program, nodejs_version: process.version },
      value: 1
    }])
  }))
