// Owns one real Kubernetes node for a test-kit control plane: Debian's containerd and runc and a kubelet built from
// the wrapper module, inside a private PID, mount and network namespace (node-namespace.ts), registered as a Ready
// Node with a pod network (a CNI bridge). Nothing of the machine changes: /etc, /run, /var/log and /var/lib are
// private copies or scratch, the kernel tunables the kubelet sets are private files, iptables is disabled inside,
// every address and interface is in the node's network namespace, which reaches the machine only through unix
// sockets (to the apiserver, to ports the caller names), and the pods' cgroups live under one subtree that stop() —
// or the test kit's watchdog, when this process is SIGKILLed — removes.
import { spawnSync } from "node:child_process"
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync,
  statSync, writeFileSync } from "node:fs"
import { connect, createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { pauseCommand, writeBusyboxImage } from "./busybox-image.ts"
import { resolveControlPlaneBinaries } from "./control-plane-binaries.ts"
import { type ControlPlane, kubernetesServiceIp } from "./control-plane.ts"
import { ensureDebianPackages } from "./debian-packages.ts"
import { eventually } from "./eventually.ts"
import type { NodeNamespaceConfig } from "./node-namespace.ts"
import { registerCgroupTree, registerScratchDir, releaseCgroupTree, releaseScratchDir, removeCgroupTree,
  spawnTied } from "./process-lifeline.ts"
import { freePort, kubectl } from "./processes.ts"
import { splice } from "./socket-splice.ts"
import { setTimeout as sleep } from "node:timers/promises"

export interface NodeOptions {
  /** The Node's name; defaults to "realnode". Pods name it in `spec.nodeName` (the kit runs no scheduler). */
  readonly name?: string
  /** Where the run directory is created; defaults to the OS temp directory. */
  readonly parentDir?: string
  /** Keep the run directory (containerd and kubelet logs, pod logs) after stop(), for debugging. */
  readonly keepDir?: boolean
  /** How long the node may take to become Ready; defaults to 3 minutes. */
  readonly readyTimeoutMillis?: number
  /** Ports of 127.0.0.1 on the machine (a registry, say) that the node and its pods reach at `machineAddress`. */
  readonly machinePorts?: ReadonlyArray<number>
  /**
   * More ways to the machine: `address:port` inside the node's network forwards to the machine's
   * `127.0.0.1:target` (e.g. a TCR instance's private IP on port 443, for a registry the kit runs elsewhere).
   */
  readonly forwards?: ReadonlyArray<{ readonly address: string; readonly port: number; readonly target: number }>
}

export interface RealNode {
  readonly name: string
  /** The node's InternalIP, inside its network namespace. */
  readonly address: string
  /** Where the node and its pods reach `machinePorts`: a "private-network IP" for a hosts entry. */
  readonly machineAddress: string
  readonly dir: string
  /** The node's hosts file as seen from outside the namespace: what hosts-updater's `--hosts-file` names. */
  readonly hostsFile: string
  /** The node's /etc, as seen from outside: what a DaemonSet's hostPath `/etc` should point at. */
  readonly etcDir: string
  readonly containerdSocket: string
  readonly containerdLog: () => string
  readonly kubeletLog: () => string
  /** Trusts a registry's CA for pulls from `host` (`domain:port`), as containerd's certs.d does. */
  readonly trustRegistry: (host: string, caCertPem: string) => void
  /** Imports an OCI archive into the node's image store (containerd namespace k8s.io); returns the image names. */
  readonly importImage: (archive: string) => ReadonlyArray<string>
  /** The PID, on the machine, of the namespace's first process: everything the node runs descends from it. */
  readonly initPid: () => number | undefined
  /** The cgroup subtrees (one per hierarchy) holding the pods. */
  readonly cgroupTrees: ReadonlyArray<string>
  /** Stops the kubelet, every pod and containerd, removes the cgroups and the run directory. Idempotent. */
  readonly stop: () => Promise<void>
}

export class NodeError extends Error {
  override readonly name = "NodeError"
}

export const pauseImage = "registry.k8s.io/pause:3.10.1"

/** The node's network: pods get addresses of `podSubnet` on a bridge; the rest are local to the namespace. */
export const nodeNetwork = {
  podSubnet: "10.244.0.0/24",
  nodeAddress: "10.244.255.1",
  machineAddress: "10.244.255.254"
} as const

/** The kernel tunables the kubelet sets at start (`protectKernelDefaults: false`); inside they are private files. */
export const kubeletSysctls: ReadonlyArray<string> = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
  "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"]

