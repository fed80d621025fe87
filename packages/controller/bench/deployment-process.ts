// The benchmark's last phase: the controller exactly as the Deployment's container runs it, the image's entrypoint
// (`node main.mjs controller` from the image's bundle, the manifests' NODE_OPTIONS, leader election, the webhooks, probes and
// metrics) with a mounted service account, observed only from outside: its /readyz, its /metrics, the cluster and
// /proc. It starts while an ImagePullSecret is waiting, so it times start-up to caches synced and to the first
// write, then convergence, status writes per status interval, peak and settled RSS, and a forced relist at quiet.
import type { KubeRequest } from "@tcr-assistant/kube"
import { prometheusSamples, sumSamples } from "@tcr-assistant/kube/prometheus"
import { describeWrites, totalWrites, writesBetween, writesByResource } from "@tcr-assistant/testkit/apiserver-writes"
import { firstTrue } from "@tcr-assistant/testkit/eventually"
import { imageEntrypoint } from "@tcr-assistant/testkit/image-app"
import { freePort, loopbackGet, processStatusMiB } from "@tcr-assistant/testkit/processes"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"

export interface DeploymentProcessOptions {
  /** The image's /app: the bundle (testkit's buildImageApp, or bundleCli). */
  readonly appDir: string
  readonly serviceAccountDir: string
  /** An admin kubeconfig, for kubectl's watch of the ImagePullSecret's status. */
  readonly kubeconfigPath: string
  readonly env: NodeJS.ProcessEnv
  readonly nodeOptions: string
  readonly namespaceCount: number
  /** Delete the ImagePullSecret at the end, and wait until the process has removed what it distributed. */
  readonly deleteAfter?: boolean | undefined
  /** Of the ImagePullSecret it converges; default bench-deployment. */
  readonly name?: string | undefined
  readonly request: <A = any>(request: KubeRequest) => Promise<A>
  readonly log: (line: string) => void
  /** Watch for writes this long at quiet after converging, in ms. */
  readonly settleMillis: number
  /** Then wait for the informers' periodic relist (every 5 minutes) and measure its writes and CPU. */
  readonly awaitRelist: boolean
}

/**
 * When the ImagePullSecret's status changed, as a watch sees it (kubectl, one line per event): every change of the
 * printed status is one status write.
 */
const watchStatus = (kubeconfigPath: string, name: string) => {
  const times: Array<number> = []
  const watch = spawn("kubectl", ["--kubeconfig", kubeconfigPath, "get", "imagepullsecrets.tcr.tencentcloudcr.com", name, "--watch", "-o", "jsonpath={.status}{\"\\n\"}"], { stdio: ["ignore", "pipe", "ignore"] })
  let previous: string | undefined
  let buffered = ""
  watch.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk
    const lines = buffered.split("\n")
    buffered = lines.pop()!
    for (const line of lines) {
      if (previous !== undefined && line !== previous) times.push(performance.now())
      previous = line
    }
  })
  return { times, stop: () => void watch.kill() }
}

