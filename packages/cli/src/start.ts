// `npm start`: the product working within one command. With a reachable cluster in the kubeconfig the controller
// runs against it. With none, on a machine that can run the test kit's node (start-on-node.ts), a local cluster
// with a node and a private registry runs the add-on as pods and a demo pod pulls a private image; elsewhere a
// local control plane is started, the CRD, a demo namespace and the sample ImagePullSecret are installed, and the
// controller runs against that as a process. Ctrl-C stops everything.
import { runControllerManager, type ControllerManagerOptions } from "@tcr-assistant/controller/main"
import { webhookConfigurationName } from "@tcr-assistant/controller/webhook-tls"
import { KubeClient } from "@tcr-assistant/kube"
import { Effect, Fiber } from "effect"
import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import type { Manifest } from "./addon-cluster.ts"
import { withWebhookUrl } from "./addon-manifests.ts"
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from "./manifests.ts"
import { setTimeout as sleep } from "node:timers/promises"
import { repositoryRoot } from "./repository.ts"

const samplePath = join(repositoryRoot, "manifests", "samples", "imagepullsecret-sample.yaml")

/** The cluster of the standard kubeconfig, if one is configured and answers within a few seconds. */
const reachableCluster = Effect.gen(function*() {
  const client = yield* KubeClient
  yield* client.request({ method: "GET", path: "/version", what: "reach the cluster" }).pipe(Effect.timeout("3 seconds"))
  return client.server
}).pipe(Effect.scoped, Effect.provide(KubeClient.layer({})), Effect.option)

const runControllerUntilInterrupted = (options: ControllerManagerOptions) =>
  runControllerManager({ log: { format: "text" }, ...options })

const main = async () => {
  const existing = await Effect.runPromise(reachableCluster)
  if (existing._tag === "Some") {
    console.log(`Running the controller against ${existing.value} (from your kubeconfig). Ctrl-C stops it.`)
    console.log("The ImagePullSecret CRD must be installed there: kubectl apply -f manifests/crd/")
    console.log("(Without the add-on installed there is no webhook Service nor leader Lease: this runs one replica without them.)")
    await Effect.runPromise(runControllerUntilInterrupted({ leaderElection: { enabled: false }, webhook: { enabled: false } }))
    return
  }

  const { nodeUnsupported, startOnNode } = await import("./start-on-node.ts")
  const unsupported = nodeUnsupported()
  if (unsupported === undefined) {
    console.log("No reachable cluster in your kubeconfig: starting a local cluster with a real node.")
    await startOnNode()
    return
  }
  console.log(`No reachable cluster in your kubeconfig, and no local node (${unsupported}): the controller runs as a process.`)
  console.log("Starting a local control plane (the first run builds it from source, which takes minutes) ...")
  const { startControlPlane, applyManifestFile, crdManifestPath, freePort } = await import("@tcr-assistant/testkit")
  const plane = await startControlPlane()
  let stopping = false
  let manager: Fiber.Fiber<unknown, unknown> | undefined
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    console.log("\nStopping the controller and the local control plane ...")
    // The controller first, so that it releases its Lease while the apiserver is still there.
    if (manager !== undefined) await Effect.runPromise(Fiber.interrupt(manager))
    await plane.stop()
    process.exit(code)
  }
  process.on("SIGINT", () => void stop(130))
  process.on("SIGTERM", () => void stop(143))

  await applyManifestFile(plane.kubeconfigPath, crdManifestPath)
  const kubeconfigPath = join(repositoryRoot, ".cache", "kubeconfig")
  mkdirSync(join(repositoryRoot, ".cache"), { recursive: true })
  copyFileSync(plane.kubeconfigPath, kubeconfigPath)

  // kubectl runs asynchronously: the webhook it calls is served by this very process.
  const { execFile } = await import("node:child_process")
  const kubectl = (...args: Array<string>) =>
    new Promise<string>((resolve, reject) => {
      execFile("kubectl", ["--kubeconfig", kubeconfigPath, ...args], { encoding: "utf8" }, (error, stdout, stderr) =>
        error ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr}`)) : resolve(stdout))
    })
  const kubectlApply = (object: unknown) =>
    new Promise<void>((resolve, reject) => {
      const child = execFile("kubectl", ["--kubeconfig", kubeconfigPath, "apply", "-f", "-"], (error, _stdout, stderr) =>
        error ? reject(new Error(`kubectl apply: ${stderr}`)) : resolve())
      child.stdin?.end(JSON.stringify(object))
    })

  // The full controller-manager, as in the cluster: leader election in tcr-assistant-system, and the webhooks
  // (validation, Pod mutation), which the apiserver calls by URL on 127.0.0.1 (there are no pods or Services here).
  const [webhookPort, healthPort] = [await freePort(), await freePort()]
  await kubectl("create", "namespace", "tcr-assistant-system")
  for (const configuration of withWebhookUrl([validatingWebhookConfiguration, mutatingWebhookConfiguration] as Array<Manifest>, `https://127.0.0.1:${webhookPort}`)) {
    await kubectlApply(configuration)
  }
  const fiber = (manager = Effect.runFork(runControllerUntilInterrupted({
    kubeconfig: plane.kubeconfigPath,
    webhook: { host: "127.0.0.1", port: webhookPort, extraHosts: ["127.0.0.1"] },
    health: { host: "127.0.0.1", port: healthPort }
  })))
  fiber.addObserver((exit) => {
    if (exit._tag === "Failure" && !stopping) {
      console.error("The controller stopped:", exit.cause)
      void stop(1)
    }
  })
  // The manager writes its CA into the webhook configuration; until then the apiserver cannot call it.
  while (!(await kubectl("get", "validatingwebhookconfiguration", webhookConfigurationName, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}"))) {
    await sleep(200)
  }
  await kubectl("create", "namespace", "demo")
  await kubectl("create", "-f", samplePath)

  console.log(`
The controller is running against a local control plane.
  kubeconfig: ${kubeconfigPath}

Try:
  kubectl --kubeconfig ${kubeconfigPath} get ipss
  kubectl --kubeconfig ${kubeconfigPath} get secrets -n demo
  kubectl --kubeconfig ${kubeconfigPath} get serviceaccount default -n demo -o yaml
  kubectl --kubeconfig ${kubeconfigPath} create namespace later   # gets its Secret within a second
  kubectl --kubeconfig ${kubeconfigPath} describe ipss imagepullsecret-sample
  kubectl --kubeconfig ${kubeconfigPath} patch ipss imagepullsecret-sample --type merge -p '{"spec":{"namespaces":"demo,Not_A_Namespace"}}'   # the webhook refuses
  curl -s http://127.0.0.1:${healthPort}/metrics | grep tcr_assistant

Ctrl-C stops everything.`)
}

await main()
