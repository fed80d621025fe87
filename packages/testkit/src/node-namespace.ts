// Owns the inside of the real node's namespaces: PID 1 of a private PID, mount and network namespace (started by
// node.ts through `unshare`). It gives containerd, the kubelet and every container a private /etc, /run, /var/log
// and /var/lib, the machine's kernel tunables as private files, no iptables, and a network of their own whose only
// ways out are unix sockets: TCP listeners that forward to the machine (the apiserver, the registry), and the HTTP
// CONNECT proxy the apiserver uses to reach pods and the kubelet. Then it runs containerd and the kubelet until
// SIGTERM. When it exits the kernel kills whatever is left in the namespaces and drops every mount and interface.
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs"
import { connect, createServer } from "node:net"
import { splice } from "./socket-splice.ts"
import { setTimeout as sleep } from "node:timers/promises"

/** What node.ts hands over, as a JSON file named by the only argument. */
export interface NodeNamespaceConfig {
  /** Directories bind-mounted over machine paths inside the namespace: [source, target]. */
  readonly binds: ReadonlyArray<readonly [string, string]>
  /** Paths of /proc/sys files, each covered by a private file of the same content: [file, /proc/sys/...]. */
  readonly sysctls: ReadonlyArray<readonly [string, string]>
  /** Programs replaced by /bin/false, so the kubelet's iptables calls never reach the machine's netfilter. */
  readonly disabledPrograms: ReadonlyArray<string>
  /** Addresses given to the namespace's loopback interface (the node's IP, the apiserver's service IP, ...). */
  readonly addresses: ReadonlyArray<string>
  /** TCP listeners inside, each forwarding its connections to a unix socket served on the machine's side. */
  readonly forwards: ReadonlyArray<{ readonly host: string; readonly port: number; readonly socket: string }>
  /** Where to serve the apiserver's HTTP CONNECT proxy into this network, if a control plane wants one. */
  readonly egressSocket: string | undefined
  readonly containerd: { readonly args: ReadonlyArray<string>; readonly socket: string; readonly log: string }
  /** OCI archives imported into containerd's k8s.io namespace before the kubelet starts (the pause image). */
  readonly images: ReadonlyArray<string>
  readonly kubelet: { readonly binary: string; readonly args: ReadonlyArray<string>; readonly log: string }
}

const log = (line: string) => process.stderr.write(`node-namespace: ${line}\n`)

const mount = (args: ReadonlyArray<string>) => {
  const result = spawnSync("mount", args, { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`mount ${args.join(" ")}: ${result.stderr.trim()}`)
}


const startLogged = (binary: string, args: ReadonlyArray<string>, logPath: string): ChildProcess => {
  const fd = openSync(logPath, "a")
  const child = spawn(binary, args, { stdio: ["ignore", fd, fd] })
  closeSync(fd)
  return child
}

const ctr = (socket: string, args: ReadonlyArray<string>) =>
  spawnSync("ctr", ["--address", socket, ...args], { encoding: "utf8" })

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
  })

const stopChild = async (child: ChildProcess | undefined, graceMillis: number) => {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMillis)
  await exited(child)
  clearTimeout(timer)
}

const ip = (args: ReadonlyArray<string>) => {
  const result = spawnSync("ip", args, { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr.trim()}`)
}

const forward = (host: string, port: number, socket: string) =>
  new Promise<void>((resolve, reject) => {
    const server = createServer((client) => splice(client, connect(socket)))
    server.once("error", reject)
    server.listen(port, host, () => resolve())
  })

// The apiserver's egress: `CONNECT host:port HTTP/1.1`, answered with 200 once the target accepted the connection.
const connectProxy = (path: string) =>
  new Promise<void>((resolve, reject) => {
    rmSync(path, { force: true })
    const server = createServer((client) => {
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf("\r\n\r\n")
        if (end < 0) return
        client.off("data", onData)
        client.pause()
        const target = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.subarray(0, end).toString("latin1"))
        if (target === null) return client.end("HTTP/1.1 400 Bad Request\r\n\r\n")
        const upstream = connect(Number(target[2]), target[1]!.replace(/^\[(.*)\]$/, "$1"))
        upstream.once("error", () => client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n"))
        upstream.once("connect", () => {
          client.write("HTTP/1.1 200 Connection established\r\n\r\n")
          const rest = head.subarray(end + 4)
          if (rest.length > 0) upstream.write(rest)
          splice(client, upstream)
          client.resume()
        })
      }
      client.on("data", onData)
      client.on("error", () => client.destroy())
    })
    server.once("error", reject)
    server.listen(path, () => resolve())
  })

const main = async (config: NodeNamespaceConfig) => {
  let containerd: ChildProcess | undefined
  let kubelet: ChildProcess | undefined
  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    await stopChild(kubelet, 10_000)
    await stopChild(containerd, 10_000)
    process.exit(code)
  }
  process.on("SIGTERM", () => void stop(0))
  process.on("SIGINT", () => void stop(0))

  for (const [source, target] of config.binds) mount(["--bind", source, target])
  for (const [file, target] of config.sysctls) mount(["--bind", file, target])
  for (const program of config.disabledPrograms) if (existsSync(program)) mount(["--bind", "/bin/false", program])
  // A fresh /run: containerd 1.6 keeps shim sockets and runc state there whatever its config says.
  mount(["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
  ip(["link", "set", "lo", "up"])
  for (const address of config.addresses) ip(["address", "add", `${address}/32`, "dev", "lo"])
  for (const { host, port, socket } of config.forwards) await forward(host, port, socket)
  if (config.egressSocket !== undefined) await connectProxy(config.egressSocket)

  containerd = startLogged("containerd", config.containerd.args, config.containerd.log)
  containerd.once("exit", (code, signal) => {
    if (!stopping) log(`containerd exited (${signal ?? code}); see ${config.containerd.log}`)
    void stop(1)
  })
  while (ctr(config.containerd.socket, ["version"]).status !== 0) {
    if (stopping) return
    await sleep(50)
  }
  for (const archive of config.images) {
    const result = ctr(config.containerd.socket, ["-n", "k8s.io", "images", "import", archive])
    if (result.status !== 0) {
      log(`importing ${archive} failed: ${result.stderr.trim()}`)
      return stop(1)
    }
  }
  kubelet = startLogged(config.kubelet.binary, config.kubelet.args, config.kubelet.log)
  kubelet.once("exit", (code, signal) => {
    if (!stopping) log(`kubelet exited (${signal ?? code}); see ${config.kubelet.log}`)
    void stop(1)
  })
}

const configPath = process.argv[2]
if (configPath === undefined) {
  log("usage: node-namespace.ts CONFIG.json (started by the test kit's node.ts inside unshare)")
  process.exit(2)
}
main(JSON.parse(readFileSync(configPath, "utf8")) as NodeNamespaceConfig).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error))
  process.exit(1)
})