const nodeFiles = [
  { file: "containerd", pkg: "containerd" },
  { file: "ctr", pkg: "containerd" },
  { file: "runc", pkg: "runc" },
  { file: "/usr/lib/cni/loopback", pkg: "containernetworking-plugins" },
  { file: "/bin/busybox", pkg: "busybox-static" },
  { file: "unshare", pkg: "util-linux" },
  { file: "ip", pkg: "iproute2" },
  { file: "/usr/lib/cni/bridge", pkg: "containernetworking-plugins" },
  { file: "tar", pkg: "tar" }
]

const namespaceInit = fileURLToPath(new URL("./node-namespace.ts", import.meta.url))

const cgroupRootDir = "/sys/fs/cgroup"

// One subtree per cgroup v1 hierarchy (and the unified one that runc also writes), cpuset's filled from its parent,
// which the kernel requires before a process may join.
const createCgroupTrees = (name: string): ReadonlyArray<string> => {
  if (!existsSync(cgroupRootDir)) throw new NodeError(`${cgroupRootDir} does not exist: the real node needs cgroups`)
  const trees: Array<string> = []
  for (const entry of readdirSync(cgroupRootDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    const tree = join(cgroupRootDir, entry.name, name)
    mkdirSync(tree, { recursive: true })
    registerCgroupTree(tree)
    trees.push(tree)
    if (entry.name === "cpuset") {
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        writeFileSync(join(tree, file), readFileSync(join(cgroupRootDir, entry.name, file), "utf8"))
      }
    }
  }
  return trees
}

const cgroupV2Only = () => {
  try {
    return statSync(join(cgroupRootDir, "cgroup.controllers")).isFile()
  } catch {
    return false
  }
}

const containerdConfig = (dir: string, socket: string) => `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  # The pause container asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE that a container may lack.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dir}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${dir}/certs.d"
`

