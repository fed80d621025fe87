// `tcr-assistant status`: reads the add-on's ImagePullSecrets, workloads, updater-config and Nodes and prints what
// addon-status.ts makes of them; `-o json|yaml` prints the same report as data. Needs no cloud credentials.
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { checkReachable, getObject, listImagePullSecrets, listObjects } from "./addon-cluster.ts"
import { readCredentialSecret } from "./addon-credential.ts"
import { failure, reportFailure } from "./addon-failure.ts"
import { contextFlag, kubeconfigFlag, kubeLayer, operatorLogging, type OutputFormat, outputFlag, printData } from "./addon-flags.ts"
import { addonNamespace, renderedAddonObjects, updaterConfigName } from "./addon-manifests.ts"
import { describeStatus, type NodeObject, statusReport, type WorkloadObject } from "./addon-status.ts"

// The seeds' names, used when the rendered manifests do not (yet) include the workloads.
const defaultWorkloads: ReadonlyArray<{ readonly kind: "Deployment" | "DaemonSet"; readonly name: string }> = [
  { kind: "Deployment", name: "tcr-assistant-controller-manager" },
  { kind: "DaemonSet", name: "hosts-updater" }
]

/** The add-on's Deployments and DaemonSets: as rendered, or the seeds' two. */
export const addonWorkloads = (): ReadonlyArray<{ readonly kind: "Deployment" | "DaemonSet"; readonly name: string; readonly namespace: string }> => {
  const rendered = renderedAddonObjects()
    .filter((object) => object.kind === "Deployment" || object.kind === "DaemonSet")
    .map((object) => ({
      kind: object.kind as "Deployment" | "DaemonSet",
      name: object.metadata.name,
      namespace: object.metadata.namespace ?? addonNamespace
    }))
  return rendered.length > 0 ? rendered : defaultWorkloads.map((workload) => ({ ...workload, namespace: addonNamespace }))
}

/** Reads everything the report needs. */
export const readStatus = Effect.fn("status.read")(function*() {
  yield* checkReachable()
  const imagePullSecrets = yield* listImagePullSecrets()
  const workloads: Array<WorkloadObject> = []
  for (const workload of addonWorkloads()) {
    const plural = workload.kind === "Deployment" ? "deployments" : "daemonsets"
    const object = yield* getObject<WorkloadObject["object"]>(
      `/apis/apps/v1/namespaces/${workload.namespace}/${plural}/${workload.name}`,
      `get ${workload.kind} ${workload.namespace}/${workload.name}`
    )
    workloads.push({ kind: workload.kind, name: workload.name, object })
  }
  const configMap = yield* getObject<{ readonly data?: Record<string, string> }>(
    `/api/v1/namespaces/${addonNamespace}/configmaps/${updaterConfigName}`,
    `get ConfigMap ${addonNamespace}/${updaterConfigName}`
  )
  const nodes = yield* listObjects<NodeObject>("/api/v1/nodes", "list Nodes")
  const credentialSecret = yield* readCredentialSecret
  return statusReport({
    credentialSecret,
    imagePullSecrets,
    workloads,
    updaterConfig: configMap === undefined ? undefined : configMap.data ?? {},
    nodes
  })
})

export const runStatus = Effect.fn("status")(function*(output: OutputFormat) {
  const report = yield* readStatus()
  if (output !== "text") yield* printData(output, report)
  else for (const line of describeStatus(report)) yield* Console.log(line)
  if (!report.installed) {
    return yield* failure("tcr-assistant is not installed in this cluster", "run tcr-assistant install")
  }
})

export const statusCommand = Command.make(
  "status",
  { output: outputFlag, kubeconfig: kubeconfigFlag, context: contextFlag },
  (flags) => runStatus(flags.output).pipe(Effect.provide([kubeLayer(flags), operatorLogging]), Effect.catch(reportFailure))
).pipe(
  Command.withDescription(
    "Show each ImagePullSecret's distribution (counts and failing targets) and which nodes have applied the current hosts config"
  )
)
