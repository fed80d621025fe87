// Support for the CLI's end-to-end tests: a private control plane and TCR API double, the CLI run for real as a
// child process (install, status, uninstall, and the controller and hosts-updater it ships), a client to read the
// cluster, and polling until it reaches a state.
import { freePort } from "@tcr-assistant/testkit/processes"
import { eventually as pollUntil } from "@tcr-assistant/testkit/eventually"
import { AdmissionWebhook } from "@tcr-assistant/controller/main"
import { webhookPath } from "@tcr-assistant/controller/webhook"
import { KubeClient, type KubeRequest } from "@tcr-assistant/kube"
import { type ControlPlane, startControlPlane } from "@tcr-assistant/testkit"
import { keepRunLog } from "@tcr-assistant/testkit/log-lines"
import { spawnTied, type TiedChild } from "@tcr-assistant/testkit/process-lifeline"
import { type DoubleInstance, startTcrDouble, type TcrDouble } from "@tcr-assistant/testkit/tcr-double"
import { Effect, Layer, ManagedRuntime } from "effect"
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const mainPath = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/**
 * The controller as these tests run it: one replica, no webhook of its own (the test serves the webhook in process
 * and installs with --webhook-url, and a second CA would fight over the configuration's bundle), probes and the
 * secure metrics server on free ports.
 */
export const controllerTestFlags = ["--webhook=false", "--leader-elect=false", "--health-port", "0", "--metrics-port", "0"] as const

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly millis: number
}

export interface TestCluster {
  readonly request: <A = any>(request: KubeRequest) => Promise<A>
  /** The object, or undefined when it does not exist. */
  readonly get: <A = any>(path: string) => Promise<A | undefined>
  readonly list: <A = any>(path: string, query?: Record<string, string>) => Promise<Array<A>>
  readonly dispose: () => Promise<void>
}

export const connect = (kubeconfigPath: string): TestCluster => {
  const runtime = ManagedRuntime.make(KubeClient.layer({ kubeconfig: kubeconfigPath }))
  const request = <A>(req: KubeRequest) => runtime.runPromise(KubeClient.use((client) => client.request<A>(req)))
  return {
    request,
    get: <A>(path: string) =>
      runtime.runPromise(
        KubeClient.use((client) =>
          client.request<A>({ method: "GET", path }).pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
        )
      ),
    list: async <A>(path: string, query?: Record<string, string>) =>
      ((await request<{ items?: Array<A> }>({ method: "GET", path, ...(query === undefined ? {} : { query }) })).items ?? []),
    dispose: () => runtime.dispose()
  }
}

/** The test kit's polling, with the patience these multi-process tests need. */
export const eventually = <A>(check: () => Promise<A> | A, patienceMillis = 90_000): Promise<A> =>
  pollUntil(check, patienceMillis)

export interface CliWorld {
  readonly plane: ControlPlane
  readonly double: TcrDouble
  readonly instance: DoubleInstance
  readonly cluster: TestCluster
  readonly dir: string
  readonly kubeconfigPath: string
  /** The environment every CLI child gets: the double's endpoint and keys, no proxies. */
  readonly env: NodeJS.ProcessEnv
  /** Runs `tcr-assistant <args>` to completion. */
  readonly cli: (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => Promise<CliResult>
  /** Starts a long-running `tcr-assistant <args>` whose output goes to `<dir>/<name>.log`. */
  readonly spawn: (name: string, args: ReadonlyArray<string>) => TiedChild
  readonly stop: () => Promise<void>
}

const withoutProxies = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(env).filter(([key]) => !/^(https?|no|all)_proxy$/i.test(key) && !key.startsWith("TENCENTCLOUD_")))

let runs = 0

