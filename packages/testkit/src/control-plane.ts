// Owns one local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager on free loopback
// ports in a private run directory, with their certificates and an admin kubeconfig.
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { createCertificateAuthority, createSigningKeyPair, issueCertificate } from "@tcr-assistant/kube/pki"
import { type ControlPlaneBinaries, resolveControlPlaneBinaries } from "./control-plane-binaries.ts"
import { registerScratchDir, releaseScratchDir, spawnTied, type TiedChild } from "./process-lifeline.ts"
import { setTimeout as sleep } from "node:timers/promises"

export interface ControlPlaneOptions {
  /** Defaults to `resolveControlPlaneBinaries()` (which may build them on first use). */
  readonly binaries?: ControlPlaneBinaries
  /** Where the run directory is created; defaults to the OS temp directory. */
  readonly parentDir?: string
  /** Keep the run directory (logs, etcd data, certificates) after stop(), for debugging. */
  readonly keepDir?: boolean
  /** kube-controller-manager controllers; defaults to `defaultControllers`. */
  readonly controllers?: ReadonlyArray<string>
  /** How long each component may take to become ready before start fails; defaults to 5 minutes. */
  readonly startTimeoutMillis?: number
  /**
   * Run workloads, for a cluster with real nodes (see node.ts): also start kube-scheduler, the controllers of
   * Deployments, ReplicaSets, DaemonSets and endpoints (`workloadControllers`), and let the apiserver reach
   * webhook Services through their endpoints (there is no kube-proxy) and the cluster through `clusterEgressSocket`.
   */
  readonly workloads?: boolean
}

export interface ControlPlaneProcessIds {
  readonly etcd: number | undefined
  readonly kubeApiServer: number | undefined
  readonly kubeControllerManager: number | undefined
  readonly kubeScheduler: number | undefined
}

export interface ControlPlane {
  /** The run directory: certificates, kubeconfigs, etcd data and one log file per component. */
  readonly dir: string
  /** Admin kubeconfig (client certificate in group system:masters). */
  readonly kubeconfigPath: string
  /** kube-apiserver URL, https://127.0.0.1:<port>. */
  readonly server: string
  /** The CA that signed the apiserver's serving certificate and that it trusts for client certificates. */
  readonly caCertPem: string
  readonly etcdUrl: string
  readonly processIds: () => ControlPlaneProcessIds
  /** Stops every component (controller manager, apiserver, etcd) and removes the run directory. Idempotent. */
  readonly stop: () => Promise<void>
  /**
   * With `workloads`: the unix socket where the apiserver expects an HTTP CONNECT proxy for its traffic to the
   * cluster (webhook endpoints, kubelets). A real node (node.ts) serves it from inside its network namespace.
   */
  readonly clusterEgressSocket: string | undefined
  /** Stops kube-apiserver and starts it again on the same port against the same etcd. */
  readonly restartApiServer: () => Promise<void>
}

export class ControlPlaneError extends Error {
  override readonly name = "ControlPlaneError"
}

/** What our operator relies on: namespaces finish deleting, every namespace gets its `default` ServiceAccount
 * (with a token), owned objects are collected, and aggregated ClusterRoles are filled. */
export const defaultControllers: ReadonlyArray<string> = [
  "namespace-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "garbage-collector-controller",
  "root-ca-certificate-publisher-controller",
  "clusterrole-aggregation-controller"
]

/** What a cluster with real nodes adds to `defaultControllers`. */
export const workloadControllers: ReadonlyArray<string> = [
  "deployment-controller",
  "replicaset-controller",
  "daemonset-controller",
  "endpoints-controller",
  "endpointslice-controller"
]

const serviceClusterIpRange = "10.0.0.0/24"
/** The `kubernetes` Service's cluster IP: in the apiserver's certificate, and where pods on a real node find it. */
export const kubernetesServiceIp = "10.0.0.1"
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
const pollMillis = 100
const stopGraceMillis = 15_000
// A restart is a fault injection: clients see the connection drop either way. kube-apiserver with open watches
// takes longer than this to drain (it is SIGKILLed then); stop() has none left since it stops the controller
// manager first.
const restartGraceMillis = 2_000