/** GET /metrics over HTTPS from the process's self-signed server, as Prometheus scrapes it. */
const scrapeSecure = async (port: number, token: string) => {
  const reply = await loopbackGet({ port, path: "/metrics", secure: true, token })
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`)
  return reply.body
}

/**
 * Writes other than the leader Lease's renewals. The TokenReviews and SubjectAccessReviews the secure /metrics creates
 * to authorize each of the bench's own scrapes are not counted: the apiserver stores nothing for them.
 */
const writesBesidesLeases = (metricsText: string) => writesByResource(metricsText, ["leases", "tokenreviews", "subjectaccessreviews"])

/**
 * Wait for the informers' next periodic relist (their counter goes up), sampling the process's CPU every second;
 * the relist's cost is the CPU of the seconds from just before it was seen until 10 s later.
 */
const awaitRelist = async (scrape: () => Promise<string>, cpuSeconds: () => number, stopped: () => boolean) => {
  const relists = (text: string) => sumSamples(prometheusSamples(text), "tcr_assistant_watch_relists_total")
  const before = relists(await scrape())
  const startedAt = performance.now()
  const perSecond: Array<number> = []
  let last = cpuSeconds()
  let seenAt: number | undefined
  while (!stopped() && performance.now() - startedAt < 420_000) {
    await sleep(1000)
    const now = cpuSeconds()
    perSecond.push(now - last)
    last = now
    if (seenAt === undefined && relists(await scrape()) > before) seenAt = perSecond.length
    if (seenAt !== undefined && perSecond.length >= seenAt + 10) break
  }
  if (seenAt === undefined) throw new Error("no periodic relist within 7 minutes")
  const window = perSecond.slice(Math.max(0, seenAt - 2))
  const idle = [...perSecond.slice(0, Math.max(1, seenAt - 2))].sort((a, b) => a - b)
  return {
    relists: relists(await scrape()) - before,
    waitedSeconds: seenAt,
    windowSeconds: window.length,
    relistCpuSeconds: window.reduce((sum, value) => sum + value, 0),
    peakCpuPerSecond: Math.max(...window),
    idleCpuPerSecond: idle[Math.floor(idle.length / 2)] ?? 0
  }
}

/** Run the phase and print its figures; the process is stopped before this returns. */
export const measureDeploymentProcess = async (options: DeploymentProcessOptions): Promise<Record<string, number>> => {
  const { request, log } = options
  const namespace = "tcr-bench-system"
  await request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: namespace } } }).catch(() => undefined)
  const name = options.name ?? "bench-deployment"
  await request({
    method: "POST",
    path: "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets",
    body: { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name }, spec: { namespaces: "*", serviceAccounts: "*", docker: { server: "registry.example.com", username: "bench", password: "bench-password" } } }
  })
  const [healthPort, webhookPort, metricsPort] = [await freePort(), await freePort(), await freePort()]
  const statusChanges = watchStatus(options.kubeconfigPath, name)
  const startedAt = performance.now()
  const [, ...entrypoint] = imageEntrypoint
  const child = spawn(process.execPath, [
    ...entrypoint,
    "controller",
    "--service-account-dir", options.serviceAccountDir,
    "--namespace", namespace,
    "--health-host", "127.0.0.1",
    "--health-port", String(healthPort),
    "--webhook-host", "127.0.0.1",
    "--webhook-port", String(webhookPort),
    "--metrics-host", "127.0.0.1",
    "--metrics-port", String(metricsPort),
    "--log-level", "error"
  ], {
    cwd: options.appDir,
    env: { ...options.env, NODE_OPTIONS: options.nodeOptions, POD_NAME: "bench-controller-0", POD_NAMESPACE: namespace },
    stdio: ["ignore", "inherit", "inherit"]
  })
  let exited = false
  child.once("exit", () => (exited = true))
  const proc = (file: string) => readFileSync(`/proc/${child.pid}/${file}`, "utf8")
  const cpuSeconds = () => {
    const fields = proc("stat").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  }
  const kib = (field: string) => processStatusMiB(child.pid!, field)
  // The secure /metrics, as Prometheus scrapes it: a bearer token the apiserver authorizes (the bench's cluster-admin).
  const token = readFileSync(join(options.serviceAccountDir, "token"), "utf8").trim()
  const scrape = () => scrapeSecure(metricsPort, token)
  const stopped = () => exited
  try {
    const secretName = `tcr.ips${name}`
    const [ready, firstWrite] = await Promise.all([
      firstTrue(() => fetch(`http://127.0.0.1:${healthPort}/readyz`).then((response) => response.ok, () => false), 5, stopped),
      firstTrue(async () => {
        const page = await request<{ items: Array<unknown> }>({ method: "GET", path: "/api/v1/secrets", query: { fieldSelector: `metadata.name=${secretName}`, limit: 1 } })
        return page.items.length > 0
      }, 5, stopped)
    ])
    if (ready === undefined || firstWrite === undefined) throw new Error("the controller process exited before it was ready")
    const converged = await firstTrue(async () => {
      const ips = await request<{ status?: Record<string, number> }>({ method: "GET", path: `/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets/${name}` })
      const status = ips.status ?? {}
      return (status.secretsDesired ?? 0) >= options.namespaceCount && status.secretsSuccess === status.secretsDesired &&
        status.serviceAccountsSuccess === status.serviceAccountsDesired
    }, 50, stopped)
    if (converged === undefined) throw new Error("the controller process exited before it converged")
    const convergedMetrics = await scrape()
    // The status is written by the end of the interval after the last change: wait one more before counting.
    await sleep(1500)
    const writesSeen = statusChanges.times.filter((at) => at <= converged + 1500)
    const statusWrites = writesSeen.length
    const gaps = writesSeen.slice(1).map((at, i) => at - writesSeen[i]!)
    const convergingSeconds = (converged - firstWrite) / 1000
    const cpuConverged = cpuSeconds()
    const peakConverging = kib("VmHWM")

    // At quiet: writes other than the Lease's over a settling window, then (with --await-relist) until the periodic
    // relist of every informer has happened, with the CPU of each second around it.
    await sleep(options.settleMillis)
    const settledMetrics = await scrape()
    const relistFigures = options.awaitRelist ? await awaitRelist(scrape, cpuSeconds, stopped) : undefined
    const quietMetrics = await scrape()
    const relistWrites = writesBetween(writesBesidesLeases(settledMetrics), writesBesidesLeases(quietMetrics))
    const figures = {
      readyMillis: ready - startedAt,
      firstWriteMillis: firstWrite - startedAt,
      convergenceSeconds: (converged - startedAt) / 1000,
      convergingSeconds,
      statusWrites,
      statusWritesPerInterval: statusWrites / Math.max(1, Math.ceil(convergingSeconds + 1.5)),
      statusWriteMinGapMillis: gaps.length === 0 ? Number.NaN : Math.min(...gaps),
      cpuSecondsToConverged: cpuConverged,
      peakRssConvergingMiB: peakConverging,
      rssSettledMiB: kib("VmRSS"),
      peakRssMiB: kib("VmHWM"),
      settleWrites: totalWrites(writesBetween(writesBesidesLeases(convergedMetrics), writesBesidesLeases(settledMetrics))),
      ...(relistFigures === undefined ? {} : { ...relistFigures, relistWrites: totalWrites(relistWrites) })
    }
    log(`deployment's process (node main.mjs controller from the image's bundle, NODE_OPTIONS=${options.nodeOptions}):`)
    log(`  start -> ready (caches synced, leader) ${figures.readyMillis.toFixed(0)} ms, -> first write ${figures.firstWriteMillis.toFixed(0)} ms, -> converged ${figures.convergenceSeconds.toFixed(2)} s`)
    log(`  status writes of this ImagePullSecret while converging: ${statusWrites} over ${convergingSeconds.toFixed(1)} s (${figures.statusWritesPerInterval.toFixed(2)} per 1 s status interval; shortest gap between two ${figures.statusWriteMinGapMillis.toFixed(0)} ms)`)
    log(`  RSS: peak ${figures.peakRssMiB.toFixed(0)} MiB (converging ${peakConverging.toFixed(0)} MiB), settled ${figures.rssSettledMiB.toFixed(0)} MiB; CPU to converged ${cpuConverged.toFixed(2)} s`)
    log(`  writes besides the leader Lease in ${(options.settleMillis / 1000).toFixed(0)} s after converging: ${figures.settleWrites}`)
    if (relistFigures !== undefined) {
      log(`  periodic relist at quiet (${relistFigures.relists} informer relists after ${relistFigures.waitedSeconds.toFixed(0)} s): ${figures.relistWrites} writes besides the Lease and the scrapes' reviews (${describeWrites(relistWrites)}); CPU ${relistFigures.relistCpuSeconds.toFixed(2)} s in the ${relistFigures.windowSeconds} s around it (idle seconds before: median ${(1000 * relistFigures.idleCpuPerSecond).toFixed(0)} ms/s), peak ${(1000 * relistFigures.peakCpuPerSecond).toFixed(0)} ms in one second`)
    }
    if (options.deleteAfter === true) {
      // The process removes what it distributed (its finalizer), leaving the cluster as it found it.
      await request({ method: "DELETE", path: `/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets/${name}` })
      await firstTrue(() => request({ method: "GET", path: `/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets/${name}` }).then(() => false, () => true), 200, stopped)
    }
    return figures
  } finally {
    statusChanges.stop()
    if (!exited) {
      const gone = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await Promise.race([gone, sleep(5000)])
      if (!exited) child.kill("SIGKILL")
    }
  }
}