const kubeletConfig = (dir: string, options: { port: number; healthzPort: number; cgroupRoot: string; socket: string }) =>
  JSON.stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: nodeNetwork.nodeAddress,
    port: options.port,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: options.healthzPort,
    // The kit's apiserver has no kubelet client certificate: logs and exec arrive anonymous.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    cgroupDriver: "cgroupfs",
    cgroupRoot: options.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${options.socket}`,
    // cadvisor cannot map every machine's root device to a filesystem; nothing may be evicted or collected for that.
    localStorageCapacityIsolation: false,
    evictionHard: { "memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%",
      "nodefs.inodesFree": "1%" },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    resolvConf: join(dir, "etc", "resolv.conf"),
    podLogsDir: join(dir, "pod-logs"),
    staticPodPath: join(dir, "static-pods"),
    protectKernelDefaults: false,
    serializeImagePulls: false,
    clusterDomain: "cluster.local"
  }, null, 2)

const readSafe = (path: string) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return ""
  }
}

const childPid = (pid: number): number | undefined => {
  const children = readSafe(`/proc/${pid}/task/${pid}/children`).trim()
  const first = Number.parseInt(children.split(" ")[0] ?? "", 10)
  return Number.isNaN(first) ? undefined : first
}


// The machine's side of a forward: connections arriving on the unix socket go to 127.0.0.1:port.
const serveToMachine = (socket: string, port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer((inside) => splice(inside, connect(port, "127.0.0.1")))
    server.once("error", reject)
    server.listen(socket, () => resolve(server))
  })

/**
 * Starts a node for `plane` (started with `workloads: true`) and waits until it is Ready, without the taint no
 * controller of the kit would remove.
 */
export const startNode = async (plane: ControlPlane, options: NodeOptions = {}): Promise<RealNode> => {
  if (process.platform !== "linux") throw new NodeError("the real node needs Linux (namespaces, cgroups)")
  if (process.getuid?.() !== 0) throw new NodeError("the real node needs root (mounts, cgroups, containerd)")
  if (cgroupV2Only()) throw new NodeError("the real node is set up for cgroup v1 hosts; this one is cgroup v2 only")
  if (plane.clusterEgressSocket === undefined) {
    throw new NodeError("a real node needs a control plane started with { workloads: true }")
  }
  await ensureDebianPackages("the real node", nodeFiles)
  const binaries = await resolveControlPlaneBinaries({ node: true })
  const name = options.name ?? "realnode"
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), "tcr-node-"))
  registerScratchDir(dir)
  const id = dir.slice(dir.lastIndexOf("-") + 1).toLowerCase()
  const cgroupRoot = `/tcr-node-${id}`
  let trees: ReadonlyArray<string> = []
  const servers: Array<Server> = []
  let cleaned = false
  const cleanUp = () => {
    if (cleaned) return
    cleaned = true
    for (const server of servers) server.close()
    for (const tree of trees) if (removeCgroupTree(tree)) releaseCgroupTree(tree)
    if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    releaseScratchDir(dir)
  }
  try {
    trees = createCgroupTrees(cgroupRoot.slice(1))
    const etcDir = join(dir, "etc")
    cpSync("/etc", etcDir, { recursive: true, verbatimSymlinks: true })
    // No name the node looks up may reach a real DNS server: nothing listens on 127.0.0.1:53.
    writeFileSync(join(etcDir, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    for (const sub of ["containerd", "cni", "certs.d", "logs", "pod-logs", "static-pods", "kubelet", "var-log",
      "var-lib", "sysctl", "images"]) mkdirSync(join(dir, sub), { recursive: true })
    writeFileSync(join(dir, "cni", "10-pods.conflist"), JSON.stringify({
      cniVersion: "0.4.0",
      name: "pods",
      plugins: [{ type: "bridge", bridge: "cni0", isGateway: true, ipMasq: false,
        ipam: { type: "host-local", ranges: [[{ subnet: nodeNetwork.podSubnet }]], routes: [{ dst: "0.0.0.0/0" }],
          dataDir: join(dir, "cni", "ipam") } }]
    }))
    // The kubelet and the pods find the apiserver where a kube-proxy would take them: the `kubernetes` Service's
    // IP, which is in the apiserver's certificate; a listener there forwards to the machine's side.
    const forwardDir = join(dir, "forward")
    mkdirSync(forwardDir)
    const apiServerPort = Number(new URL(plane.server).port)
    const machineForwards = [
      { host: kubernetesServiceIp, port: 443, target: apiServerPort, socket: join(forwardDir, "apiserver.sock") },
      ...(options.machinePorts ?? []).map((port) =>
        ({ host: nodeNetwork.machineAddress, port, target: port, socket: join(forwardDir, `${port}.sock`) })),
      ...(options.forwards ?? []).map(({ address, port, target }) =>
        ({ host: address, port, target, socket: join(forwardDir, `${address}-${port}.sock`) }))
    ]
    servers.push(...await Promise.all(machineForwards.map(({ target, socket }) => serveToMachine(socket, target))))
    const kubeconfig = readFileSync(plane.kubeconfigPath, "utf8").replace(plane.server, `https://${kubernetesServiceIp}:443`)
    writeFileSync(join(dir, "kubelet", "kubeconfig"), kubeconfig, { mode: 0o600 })
    const sysctls = kubeletSysctls.map((path): readonly [string, string] => {
      const file = join(dir, "sysctl", path.replaceAll("/", "."))
      writeFileSync(file, readFileSync(join("/proc/sys", path), "utf8"))
      return [file, join("/proc/sys", path)]
    })
    const pause = await writeBusyboxImage(join(dir, "images"), { name: pauseImage, cmd: pauseCommand })
    const socket = join(dir, "containerd", "containerd.sock")
    writeFileSync(join(dir, "containerd", "config.toml"), containerdConfig(dir, socket))
    const [port, healthzPort] = [await freePort(), await freePort()]
    writeFileSync(join(dir, "kubelet", "config.json"), kubeletConfig(dir, { port, healthzPort, cgroupRoot, socket }))
    const containerdLogPath = join(dir, "logs", "containerd.log")
    const kubeletLogPath = join(dir, "logs", "kubelet.log")
    const config: NodeNamespaceConfig = {
      binds: [[etcDir, "/etc"], [join(dir, "var-log"), "/var/log"], [join(dir, "var-lib"), "/var/lib"]],
      sysctls,
      disabledPrograms: ["/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi"],
      addresses: [...new Set([nodeNetwork.nodeAddress, nodeNetwork.machineAddress, kubernetesServiceIp,
        ...(options.forwards ?? []).map(({ address }) => address)])],
      forwards: machineForwards.map(({ host, port, socket }) => ({ host, port, socket })),
      egressSocket: plane.clusterEgressSocket,
      containerd: { args: ["--config", join(dir, "containerd", "config.toml")], socket, log: containerdLogPath },
      images: [pause.archive],
      kubelet: {
        binary: binaries.kubelet!,
        args: [
          `--config=${join(dir, "kubelet", "config.json")}`,
          // Admin credentials: the kit keeps no CA key to issue a node certificate, and runs no NodeRestriction.
          `--kubeconfig=${join(dir, "kubelet", "kubeconfig")}`,
          `--root-dir=${join(dir, "kubelet", "root")}`,
          `--cert-dir=${join(dir, "kubelet", "pki")}`,
          `--hostname-override=${name}`,
          `--node-ip=${nodeNetwork.nodeAddress}`
        ],
        log: kubeletLogPath
      }
    }
    writeFileSync(join(dir, "namespace.json"), JSON.stringify(config, null, 2))
    const initLog = openSync(join(dir, "logs", "namespace.log"), "w")
    const unshared = spawnTied("unshare", ["--mount", "--pid", "--net", "--fork", "--mount-proc", "--propagation", "private",
      "--kill-child=SIGKILL", process.execPath, namespaceInit, join(dir, "namespace.json")],
      { stdio: ["ignore", initLog, initLog] })
    closeSync(initLog)
    let ended = false
    void unshared.exited.then(() => (ended = true))
    let stopped: Promise<void> | undefined
    const stop = () =>
      (stopped ??= (async () => {
        const init = childPid(unshared.child.pid!)
        if (!ended) {
          if (init !== undefined) process.kill(init, "SIGTERM")
          const timer = setTimeout(() => unshared.child.kill("SIGKILL"), 30_000)
          await unshared.exited
          clearTimeout(timer)
        }
        for (let tries = 0; tries < 50 && trees.some(existsSync); tries++) {
          for (const tree of trees) if (removeCgroupTree(tree)) releaseCgroupTree(tree)
          await sleep(100)
        }
        await kubectl(plane.kubeconfigPath, ["delete", "node", name, "--ignore-not-found", "--wait=false"])
        cleanUp()
      })())
    const node: RealNode = {
      name,
      address: nodeNetwork.nodeAddress,
      machineAddress: nodeNetwork.machineAddress,
      dir,
      hostsFile: join(etcDir, "hosts"),
      etcDir,
      containerdSocket: socket,
      containerdLog: () => readSafe(containerdLogPath),
      kubeletLog: () => readSafe(kubeletLogPath),
      trustRegistry: (host, caCertPem) => {
        const hostDir = join(dir, "certs.d", host)
        mkdirSync(hostDir, { recursive: true })
        writeFileSync(join(hostDir, "ca.crt"), caCertPem)
        // A top-level `ca` applies to the fallback server too; a [host] table alone would not.
        writeFileSync(join(hostDir, "hosts.toml"), `server = "https://${host}"\nca = "${join(hostDir, "ca.crt")}"\n`)
      },
      importImage: (archive) => {
        const result = spawnSync("ctr", ["--address", socket, "-n", "k8s.io", "images", "import", archive],
          { encoding: "utf8" })
        if (result.status !== 0) throw new NodeError(`importing ${archive} into the node failed: ${result.stderr.trim()}`)
        return [...result.stdout.matchAll(/^unpacking (\S+)/gm)].map((match) => match[1]!)
      },
      initPid: () => childPid(unshared.child.pid!),
      cgroupTrees: trees,
      stop
    }
    try {
      await waitUntilReady(plane, node, () => ended, options.readyTimeoutMillis ?? 180_000)
    } catch (error) {
      await stop()
      throw error
    }
    return node
  } catch (error) {
    cleanUp()
    throw error
  }
}

