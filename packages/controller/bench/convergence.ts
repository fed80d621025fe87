// Benchmark: how fast the controller converges a cluster, against a plain client doing the same writes with the
// same concurrency, on the local control plane. Prints figures; asserts nothing.
//
//   npm run bench -- [--namespaces 1000] [--concurrency 16] [--rounds 3] [--quiet-seconds 60] [--latency-samples 100]
//                    [--sources] [--heap-snapshot] [--alloc-profile] [--settle-seconds 10] [--await-relist]
// The controller runs as the Deployment runs it: the image's bundle (the worker bundled with the CLI, sharing its
// chunks), the manifests' Node flags, authenticated by a mounted service account; --sources runs the TypeScript
// sources with a kubeconfig instead. Then the Deployment's own process (the image's entrypoint, `node main.mjs
// controller`) converges one more ImagePullSecret from a cold start, observed from outside (deployment-process.ts):
// start-up to ready and to the first write, status writes per status interval, peak RSS, writes at quiet, and with
// --await-relist the informers' periodic relist (its writes and CPU).
import { bundleCli } from "@tcr-assistant/cli/bundle"
import { controllerNodeOptions } from "@tcr-assistant/cli/manifests"
import { measureDeploymentProcess } from "./deployment-process.ts"
import { KubeClient, type KubeRequest } from "@tcr-assistant/kube"
import { resolveBenchFloor, runBenchFloor } from "@tcr-assistant/testkit/bench-floor"
import { firstTrue } from "@tcr-assistant/testkit/eventually"
import { startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { processStatusMiB } from "@tcr-assistant/testkit/processes"
import { Effect, Fiber, ManagedRuntime, Stream } from "effect"
import { execFileSync, fork } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { parseArgs } from "node:util"

const { values: args } = parseArgs({
  options: {
    namespaces: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    rounds: { type: "string", default: "3" },
    "quiet-seconds": { type: "string", default: "60" },
    "latency-samples": { type: "string", default: "100" },
    "heap-snapshot": { type: "boolean", default: false },
    "alloc-profile": { type: "boolean", default: false },
    "settle-seconds": { type: "string", default: "10" },
    "await-relist": { type: "boolean", default: false },
    sources: { type: "boolean", default: false }
  }
})
const namespaceCount = Number(args.namespaces)
const concurrency = Number(args.concurrency)
const rounds = Number(args.rounds)
const quietSeconds = Number(args["quiet-seconds"])
const latencySamples = Number(args["latency-samples"])
const repo = join(import.meta.dirname, "..", "..", "..")
/** The V8 flags the Deployment runs the controller with, so the benchmark measures what is deployed. */
const controllerNodeFlags = (process.env.CONTROLLER_NODE_FLAGS ?? controllerNodeOptions).split(" ").filter((flag) => flag !== "")

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}
const log = (line: string) => console.log(line)