/** A private control plane (uninstall removes the CRD, which a shared plane's other tests need) and a TCR double. */
export const startCliWorld = async (): Promise<CliWorld> => {
  const dir = mkdtempSync(join(tmpdir(), "tcr-cli-e2e-"))
  const [plane, double] = await Promise.all([startControlPlane(), startTcrDouble()])
  const instance = double.seedInstance({
    name: "demo",
    vpcLinks: [{ vpcId: "vpc-cluster", accessIp: "10.0.8.15", status: "Running" }]
  })
  const env: NodeJS.ProcessEnv = {
    ...withoutProxies(process.env),
    TCR_API_ENDPOINT: double.endpoint,
    TENCENTCLOUD_SECRET_ID: double.secretId,
    TENCENTCLOUD_SECRET_KEY: double.secretKey
  }
  const children: Array<TiedChild> = []
  const cli = async (args: ReadonlyArray<string>, extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> => {
    const run = runs++
    const outPath = join(dir, `cli-${run}.out`)
    const errPath = join(dir, `cli-${run}.err`)
    const out = openSync(outPath, "w")
    const err = openSync(errPath, "w")
    const started = Date.now()
    const child = spawnTied(process.execPath, [mainPath, ...args], { stdio: ["ignore", out, err], env: { ...env, ...extraEnv } })
    closeSync(out)
    closeSync(err)
    const { code } = await child.exited
    return { code, stdout: readFileSync(outPath, "utf8"), stderr: readFileSync(errPath, "utf8"), millis: Date.now() - started }
  }
  const spawned = new Set<string>()
  const spawn = (name: string, args: ReadonlyArray<string>) => {
    spawned.add(name)
    const log = openSync(join(dir, `${name}.log`), "a")
    const child = spawnTied(process.execPath, [mainPath, ...args], { stdio: ["ignore", log, log], env })
    closeSync(log)
    children.push(child)
    return child
  }
  const cluster = connect(plane.kubeconfigPath)
  return {
    plane,
    double,
    instance,
    cluster,
    dir,
    kubeconfigPath: plane.kubeconfigPath,
    env,
    cli,
    spawn,
    stop: async () => {
      for (const child of children) child.child.kill("SIGTERM")
      await Promise.all(children.map((child) => child.exited))
      await cluster.dispose()
      await Promise.all([plane.stop(), double.close()])
      for (const name of spawned) keepRunLog(join(dir, `${name}.log`), name)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Stops a long-running child with SIGTERM and waits for it. */
export const stopChild = async (child: TiedChild) => {
  child.child.kill("SIGTERM")
  await child.exited
}

export const writeText = (path: string, text: string) => writeFileSync(path, text)
export const readText = (path: string) => readFileSync(path, "utf8")

export const createNamespace = (cluster: TestCluster, name: string) =>
  cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name } } })

export const createNode = (cluster: TestCluster, name: string) =>
  cluster.request({ method: "POST", path: "/api/v1/nodes", body: { metadata: { name } } })

export const ipsPath = "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets"

export const decodeDockerConfig = (secret: { data?: Record<string, string> }) =>
  JSON.parse(Buffer.from(secret.data?.[".dockerconfigjson"] ?? "", "base64").toString("utf8")) as {
    auths: Record<string, { username: string; password: string; auth: string }>
  }

/** The ImagePullSecret object's fields a test looks at, from the cluster. */
export const imagePullSecretNames = async (cluster: TestCluster): Promise<Array<string>> => {
  const list = await cluster.get<{ items?: Array<{ metadata: { name: string } }> }>(ipsPath)
  return (list?.items ?? []).map((item) => item.metadata.name).sort()
}

/** Namespace names holding a Secret of the given name. */
export const namespacesWithSecret = async (cluster: TestCluster, name: string): Promise<Array<string>> =>
  (await cluster.list<{ metadata: { name: string; namespace: string } }>("/api/v1/secrets", { fieldSelector: `metadata.name=${name}` }))
    .map((secret) => secret.metadata.namespace)
    .sort()

export const serviceAccountEntries = async (cluster: TestCluster, namespace: string, name: string) => {
  const sa = await cluster.get<{ imagePullSecrets?: Array<{ name: string }> }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}`)
  return sa === undefined ? undefined : (sa.imagePullSecrets ?? []).map((entry) => entry.name)
}

/** Output must never carry a credential: the TCR token values and the API key. */
export const expectNoCredentials = (result: CliResult, secrets: ReadonlyArray<string>) => {
  for (const secret of secrets) {
    if (result.stdout.includes(secret) || result.stderr.includes(secret)) {
      throw new Error("a credential appeared in the CLI's output")
    }
  }
}

export interface RunningWebhook {
  /** For `install --webhook-url`. */
  readonly url: string
  readonly stop: () => Promise<void>
}

/**
 * The add-on's webhooks (validation, Pod mutation), served from this process at a 127.0.0.1 URL (on `port`, to come
 * back where the configurations point after a stop) (no kubelet runs pods here, so the
 * in-cluster Service has no endpoints). It keeps its certificate in the add-on's namespace, created here if missing,
 * and writes the CA bundle into the add-on's webhook configuration as soon as install creates it.
 */
export const startWebhook = async (world: CliWorld, port?: number): Promise<RunningWebhook> => {
  await world.cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "tcr-assistant-system" } } })
    .catch((error: { _tag?: string }) => {
      if (error._tag !== "KubeConflict") throw error
    })
  const listenOn = port ?? await freePort()
  const runtime = ManagedRuntime.make(
    AdmissionWebhook.layer({
      namespace: "tcr-assistant-system",
      host: "127.0.0.1",
      port: listenOn,
      extraHosts: ["127.0.0.1"],
      checkIntervalMillis: 500
    }).pipe(Layer.provide(KubeClient.layer({ kubeconfig: world.kubeconfigPath })))
  )
  await runtime.runPromise(Effect.service(AdmissionWebhook))
  return { url: `https://127.0.0.1:${listenOn}${webhookPath}`, stop: () => runtime.dispose() }
}
