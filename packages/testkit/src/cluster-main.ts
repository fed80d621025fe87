// Owns `npm run cluster`: a local control plane in the foreground with our CRD installed and its kubeconfig
// copied where the user asked, optionally with a real node (containerd and kubelet), until Ctrl-C.
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { applyManifestFile, crdManifestPath } from "./apply-manifests.ts"
import { startControlPlane } from "./control-plane.ts"
import { repositoryRoot } from "./image-app.ts"
import { startNode, type RealNode } from "./node.ts"

const defaultKubeconfig = resolve(repositoryRoot, ".cache", "kubeconfig")

const usage = `Usage: npm run cluster -- [--kubeconfig <path>] [--node] [--keep-dir]

Starts etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, installs the ImagePullSecret CRD and
writes an admin kubeconfig to <path> (default: ${defaultKubeconfig}). Ctrl-C stops everything.
  --node       also run kube-scheduler, the workload controllers and one real node: containerd and a kubelet
               in private namespaces (needs root, Linux with cgroup v1; installs Debian's containerd and runc
               when missing). Pods run on it like on any node; its /etc/hosts is a private copy
  --keep-dir   keep the run directory (component logs, etcd data) after stopping`

const main = async () => {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      "keep-dir": { type: "boolean", default: false },
      node: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false }
    }
  })
  if (values.help) {
    console.log(usage)
    return
  }
  const kubeconfigPath = resolve(values.kubeconfig ?? defaultKubeconfig)

  // During start-up a Ctrl-C simply exits: the lifeline kills whatever was already started.
  const exitNow = (signal: NodeJS.Signals) => process.exit(signal === "SIGINT" ? 130 : 143)
  process.on("SIGINT", exitNow)
  process.on("SIGTERM", exitNow)

  const started = Date.now()
  console.log(values.node
    ? "Starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a node ..."
    : "Starting etcd, kube-apiserver and kube-controller-manager ...")
  const plane = await startControlPlane({ keepDir: values["keep-dir"], workloads: values.node })
  let node: RealNode | undefined
  try {
    if (values.node) node = await startNode(plane, { keepDir: values["keep-dir"] })
  } catch (error) {
    await plane.stop()
    throw error
  }
  if (existsSync(crdManifestPath)) await applyManifestFile(plane.kubeconfigPath, crdManifestPath)
  else console.warn(`warning: ${crdManifestPath} does not exist (run \`npm run manifests\`); no CRD installed`)
  mkdirSync(dirname(kubeconfigPath), { recursive: true })
  copyFileSync(plane.kubeconfigPath, kubeconfigPath)

  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    console.log(`\n${signal}: stopping the control plane ...`)
    void (node?.stop() ?? Promise.resolve()).then(() => plane.stop()).then(
      () => {
        rmSync(kubeconfigPath, { force: true })
        console.log("stopped")
        process.exit(0)
      },
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      }
    )
  }
  process.removeListener("SIGINT", exitNow)
  process.removeListener("SIGTERM", exitNow)
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)

  console.log(`apiserver:  ${plane.server}`)
  console.log(`logs:       ${plane.dir}`)
  console.log(`kubeconfig: ${kubeconfigPath}`)
  if (node !== undefined) {
    console.log(`node:       ${node.name} (logs in ${join(node.dir, "logs")}; hosts file ${node.hostsFile})`)
  }
  console.log(`  kubectl --kubeconfig ${kubeconfigPath} get imagepullsecrets`)
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s; press Ctrl-C to stop`)
  // Keep the process alive until a signal arrives.
  setInterval(() => {}, 1 << 30)
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
