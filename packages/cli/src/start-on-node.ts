// `npm start` on a machine that can run the test kit's real node: a local cluster with a node and a private
// registry, the add-on installed from its image and manifests as pods, and a demo pod that pulls a private image
// with no imagePullSecrets in its YAML. Ctrl-C stops everything. `nodeUnsupported` says in one line when the
// machine cannot run a node, so that `npm start` falls back to the controller alone.
import { execFile } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { repositoryRoot } from "./repository.ts"


/** Why this machine cannot run the kit's node, or undefined when it can. */
export const nodeUnsupported = (): string | undefined => {
  if (process.platform !== "linux") return "a real node needs Linux"
  if (process.getuid?.() !== 0) return "a real node needs root (mounts, cgroups, containerd)"
  if (!existsSync("/sys/fs/cgroup")) return "a real node needs cgroups (/sys/fs/cgroup is missing)"
  try {
    if (statSync("/sys/fs/cgroup/cgroup.controllers").isFile()) return "the kit's node needs a cgroup v1 host; this one is cgroup v2 only"
  } catch {
    // no cgroup.controllers at the root: a v1 (or hybrid) host
  }
  return undefined
}

const demoUser = { username: "demo-user", password: "demo-registry-password" }
const demoName = "demo-registry"

export const startOnNode = async () => {
  const kit = await import("@tcr-assistant/testkit")
  const { installAddonOnNode } = await import("@tcr-assistant/testkit/addon-on-node")
  const started = Date.now()
  const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}`)
  const scratch = mkdtempSync(join(tmpdir(), "tcr-start-"))
  const stack: Array<() => Promise<void>> = [async () => rmSync(scratch, { recursive: true, force: true })]
  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    console.log("\nStopping the node, the registry and the local control plane ...")
    for (const undo of stack.reverse()) await undo().catch((error: unknown) => console.error(String(error)))
    process.exit(code)
  }
  process.on("SIGINT", () => void stop(130))
  process.on("SIGTERM", () => void stop(143))

  try {
    say("starting a local control plane with a scheduler (the first run builds it from source: minutes) ...")
    const plane = await kit.startControlPlane({ workloads: true })
    stack.push(() => plane.stop())
    await kit.applyManifestFile(plane.kubeconfigPath, kit.crdManifestPath)
    const kubeconfigPath = join(repositoryRoot, ".cache", "kubeconfig")
    mkdirSync(join(repositoryRoot, ".cache"), { recursive: true })
    copyFileSync(plane.kubeconfigPath, kubeconfigPath)
    const kubectl = (args: ReadonlyArray<string>, input?: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile("kubectl", ["--kubeconfig", kubeconfigPath, ...args], { encoding: "utf8" },
          (error, stdout, stderr) => (error ? reject(new Error(`kubectl ${args[0]}: ${stderr.trim()}`)) : resolve(stdout)))
        child.stdin?.end(input ?? "")
      })

    say(`starting a private registry under ${kit.defaultRegistryDomain} with a demo image ...`)
    const registry = await kit.startRegistry({ user: demoUser })
    stack.push(() => registry.stop())
    const image = await kit.writeBusyboxImage(scratch, { name: `${registry.domain}/demo/hello:1`,
      cmd: ["/bin/sh", "-c", "echo 'hello: pulled from the private registry with no imagePullSecrets in my YAML'; exec sleep 86400"] })
    const imageRef = await registry.push(image.layoutDir, image.tag, "demo/hello")

    say("starting a node: containerd and a kubelet in private namespaces ...")
    const node = await kit.startNode(plane, { machinePorts: [registry.port] })
    stack.push(() => node.stop())
    node.trustRegistry(registry.host, registry.caCertPem)

    say("installing the add-on as pods: the image from the Dockerfile (the first run builds it: minutes), then kubectl apply -k manifests/ ...")
    await installAddonOnNode(plane, node)

    say("configuring it: the registry's private address for hosts-updater, and an ImagePullSecret for namespace demo ...")
    await kubectl(["patch", "configmap", "updater-config", "-n", "tcr-assistant-system", "--type=merge", "-p",
      JSON.stringify({ data: { hosts: `${node.machineAddress} ${registry.domain}\n` } })])
    await kubectl(["create", "namespace", "demo"])
    await kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name: demoName },
      spec: { namespaces: "demo", serviceAccounts: "*", docker: { server: registry.host, ...demoUser } }
    }))
    await kit.eventually(async () => {
      const entries = await kubectl(["get", "serviceaccount", "default", "-n", "demo", "-o", "jsonpath={.imagePullSecrets[*].name}"])
      if (!entries.split(" ").includes(`tcr.ips${demoName}`)) throw new Error("not yet")
    }, 120_000)

    say("running a demo pod with no imagePullSecrets in its YAML ...")
    await kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "v1", kind: "Pod", metadata: { name: "hello", namespace: "demo" },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "hello", image: imageRef }] }
    }))
    await kit.eventually(async () => {
      const phase = await kubectl(["get", "pod", "hello", "-n", "demo", "-o", "jsonpath={.status.phase}"])
      if (phase !== "Running") throw new Error(`pod is ${phase}`)
    }, 180_000)
    const k = `kubectl --kubeconfig ${kubeconfigPath}`
    console.log(`
The add-on runs as pods on a local node, and pod demo/hello pulled ${imageRef}
with no imagePullSecrets in its YAML.

Try:
  ${k} get pods -A -o wide
  ${k} logs -n demo hello
  ${k} get pod hello -n demo -o jsonpath='{.spec.imagePullSecrets}'   # added at creation from the ServiceAccount
  ${k} get serviceaccount default -n demo -o yaml
  ${k} get secret tcr.ips${demoName} -n demo
  ${k} get ipss
  cat ${node.hostsFile}   # the node's hosts file, with hosts-updater's block
  ${k} create namespace later   # not selected by ${demoName}: no Secret there
  ${k} patch ipss ${demoName} --type merge -p '{"spec":{"namespaces":"demo,later"}}'   # now it is: Secret within a second

Ctrl-C stops everything.`)
    setInterval(() => {}, 1 << 30)
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    await stop(1)
  }
}
