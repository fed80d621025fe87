// Test support for the hosts-updater end-to-end tests: a client on the local control plane, the agent run in
// process or as a child process, a cuttable TCP path to the apiserver, and polling for a state.
import { freePort } from "@tcr-assistant/testkit/processes"
import { eventually } from "@tcr-assistant/testkit/eventually"
import { KubeClient, type KubeRequest } from "@tcr-assistant/kube"
import { spawnTied, type TiedChild } from "@tcr-assistant/testkit/process-lifeline"
import { captureRunLog } from "@tcr-assistant/testkit/log-lines"
import { Effect, Fiber, Layer, ManagedRuntime } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { createServer, connect as connectTcp, type Server, type Socket } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { HostsUpdaterLive, type HostsUpdaterOptions, type ResolvedHostsUpdaterOptions } from "../src/main.ts"

export interface TestCluster {
  readonly request: <A = any>(request: KubeRequest) => Promise<A>
  /** The object, or undefined when it does not exist. */
  readonly get: <A = any>(path: string) => Promise<A | undefined>
  readonly dispose: () => Promise<void>
}

export const connect = (kubeconfigPath: string): TestCluster => {
  const runtime = ManagedRuntime.make(KubeClient.layer({ kubeconfig: kubeconfigPath }))
  return {
    request: <A>(req: KubeRequest) => runtime.runPromise(KubeClient.use((client) => client.request<A>(req))),
    get: <A>(path: string) =>
      runtime.runPromise(
        KubeClient.use((client) =>
          client.request<A>({ method: "GET", path }).pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
        )
      ),
    dispose: () => runtime.dispose()
  }
}

export { eventually }

export { freePort }

let counter = 0
export const uniqueName = (prefix: string) => `${prefix}-${process.pid.toString(36)}-${(counter++).toString(36)}`

export const createNamespace = (cluster: TestCluster, name: string) =>
  cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name } } })

export const createNode = (cluster: TestCluster, name: string) =>
  cluster.request({ method: "POST", path: "/api/v1/nodes", body: { metadata: { name } } })

export const deleteNode = (cluster: TestCluster, name: string) =>
  cluster.request({ method: "DELETE", path: `/api/v1/nodes/${name}` }).catch(() => undefined)

export const configMapPath = (namespace: string, name = "updater-config") =>
  `/api/v1/namespaces/${namespace}/configmaps/${name}`

/** Creates or replaces the updater-config ConfigMap with `hosts` (or no data at all when undefined). */
export const putHosts = async (cluster: TestCluster, namespace: string, hosts: string | undefined) => {
  const body = { metadata: { name: "updater-config", namespace }, ...(hosts === undefined ? {} : { data: { hosts } }) }
  const existing = await cluster.get<any>(configMapPath(namespace))
  if (existing === undefined) {
    await cluster.request({ method: "POST", path: `/api/v1/namespaces/${namespace}/configmaps`, body })
  } else {
    await cluster.request({
      method: "PUT",
      path: configMapPath(namespace),
      body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion } }
    })
  }
}

export const deleteHosts = (cluster: TestCluster, namespace: string) =>
  cluster.request({ method: "DELETE", path: configMapPath(namespace) })

export const nodeAnnotations = async (cluster: TestCluster, node: string): Promise<Record<string, string>> =>
  (await cluster.get<any>(`/api/v1/nodes/${node}`))?.metadata?.annotations ?? {}