// The kernel hands out a port that is free now; a collision with another run before the component binds it is
// possible but rare, and start() retries with new ports when a component reports "address already in use".
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const logTail = (path: string, lines = 40) => {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

interface HttpResult {
  readonly status: number
  readonly body: string
}

interface ClientTls {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

// A GET that never hangs: a component that accepts the connection but does not answer counts as not ready.
const get = (url: string, tls?: ClientTls) =>
  new Promise<HttpResult | undefined>((resolve) => {
    const request = (url.startsWith("https:") ? httpsRequest : httpRequest)(
      url,
      { method: "GET", timeout: 5_000, ...(tls ?? {}) },
      (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => (body += chunk))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
        response.on("error", () => resolve(undefined))
      }
    )
    request.on("timeout", () => request.destroy())
    request.on("error", () => resolve(undefined))
    request.end()
  })

interface Component {
  readonly name: string
  readonly logPath: string
  readonly tied: TiedChild
  readonly exitedYet: () => boolean
}

const startComponent = (name: string, binary: string, args: ReadonlyArray<string>, dir: string): Component => {
  const logPath = join(dir, `${name}.log`)
  const fd = openSync(logPath, "a")
  const tied = spawnTied(binary, args, { cwd: dir, stdio: ["ignore", fd, fd] })
  closeSync(fd)
  let exited = false
  void tied.exited.then(() => (exited = true))
  return { name, logPath, tied, exitedYet: () => exited }
}

const stopComponent = async (component: Component | undefined, graceMillis = stopGraceMillis) => {
  if (component === undefined || component.exitedYet()) return
  component.tied.child.kill("SIGTERM")
  const timer = setTimeout(() => component.tied.child.kill("SIGKILL"), graceMillis)
  await component.tied.exited
  clearTimeout(timer)
}

class PortInUse extends Error {}

// Polls `ready` until it holds; fails early with the component's log when it exits, or after the deadline.
const waitUntil = async (component: Component, what: string, timeoutMillis: number, ready: () => Promise<boolean>) => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    if (component.exitedYet()) {
      const { code, signal } = await component.tied.exited
      const tail = logTail(component.logPath)
      if (/address already in use/.test(tail)) throw new PortInUse(component.name)
      throw new ControlPlaneError(
        `${component.name} exited (${signal ?? `exit code ${code}`}) before ${what}; last lines of ` +
          `${component.logPath}:\n${tail}`
      )
    }
    if (await ready()) return
    if (Date.now() > deadline) {
      throw new ControlPlaneError(
        `${component.name}: ${what} did not happen within ${Math.round(timeoutMillis / 1000)}s; last lines of ` +
          `${component.logPath}:\n${logTail(component.logPath)}`
      )
    }
    await sleep(pollMillis)
  }
}

// Starts a component on fresh ports, retrying a few times when another process took a port first.
const withFreshPorts = async <A>(attempt: () => Promise<A>) => {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt()
    } catch (error) {
      if (!(error instanceof PortInUse) || tries >= 5) {
        if (error instanceof PortInUse) throw new ControlPlaneError(`${error.message}: ports stayed in use`)
        throw error
      }
    }
  }
}

const base64 = (text: string) => Buffer.from(text).toString("base64")

