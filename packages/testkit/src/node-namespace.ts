// Owns the inside of the real node's namespaces: PID 1 of a private PID and mount namespace (started by node.ts
// through `unshare`). It gives containerd, the kubelet and every container a private /etc, /run, /var/log and
// /var/lib, the machine's kernel tunables as private files, and no iptables; then runs containerd and the kubelet
// until SIGTERM. When it exits the kernel kills whatever is left in the namespace and drops every mount made in it.
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { closeSync, existsSync, openSync, readFileSync } from "node:fs"

/** What node.ts hands over, as a JSON file named by the only argument. */
export interface NodeNamespaceConfig {
  /** Directories bind-mounted over machine paths inside the namespace: [source, target]. */
  readonly binds: ReadonlyArray<readonly [string, string]>
  /** Paths of /proc/sys files, each covered by a private file of the same content: [file, /proc/sys/...]. */
  readonly sysctls: ReadonlyArray<readonly [string, string]>
  /** Programs replaced by /bin/false, so the kubelet's iptables calls never reach the machine's netfilter. */
  readonly disabledPrograms: ReadonlyArray<string>
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

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

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