const kubectlJson = async (plane: ControlPlane, args: ReadonlyArray<string>) => {
  const result = await kubectl(plane.kubeconfigPath, [...args, "-o", "json"])
  if (result.status !== 0) throw new NodeError(`kubectl ${args.join(" ")}: ${result.stderr.trim()}`)
  return JSON.parse(result.stdout) as { spec?: { taints?: Array<{ key: string }> };
    status?: { conditions?: Array<{ type: string; status: string; message?: string }> } }
}

const lastLines = (text: string) => text.trimEnd().split("\n").slice(-15).join("\n")

// The kit runs no node-lifecycle controller: the kit itself removes the not-ready taint once the node is Ready.
const waitUntilReady = async (plane: ControlPlane, node: RealNode, ended: () => boolean, timeoutMillis: number) => {
  const failed = (what: string) =>
    new NodeError(`${what}\n--- kubelet log ---\n${lastLines(node.kubeletLog())}\n--- containerd log ---\n` +
      lastLines(node.containerdLog()) + `\n--- namespace log ---\n${lastLines(readSafe(join(node.dir, "logs", "namespace.log")))}`)
  await eventually(async () => {
    if (ended()) throw failed("the node's namespace ended before the node registered")
    await kubectlJson(plane, ["get", "node", node.name])
  }, timeoutMillis).catch((error: unknown) => {
    throw error instanceof NodeError ? error : failed(`node ${node.name} did not register`)
  })
  await eventually(async () => {
    if (ended()) throw failed("the node's namespace ended before the node was Ready")
    const current = await kubectlJson(plane, ["get", "node", node.name])
    const ready = current.status?.conditions?.find((condition) => condition.type === "Ready")
    if (ready?.status !== "True") throw new Error(`not Ready: ${ready?.message ?? "no condition"}`)
    const taints = (current.spec?.taints ?? []).filter((taint) =>
      !["node.kubernetes.io/not-ready", "node.cloudprovider.kubernetes.io/uninitialized"].includes(taint.key))
    if (taints.length !== (current.spec?.taints ?? []).length) {
      const result = await kubectl(plane.kubeconfigPath, ["patch", "node", node.name, "--type=merge", "-p",
        JSON.stringify({ spec: { taints: taints.length > 0 ? taints : null } })])
      if (result.status !== 0) throw new Error(result.stderr)
      throw new Error("taints removed; checking again")
    }
  }, timeoutMillis).catch((error: unknown) => {
    throw error instanceof NodeError ? error : failed(`node ${node.name} did not become Ready: ${(error as Error).message}`)
  })
}