const kubeconfigYaml = (server: string, caPem: string, user: string, certPem: string, keyPem: string) =>
  [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: tcr-assistant-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${base64(caPem)}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    client-certificate-data: ${base64(certPem)}`,
    `    client-key-data: ${base64(keyPem)}`,
    "contexts:",
    "- name: tcr-assistant-local",
    "  context:",
    "    cluster: tcr-assistant-local",
    `    user: ${user}`,
    "current-context: tcr-assistant-local",
    ""
  ].join("\n")

const createCertificates = Effect.gen(function*() {
  const ca = yield* createCertificateAuthority({ commonName: "tcr-assistant-local-ca", validityDays: 30 })
  const [serving, admin, controllerManager, scheduler, serviceAccountKeys] = yield* Effect.all(
    [
      issueCertificate(ca, {
        commonName: "kube-apiserver",
        dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
          "kubernetes.default.svc.cluster.local"],
        ipAddresses: ["127.0.0.1", kubernetesServiceIp],
        usage: "server",
        validityDays: 30
      }),
      issueCertificate(ca, {
        commonName: "tcr-assistant-admin",
        organizations: ["system:masters"],
        usage: "client",
        validityDays: 30
      }),
      issueCertificate(ca, { commonName: "system:kube-controller-manager", usage: "client", validityDays: 30 }),
      issueCertificate(ca, { commonName: "system:kube-scheduler", usage: "client", validityDays: 30 }),
      createSigningKeyPair()
    ],
    { concurrency: "unbounded" }
  )
  return { ca, serving, admin, controllerManager, scheduler, serviceAccountKeys }
})

/**
 * Starts etcd, kube-apiserver and kube-controller-manager and resolves once the apiserver is ready and the
 * `default` namespace has its `default` ServiceAccount. Everything runs as children tied to this process.
 */
export const startControlPlane = async (options: ControlPlaneOptions = {}): Promise<ControlPlane> => {
  const workloads = options.workloads === true
  const binaries = options.binaries ?? (await resolveControlPlaneBinaries({ node: workloads }))
  if (workloads && binaries.kubeScheduler === undefined) {
    throw new ControlPlaneError("a control plane for workloads needs kube-scheduler among its binaries")
  }
  const timeout = options.startTimeoutMillis ?? 300_000
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), "tcr-assistant-cp-"))
  if (options.keepDir !== true) registerScratchDir(dir)

  let etcd: Component | undefined
  let apiServer: Component | undefined
  let controllerManager: Component | undefined
  let scheduler: Component | undefined
  let stopping: Promise<void> | undefined

  const stop = () => {
    stopping ??= (async () => {
      await stopComponent(scheduler)
      await stopComponent(controllerManager)
      await stopComponent(apiServer)
      await stopComponent(etcd)
      if (options.keepDir !== true) {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
        releaseScratchDir(dir)
      }
    })()
    return stopping
  }

  try {
    const certificates = await Effect.runPromise(createCertificates)
    const pki = join(dir, "pki")
    mkdirSync(pki)
    const file = (name: string, content: string) => {
      const path = join(pki, name)
      writeFileSync(path, content, { mode: 0o600 })
      return path
    }
    const caPath = file("ca.crt", certificates.ca.certPem)
    const servingCertPath = file("apiserver.crt", certificates.serving.certPem)
    const servingKeyPath = file("apiserver.key", certificates.serving.keyPem)
    const serviceAccountKeyPath = file("sa.key", certificates.serviceAccountKeys.privateKeyPem)
    const serviceAccountPubPath = file("sa.pub", certificates.serviceAccountKeys.publicKeyPem)
    const adminTls = { ca: certificates.ca.certPem, cert: certificates.admin.certPem, key: certificates.admin.keyPem }

    const etcdUrl = await withFreshPorts(async () => {
      const [clientPort, peerPort] = [await freePort(), await freePort()]
      const clientUrl = `http://127.0.0.1:${clientPort}`
      const peerUrl = `http://127.0.0.1:${peerPort}`
      rmSync(join(dir, "etcd"), { recursive: true, force: true })
      etcd = startComponent("etcd", binaries.etcd, [
        "--name=tcr-assistant",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=tcr-assistant=${peerUrl}`,
        "--initial-cluster-state=new",
        // Test data is thrown away: no fsync, and a small backend keeps memory modest on small machines.
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=268435456",
        "--log-level=warn"
      ], dir)
      const started = etcd
      await waitUntil(started, "answering /health", timeout, async () => {
        const result = await get(`${clientUrl}/health`)
        return result?.status === 200 && /"health":\s*"true"/.test(result.body)
      })
      return clientUrl
    })

    const kubeconfigPath = join(dir, "admin.kubeconfig")
    const controllerManagerKubeconfigPath = join(dir, "kube-controller-manager.kubeconfig")
    const schedulerKubeconfigPath = join(dir, "kube-scheduler.kubeconfig")
    const writeKubeconfigs = (server: string) => {
      const { ca, admin, controllerManager: client, scheduler: schedulerClient } = certificates
      writeFileSync(kubeconfigPath, kubeconfigYaml(server, ca.certPem, "tcr-assistant-admin", admin.certPem,
        admin.keyPem), { mode: 0o600 })
      writeFileSync(controllerManagerKubeconfigPath, kubeconfigYaml(server, ca.certPem,
        "system:kube-controller-manager", client.certPem, client.keyPem), { mode: 0o600 })
      writeFileSync(schedulerKubeconfigPath, kubeconfigYaml(server, ca.certPem, "system:kube-scheduler",
        schedulerClient.certPem, schedulerClient.keyPem), { mode: 0o600 })
    }

    // Pods and kubelets live in a node's own network namespace (node.ts), which the apiserver reaches through
    // an HTTP CONNECT proxy on a unix socket: no address or route is added to the machine's own network.
    const clusterEgressSocket = workloads ? join(dir, "cluster-egress.sock") : undefined
    const egressConfigPath = join(dir, "egress-selector.yaml")
    if (clusterEgressSocket !== undefined) {
      writeFileSync(egressConfigPath, [
        "apiVersion: apiserver.k8s.io/v1beta1",
        "kind: EgressSelectorConfiguration",
        "egressSelections:",
        "  - name: cluster",
        "    connection:",
        "      proxyProtocol: HTTPConnect",
        "      transport:",
        `        uds: { udsName: ${clusterEgressSocket} }`,
        ""
      ].join("\n"))
    }
    let apiServerArgs: ReadonlyArray<string> = []
    const server = await withFreshPorts(async () => {
      const port = await freePort()
      apiServerArgs = [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, "apiserver-certs")}`,
        `--tls-cert-file=${servingCertPath}`,
        `--tls-private-key-file=${servingKeyPath}`,
        `--client-ca-file=${caPath}`,
        "--authorization-mode=Node,RBAC",
        `--service-account-issuer=${serviceAccountIssuer}`,
        `--service-account-key-file=${serviceAccountPubPath}`,
        `--service-account-signing-key-file=${serviceAccountKeyPath}`,
        `--service-cluster-ip-range=${serviceClusterIpRange}`,
        "--allow-privileged=true",
        // The `kubernetes` Service cannot point at a loopback address; without this the apiserver logs an
        // error every ten seconds trying.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        ...(clusterEgressSocket !== undefined
          ? ["--enable-aggregator-routing=true", `--egress-selector-config-file=${egressConfigPath}`,
            "--kubelet-preferred-address-types=InternalIP"]
          : [])
      ]
      apiServer = startComponent("kube-apiserver", binaries.kubeApiServer, apiServerArgs, dir)
      const started = apiServer
      const url = `https://127.0.0.1:${port}`
      await waitUntil(started, "answering /readyz", timeout, async () => {
        const result = await get(`${url}/readyz`, adminTls)
        return result?.status === 200
      })
      return url
    })

    writeKubeconfigs(server)
    // Started only once the apiserver is ready: kube-controller-manager gives up after waiting 10s for it,
    // which a loaded machine can exceed.
    controllerManager = startComponent("kube-controller-manager", binaries.kubeControllerManager, [
      `--kubeconfig=${controllerManagerKubeconfigPath}`,
      // No serving endpoint: nothing scrapes it, and it saves a port.
      "--secure-port=0",
      "--leader-elect=false",
      `--controllers=${(options.controllers ?? [...defaultControllers, ...(workloads ? workloadControllers : [])])
        .join(",")}`,
      // Each controller runs as its own ServiceAccount, as in a kubeadm cluster, so RBAC is exercised for real.
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${serviceAccountKeyPath}`,
      `--root-ca-file=${caPath}`,
      "--profiling=false"
    ], dir)
    const startedControllerManager = controllerManager
    await waitUntil(startedControllerManager, "the default ServiceAccount existing", timeout, async () => {
      const result = await get(`${server}/api/v1/namespaces/default/serviceaccounts/default`, adminTls)
      return result?.status === 200
    })

    if (workloads) {
      scheduler = startComponent("kube-scheduler", binaries.kubeScheduler!, [
        `--kubeconfig=${schedulerKubeconfigPath}`,
        "--secure-port=0",
        "--leader-elect=false",
        "--profiling=false"
      ], dir)
    }

    const restartApiServer = async () => {
      if (stopping !== undefined) throw new ControlPlaneError("the control plane is stopped")
      await stopComponent(apiServer, restartGraceMillis)
      const restarted = startComponent("kube-apiserver", binaries.kubeApiServer, apiServerArgs, dir)
      apiServer = restarted
      await waitUntil(restarted, "answering /readyz after a restart", timeout, async () => {
        const result = await get(`${server}/readyz`, adminTls)
        return result?.status === 200
      })
    }

    const pidOf = (component: Component | undefined) =>
      component === undefined || component.exitedYet() ? undefined : component.tied.child.pid

    return {
      dir,
      kubeconfigPath,
      server,
      caCertPem: certificates.ca.certPem,
      etcdUrl,
      clusterEgressSocket,
      processIds: () => ({
        etcd: pidOf(etcd),
        kubeApiServer: pidOf(apiServer),
        kubeControllerManager: pidOf(controllerManager),
        kubeScheduler: pidOf(scheduler)
      }),
      stop,
      restartApiServer
    }
  } catch (error) {
    await stop()
    throw error
  }
}
