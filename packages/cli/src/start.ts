// `npm start`: the product working within one command. With a reachable cluster in the kubeconfig the controller
// runs against it; with none, a local control plane is started from the test kit, the CRD, a demo namespace and
// the sample ImagePullSecret are installed, and the controller runs against that. Ctrl-C stops everything.
import { startController } from "@tcr-assistant/controller/reconciler"
import { KubeClient } from "@tcr-assistant/kube"
import { Effect } from "effect"
import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"

const repositoryRoot = join(import.meta.dirname, "..", "..", "..")
const samplePath = join(repositoryRoot, "manifests", "samples", "imagepullsecret-sample.yaml")

/** The cluster of the standard kubeconfig, if one is configured and answers within a few seconds. */
const reachableCluster = Effect.gen(function*() {
  const client = yield* KubeClient
  yield* client.request({ method: "GET", path: "/version", what: "reach the cluster" }).pipe(Effect.timeout("3 seconds"))
  return client.server
}).pipe(Effect.scoped, Effect.provide(KubeClient.layer({})), Effect.option)

const runControllerUntilInterrupted = (kubeconfig: string | undefined) =>
  Effect.gen(function*() {
    yield* startController({})
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(KubeClient.layer({ kubeconfig })))

const main = async () => {
  const existing = await Effect.runPromise(reachableCluster)
  if (existing._tag === "Some") {
    console.log(`Running the controller against ${existing.value} (from your kubeconfig). Ctrl-C stops it.`)
    console.log("The ImagePullSecret CRD must be installed there: kubectl apply -f manifests/crd/")
    await Effect.runPromise(runControllerUntilInterrupted(undefined))
    return
  }

  console.log("No reachable cluster in your kubeconfig: starting a local control plane (the first run builds it from source, which takes minutes) ...")
  const { startControlPlane, applyManifestFile, crdManifestPath } = await import("@tcr-assistant/testkit")
  const plane = await startControlPlane()
  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    console.log("\nStopping the controller and the local control plane ...")
    await plane.stop()
    process.exit(code)
  }
  process.on("SIGINT", () => void stop(130))
  process.on("SIGTERM", () => void stop(143))

  await applyManifestFile(plane.kubeconfigPath, crdManifestPath)
  const kubeconfigPath = join(repositoryRoot, ".cache", "kubeconfig")
  mkdirSync(join(repositoryRoot, ".cache"), { recursive: true })
  copyFileSync(plane.kubeconfigPath, kubeconfigPath)

  const fiber = Effect.runFork(runControllerUntilInterrupted(plane.kubeconfigPath))
  fiber.addObserver((exit) => {
    if (exit._tag === "Failure" && !stopping) {
      console.error("The controller stopped:", exit.cause)
      void stop(1)
    }
  })
  const { execFileSync } = await import("node:child_process")
  const kubectl = (...args: Array<string>) => execFileSync("kubectl", ["--kubeconfig", kubeconfigPath, ...args], { encoding: "utf8" })
  kubectl("create", "namespace", "demo")
  kubectl("apply", "-f", samplePath)

  console.log(`
The controller is running against a local control plane.
  kubeconfig: ${kubeconfigPath}

Try:
  kubectl --kubeconfig ${kubeconfigPath} get ipss
  kubectl --kubeconfig ${kubeconfigPath} get secrets -n demo
  kubectl --kubeconfig ${kubeconfigPath} get serviceaccount default -n demo -o yaml
  kubectl --kubeconfig ${kubeconfigPath} create namespace later   # gets its Secret within a second
  kubectl --kubeconfig ${kubeconfigPath} describe ipss imagepullsecret-sample

Ctrl-C stops everything.`)
}

await main()