/** Events about a Node live in `default`, as the apiserver requires for cluster-scoped objects. */
export const nodeEvents = async (cluster: TestCluster, node: string) => {
  const list = await cluster.request<any>({
    method: "GET",
    path: "/api/v1/namespaces/default/events",
    query: { fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}` }
  })
  return list.items as Array<{ reason: string; message: string; type: string; count: number }>
}

export interface RunningAgent {
  readonly stop: () => Promise<void>
}

/** The agent in this process, on the given kubeconfig, until stopped. */
export const runAgent = (options: ResolvedHostsUpdaterOptions, kubeconfig: string): RunningAgent => {
  const fiber = Effect.runFork(
    Layer.launch(HostsUpdaterLive(options).pipe(Layer.provide(KubeClient.layer({ kubeconfig }))))
  )
  return { stop: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined) }
}

export interface MountedServiceAccount {
  /** Holds `token` and `ca.crt`, as a pod's service-account volume does: pass it as `--service-account-dir`. */
  readonly dir: string
  /** A pod's environment: the apiserver's address, and no kubeconfig anywhere (HOME is `dir`). */
  readonly env: NodeJS.ProcessEnv
  /** Removes the ServiceAccount and its binding. */
  readonly remove: () => Promise<void>
}

/**
 * What a pod of the DaemonSet gets, for a process on this machine: a ServiceAccount `name` in `namespace`, bound to
 * cluster-admin (these tests are about the program, not its RBAC), its token and the cluster's CA written into
 * `dir`, and the environment that makes the client take the in-cluster path.
 */
export const mountServiceAccount = async (
  cluster: TestCluster,
  kubeconfigPath: string,
  namespace: string,
  name: string,
  dir: string
): Promise<MountedServiceAccount> => {
  await cluster.request({ method: "POST", path: `/api/v1/namespaces/${namespace}/serviceaccounts`, body: { metadata: { name } } })
  const binding = `${namespace}-${name}`
  await cluster.request({
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    body: {
      metadata: { name: binding },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name, namespace }]
    }
  })
  const token = await cluster.request<{ status: { token: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
  })
  const ca = /certificate-authority-data:\s*(\S+)/.exec(readFileSync(kubeconfigPath, "utf8"))
  if (ca === null) throw new Error(`no certificate-authority-data in ${kubeconfigPath}`)
  writeFileSync(join(dir, "token"), token.status.token)
  writeFileSync(join(dir, "ca.crt"), Buffer.from(ca[1]!, "base64"))
  const server = apiserverUrl(kubeconfigPath)
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port }
  delete env.KUBECONFIG
  return {
    dir,
    env,
    remove: async () => {
      await cluster.request({ method: "DELETE", path: `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding}` }).catch(() => undefined)
      await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}` }).catch(() => undefined)
    }
  }
}

/** The agent as a child process started the way the CLI starts it. */
export const spawnAgent = (options: HostsUpdaterOptions, env: NodeJS.ProcessEnv = {}): TiedChild => {
  const tied = spawnTied(process.execPath, [fileURLToPath(new URL("./fixtures/run-agent.ts", import.meta.url)), JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env }
  })
  // Its lines go to the run's log check; stderr still shows in the test output, stdout is drained.
  captureRunLog("hosts-updater", tied.child)
  tied.child.stdout?.resume()
  tied.child.stderr?.pipe(process.stderr)
  return tied
}

export const readText = (path: string) => readFileSync(path, "utf8")

export interface Proxy {
  readonly port: number
  /** Stops accepting and cuts every open connection: the apiserver is unreachable. */
  readonly cut: () => Promise<void>
  /** Accepts connections again on the same port. */
  readonly restore: () => Promise<void>
  readonly close: () => Promise<void>
}

/** A TCP relay on 127.0.0.1 to `target`, which the test can cut to make the apiserver unreachable. */
export const startProxy = async (target: URL): Promise<Proxy> => {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const next = createServer((client) => {
        const upstream = connectTcp(Number(target.port), target.hostname)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => socket.destroy())
        }
        client.pipe(upstream).pipe(client)
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
      })
      next.once("error", reject)
      next.listen(port, "127.0.0.1", () => {
        server = next
        const address = next.address()
        resolve(typeof address === "object" && address !== null ? address.port : port)
      })
    })
  const port = await listen(0)
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      if (server === undefined) return resolve()
      server.close(() => resolve())
      server = undefined
    })
  return { port, cut, restore: async () => void (await listen(port)), close: cut }
}

const serverPattern = /server:\s*(https:\/\/\S+)/

/** The apiserver address a kubeconfig points at. */
export const apiserverUrl = (kubeconfigPath: string): URL => {
  const match = serverPattern.exec(readFileSync(kubeconfigPath, "utf8"))
  if (match === null) throw new Error(`no server in ${kubeconfigPath}`)
  return new URL(match[1]!)
}

/** Writes a copy of `kubeconfigPath` whose server is `127.0.0.1:port` (the apiserver's certificate covers it). */
export const writeKubeconfigThrough = (kubeconfigPath: string, port: number, outPath: string) =>
  writeFileSync(outPath, readFileSync(kubeconfigPath, "utf8").replace(serverPattern, `server: https://127.0.0.1:${port}`))