/** Run `work` over items with at most `limit` in flight. */
const pool = async <T>(items: ReadonlyArray<T>, limit: number, work: (item: T) => Promise<void>) => {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

log(`tcr-assistant convergence benchmark: ${namespaceCount} namespaces x (default + 1 ServiceAccount), concurrency ${concurrency}, ${rounds} rounds`)
const started = Date.now()
const plane = await startControlPlane()
log(`control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
const runtime = ManagedRuntime.make(KubeClient.layer({ kubeconfig: plane.kubeconfigPath, connections: concurrency }))
const request = <A = any>(req: KubeRequest) => runtime.runPromise(KubeClient.use((client) => client.request<A>(req)))
let controller: ReturnType<typeof fork> | undefined
const scratch = mkdtempSync(join(tmpdir(), "tcr-bench-"))

/** A service account with cluster-admin, mounted in `dir` as a pod gets it, and the environment a pod has. */
const mountServiceAccount = async (dir: string): Promise<NodeJS.ProcessEnv> => {
  const [namespace, name] = ["kube-system", "bench-controller"]
  await request({ method: "POST", path: `/api/v1/namespaces/${namespace}/serviceaccounts`, body: { metadata: { name } } })
  await request({
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    body: { metadata: { name }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" }, subjects: [{ kind: "ServiceAccount", name, namespace }] }
  })
  const token = await request<{ status: { token: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 86400 } }
  })
  const kubeconfig = readFileSync(plane.kubeconfigPath, "utf8")
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "token"), token.status.token)
  writeFileSync(join(dir, "ca.crt"), Buffer.from(/certificate-authority-data:\s*(\S+)/.exec(kubeconfig)![1]!, "base64"))
  const server = new URL(/server:\s*(\S+)/.exec(kubeconfig)![1]!)
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port }
  delete env.KUBECONFIG
  return env
}

try {
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "apply", "-f", join(repo, "manifests/crd")], { stdio: "ignore" })
  execFileSync("kubectl", ["--kubeconfig", plane.kubeconfigPath, "wait", "--for", "condition=established", "crd/imagepullsecrets.tcr.tencentcloudcr.com"], { stdio: "ignore" })

  // --- the cluster ---------------------------------------------------------------------------------------------
  const namespaces = Array.from({ length: namespaceCount }, (_, i) => `bench-${i}`)
  let t = Date.now()
  await pool(namespaces, concurrency, async (ns) => {
    await request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } })
    await request({ method: "POST", path: `/api/v1/namespaces/${ns}/serviceaccounts`, body: { metadata: { name: "builder" } } })
  })
  const countDefaults = async () => {
    let count = 0
    let continueToken: string | undefined
    do {
      const page: any = await request({ method: "GET", path: "/api/v1/serviceaccounts", query: { fieldSelector: "metadata.name=default", limit: 2000, continue: continueToken } })
      count += page.items.filter((sa: any) => sa.metadata.namespace.startsWith("bench-")).length
      continueToken = page.metadata.continue || undefined
    } while (continueToken !== undefined)
    return count
  }
  await firstTrue(async () => (await countDefaults()) >= namespaceCount, 500)
  log(`created ${namespaceCount} namespaces with their ServiceAccounts in ${((Date.now() - t) / 1000).toFixed(1)} s`)

  // --- the controller, in its own process ---------------------------------------------------------------------
  const worker = args.sources
    ? { path: join(import.meta.dirname, "controller-worker.ts"), connection: plane.kubeconfigPath, env: process.env, execArgv: process.execArgv, cwd: repo, serviceAccountDir: undefined }
    : await (async () => {
      const app = join(scratch, "app")
      await bundleCli(app, { "controller-worker": join(import.meta.dirname, "controller-worker.ts") })
      const serviceAccountDir = join(scratch, "serviceaccount")
      return { path: join(app, "controller-worker.mjs"), connection: `in-cluster:${serviceAccountDir}`, env: await mountServiceAccount(serviceAccountDir), execArgv: [], cwd: app, serviceAccountDir }
    })()
  log(`controller program: ${args.sources ? "TypeScript sources, kubeconfig" : "the image's bundle, in-cluster service account"}; node flags: ${controllerNodeFlags.join(" ")}`)
  const forkedAt = Date.now()
  const child = fork(worker.path, [worker.connection, String(concurrency)], { cwd: worker.cwd, env: { ...worker.env, BENCH_OUTPUT_DIR: process.cwd(), ...(args["alloc-profile"] ? { BENCH_ALLOC_PROFILE: "1" } : {}) }, stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [...worker.execArgv, ...controllerNodeFlags, "--expose-gc"] })
  controller = child
  let nextId = 1
  const pending = new Map<number, (answer: any) => void>()
  child.on("message", (message: any) => {
    pending.get(message.id)?.(message)
    pending.delete(message.id)
  })
  await new Promise<void>((resolve) => child.once("message", () => resolve()))
  interface LoopFigures {
    readonly delayP50Millis: number
    readonly delayP99Millis: number
    readonly delayMaxMillis: number
    readonly gcCount: number
    readonly gcTotalMillis: number
    readonly gcMaxMillis: number
    readonly gcMaxKind: string
  }
  const ask = (what: "state" | "memory" | "snapshot" | "loop" | "allocations" = "state") => new Promise<{ quiescent: boolean; requests: { total: number; byVerb: Record<string, number> }; startup: { processStartedAt: number; syncedAt: number }; memory?: any; snapshot?: string; loop?: LoopFigures; allocations?: string }>((resolve) => {
    const id = nextId++
    pending.set(id, resolve)
    child.send({ id, ask: what })
  })
  const cpuSeconds = () => {
    const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  }
  const statusMiB = (field: string) => processStatusMiB(child.pid!, field)
  const peakRss = () => statusMiB("VmHWM")
  // RSS counts the node binary's text (file-backed, shared by every node process on a host) as well; what the
  // process holds for itself is its anonymous memory, whose peak the kernel does not keep: sampled here.
  let peakAnon = 0
  const anonSampler = setInterval(() => {
    if (child.exitCode === null) peakAnon = Math.max(peakAnon, statusMiB("RssAnon"))
  }, 100).unref()
  const { startup } = await ask()
  log(`controller start-up: fork -> process running ${startup.processStartedAt - forkedAt} ms, -> caches synced ${startup.syncedAt - forkedAt} ms`)
  log(`controller memory with caches synced, before any ImagePullSecret: ${JSON.stringify((await ask("memory")).memory)}`)
  await firstTrue(async () => (await ask()).quiescent, 50)
  const writes = (counts: Record<string, number>) => (counts.POST ?? 0) + (counts.PUT ?? 0) + (counts.PATCH ?? 0) + (counts.DELETE ?? 0)

  // --- rounds: plain client, then controller ---------------------------------------------------------------
  const goFloor = await resolveBenchFloor((line) => log(line))
  const goSeconds: Array<number> = []
  const goRequests: Array<number> = []
  const plainSeconds: Array<number> = []
  const controllerSeconds: Array<number> = []
  const controllerRequests: Array<number> = []
  const plainRequests: Array<number> = []
  const controllerCpu: Array<number> = []
  const listServiceAccounts = async () => {
    const items: Array<any> = []
    let continueToken: string | undefined
    do {
      const page: any = await request({ method: "GET", path: "/api/v1/serviceaccounts", query: { limit: 500, continue: continueToken } })
      items.push(...page.items)
      continueToken = page.metadata.continue || undefined
    } while (continueToken !== undefined)
    return items
  }
  for (let round = 0; round < rounds; round++) {
    // Go floor: the same creates and patches from client-go, no client rate limit.
    const goRound = await runBenchFloor(goFloor, { kubeconfig: plane.kubeconfigPath, secret: `go-${round}`, prefix: "bench-", concurrency })
    goSeconds.push(goRound.seconds)
    goRequests.push(goRound.requests)
    await firstTrue(async () => (await ask()).quiescent, 50)

    // Plain client: list once, then create every Secret and patch every ServiceAccount directly.
    const secretName = `plain-${round}`
    const before = await runtime.runPromise(KubeClient.use((client) => Effect.sync(() => client.requestCounts().total)))
    t = performance.now()
    const accounts = (await listServiceAccounts()).filter((sa) => sa.metadata.namespace.startsWith("bench-"))
    const byNamespace = new Map<string, Array<any>>()
    for (const sa of accounts) byNamespace.set(sa.metadata.namespace, [...(byNamespace.get(sa.metadata.namespace) ?? []), sa])
    await pool(namespaces, concurrency, async (ns) => {
      await request({
        method: "POST",
        path: `/api/v1/namespaces/${ns}/secrets`,
        body: { metadata: { name: secretName }, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": Buffer.from("{\"auths\":{}}").toString("base64") } }
      })
      for (const sa of byNamespace.get(ns) ?? []) {
        await request({
          method: "PATCH",
          path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa.metadata.name}`,
          body: [
            { op: "replace", path: "/metadata/resourceVersion", value: sa.metadata.resourceVersion },
            sa.imagePullSecrets === undefined
              ? { op: "add", path: "/imagePullSecrets", value: [{ name: secretName }] }
              : { op: "add", path: "/imagePullSecrets/-", value: { name: secretName } }
          ]
        }).catch(async () => {
          // Lost a race with the controller's own patch of this ServiceAccount: read and retry, as a client must.
          const fresh: any = await request({ method: "GET", path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa.metadata.name}` })
          await request({
            method: "PATCH",
            path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa.metadata.name}`,
            body: [{ op: "replace", path: "/metadata/resourceVersion", value: fresh.metadata.resourceVersion }, { op: "add", path: "/imagePullSecrets/-", value: { name: secretName } }]
          })
        })
      }
    })
    plainSeconds.push((performance.now() - t) / 1000)
    plainRequests.push((await runtime.runPromise(KubeClient.use((client) => Effect.sync(() => client.requestCounts().total)))) - before)
    await firstTrue(async () => (await ask()).quiescent, 50)

    // Controller: apply one ImagePullSecret for the bench namespaces and wait until it has converged.
    const name = `bench-${round}`
    const requestsBefore = (await ask()).requests.total
    const cpuBefore = cpuSeconds()
    t = performance.now()
    await request({
      method: "POST",
      path: "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets",
      body: { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name }, spec: { namespaces: "*", serviceAccounts: "*", docker: { server: "registry.example.com", username: "bench", password: "bench-password" } } }
    })
    // Wait for the controller to pick the work up, then for it to finish.
    await firstTrue(async () => (await ask()).requests.total !== requestsBefore, 5)
    await firstTrue(async () => (await ask()).quiescent, 5)
    controllerSeconds.push((performance.now() - t) / 1000)
    controllerRequests.push((await ask()).requests.total - requestsBefore)
    controllerCpu.push(cpuSeconds() - cpuBefore)
    const status: any = await request({ method: "GET", path: `/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets/${name}` })
    log(`round ${round + 1}: Go client ${goSeconds.at(-1)!.toFixed(2)} s (${goRequests.at(-1)} requests), Node client ${plainSeconds.at(-1)!.toFixed(2)} s (${plainRequests.at(-1)} requests), controller ${controllerSeconds.at(-1)!.toFixed(2)} s (${controllerRequests.at(-1)} requests, ${controllerCpu.at(-1)!.toFixed(2)} s CPU); status ${status.status?.secretsSuccess}/${status.status?.secretsDesired} Secrets, ${status.status?.serviceAccountsSuccess}/${status.status?.serviceAccountsDesired} ServiceAccounts`)
  }

  // Verify the end state once, from the cluster itself.
  const accounts = (await listServiceAccounts()).filter((sa) => sa.metadata.namespace.startsWith("bench-"))
  const missing = accounts.filter((sa) => Array.from({ length: rounds }, (_, r) => `tcr.ipsbench-${r}`).some((n) => !(sa.imagePullSecrets ?? []).some((e: any) => e.name === n)))
  log(`verified: ${accounts.length} ServiceAccounts, ${missing.length} missing an entry`)

  // --- a quiet minute ------------------------------------------------------------------------------------------
  const quietBefore = (await ask()).requests.byVerb
  await sleep(quietSeconds * 1000)
  const quietAfter = (await ask()).requests.byVerb
  const quietWrites = writes(quietAfter) - writes(quietBefore)
  log(`writes during ${quietSeconds} quiet seconds: ${quietWrites}`)

  // --- new-namespace latency ------------------------------------------------------------------------------------
  // Observed through one watch of every `default` ServiceAccount, opened before the first sample, rather than by
  // polling (a GET every 2 ms was itself 500 requests a second on the apiserver the controller shares two cores with).
  const latencies: Array<number> = []
  const defaultLatencies: Array<number> = []
  const afterDefaultLatencies: Array<number> = []
  const seen = new Map<string, { created?: number; patched?: number; done?: () => void }>()
  const onSample = (ns: string) => {
    let entry = seen.get(ns)
    if (entry === undefined) seen.set(ns, (entry = {}))
    return entry
  }
  const { metadata: { resourceVersion } } = await request<{ metadata: { resourceVersion: string } }>({ method: "GET", path: "/api/v1/serviceaccounts", query: { fieldSelector: "metadata.name=default", limit: 1 } })
  const watching = runtime.runFork(KubeClient.use((client) =>
    client.watch("/api/v1/serviceaccounts", { fieldSelector: "metadata.name=default", resourceVersion, allowWatchBookmarks: false }).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          const at = performance.now()
          const ns: string | undefined = event.object?.metadata?.namespace
          if (ns === undefined || !ns.startsWith("latency-") || (event.type !== "ADDED" && event.type !== "MODIFIED")) return
          const entry = onSample(ns)
          entry.created ??= at
          if (entry.patched === undefined && (event.object.imagePullSecrets ?? []).length >= rounds) {
            entry.patched = at
            entry.done?.()
          }
        })
      )
    )
  ))
  await ask("loop")
  for (let i = 0; i < latencySamples; i++) {
    const ns = `latency-${i}`
    const patched = new Promise<void>((resolve) => (onSample(ns).done = resolve))
    const t0 = performance.now()
    await request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } })
    await patched
    const entry = seen.get(ns)!
    latencies.push(entry.patched! - t0)
    defaultLatencies.push(entry.created! - t0)
    afterDefaultLatencies.push(entry.patched! - entry.created!)
  }
  const { loop } = await ask("loop")
  await runtime.runPromise(Fiber.interrupt(watching))

  // --- summary ---------------------------------------------------------------------------------------------------
  const plain = median(plainSeconds)
  const goPlain = median(goSeconds)
  const ours = median(controllerSeconds)
  const spread = (values: ReadonlyArray<number>) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)} s`
  log("")
  log("summary (medians over rounds)")
  log(`  convergence after one ImagePullSecret:   ${ours.toFixed(2)} s   (${spread(controllerSeconds)}; ${median(controllerRequests)} apiserver requests)`)
  log(`  Go client-go, same creates and patches:  ${goPlain.toFixed(2)} s   (${spread(goSeconds)}; ${median(goRequests)} apiserver requests)`)
  log(`  Node client, same creates and patches:   ${plain.toFixed(2)} s   (${spread(plainSeconds)}; ${median(plainRequests)} apiserver requests)`)
  log(`  ratio controller / Go client:            ${(ours / goPlain).toFixed(2)}x`)
  log(`  ratio controller / Node client:          ${(ours / plain).toFixed(2)}x`)
  log(`  writes during a quiet ${quietSeconds} s:             ${quietWrites}`)
  log(`  new namespace -> default SA patched:     p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms (of which default SA created by kube-controller-manager: p50 ${percentile(defaultLatencies, 50).toFixed(0)} ms)`)
  log(`  default SA created -> patched:          p50 ${percentile(afterDefaultLatencies, 50).toFixed(0)} ms, p99 ${percentile(afterDefaultLatencies, 99).toFixed(0)} ms, max ${Math.max(...afterDefaultLatencies).toFixed(0)} ms over ${afterDefaultLatencies.length} samples (seen by a watch)`)
  log(`  controller while sampling latency:       event-loop delay p50 ${loop!.delayP50Millis.toFixed(1)} ms, p99 ${loop!.delayP99Millis.toFixed(1)} ms, max ${loop!.delayMaxMillis.toFixed(1)} ms; GC pauses ${loop!.gcCount} totalling ${loop!.gcTotalMillis.toFixed(0)} ms, longest ${loop!.gcMaxMillis.toFixed(1)} ms (${loop!.gcMaxKind})`)
  log(`  controller CPU per apiserver request:    ${(1000 * median(controllerCpu) / median(controllerRequests)).toFixed(2)} ms; requests per target: ${(median(controllerRequests) / (namespaceCount * 3)).toFixed(2)}`)
  log(`  controller peak RSS:                     ${peakRss().toFixed(0)} MiB (now ${statusMiB("VmRSS").toFixed(0)} MiB: ${statusMiB("RssAnon").toFixed(0)} private, ${statusMiB("RssFile").toFixed(0)} file-backed, mostly the node binary)`)
  log(`  controller peak private memory:          ${peakAnon.toFixed(0)} MiB (anonymous RSS, sampled every 100 ms)`)
  clearInterval(anonSampler)
  log(`  controller memory now: ${JSON.stringify((await ask("memory")).memory)}`)
  if (args["heap-snapshot"]) log(`  heap snapshot: ${(await ask("snapshot")).snapshot}`)
  if (args["alloc-profile"]) log(`  allocation profile (everything allocated since start, collected or not): ${(await ask("allocations")).allocations}`)

  // --- the Deployment's own process, from a cold start (the worker stops first: one controller at a time) ----------
  if (worker.serviceAccountDir !== undefined) {
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGTERM")
    await exited
    log("")
    await measureDeploymentProcess({
      appDir: worker.cwd,
      serviceAccountDir: worker.serviceAccountDir,
      kubeconfigPath: plane.kubeconfigPath,
      env: worker.env,
      nodeOptions: controllerNodeFlags.join(" "),
      namespaceCount,
      request,
      log,
      settleMillis: Number(args["settle-seconds"]) * 1000,
      awaitRelist: args["await-relist"]
    })
  }
} finally {
  if (controller !== undefined && controller.exitCode === null) {
    const exited = new Promise((resolve) => controller!.once("exit", resolve))
    controller.kill("SIGTERM")
    await Promise.race([exited, sleep(5000)])
    controller.kill("SIGKILL")
  }
  await runtime.dispose()
  await plane.stop()
  rmSync(scratch, { recursive: true, force: true })
}
