// Test support for end-to-end controller tests: a typed client on the local control plane, the controller run
// in-process, and polling for the cluster to reach a state (state is asserted, never the sequence of calls).
import { eventually } from "@tcr-assistant/testkit/eventually"
import { KubeClient, type KubeRequest } from "@tcr-assistant/kube"
import { EventRecorder } from "@tcr-assistant/kube/events"
import { Effect, Fiber, Layer, ManagedRuntime } from "effect"
import { mutatePath, podMutationMatchConditions } from "../src/pod-mutation.ts"
import { startController, type Controller, type ControllerOptions } from "../src/reconciler.ts"
import { validationMatchConditions } from "../src/webhook.ts"

export const ipsPath = "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets"

export interface TestCluster {
  readonly kubeconfigPath: string
  readonly request: <A = any>(request: KubeRequest) => Promise<A>
  /** The object, or undefined when it does not exist. */
  readonly get: <A = any>(path: string) => Promise<A | undefined>
  readonly dispose: () => Promise<void>
}

export const connect = (kubeconfigPath: string): TestCluster => {
  const runtime = ManagedRuntime.make(KubeClient.layer({ kubeconfig: kubeconfigPath }))
  const request = <A>(req: KubeRequest) => runtime.runPromise(KubeClient.use((client) => client.request<A>(req)))
  return {
    kubeconfigPath,
    request,
    get: <A>(path: string) =>
      runtime.runPromise(
        KubeClient.use((client) =>
          client.request<A>({ method: "GET", path }).pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
        )
      ),
    dispose: () => runtime.dispose()
  }
}

export interface RunningController {
  readonly controller: Controller
  readonly stop: () => Promise<void>
}

export const runController = async (kubeconfigPath: string, options: ControllerOptions = {}): Promise<RunningController> => {
  let resolveStarted: (controller: Controller) => void = () => {}
  const started = new Promise<Controller>((resolve) => (resolveStarted = resolve))
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      const controller = yield* startController({ statusIntervalMillis: 200, ...options })
      resolveStarted(controller)
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(EventRecorder.layer({ component: "tcr-assistant-controller" }).pipe(Layer.provideMerge(KubeClient.layer({ kubeconfig: kubeconfigPath }))))
    )
  )
  const controller = await started
  return { controller, stop: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined) }
}

export { eventually }

let counter = 0
/** A name unique within this test run, valid as a namespace. */
export const uniqueName = (prefix: string) => `${prefix}-${process.pid.toString(36)}-${(counter++).toString(36)}`

export const createNamespace = (cluster: TestCluster, name: string) =>
  cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name } } })

export const createServiceAccount = (cluster: TestCluster, namespace: string, name: string, imagePullSecrets?: ReadonlyArray<string>) =>
  cluster.request({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
    body: { metadata: { name }, ...(imagePullSecrets ? { imagePullSecrets: imagePullSecrets.map((n) => ({ name: n })) } : {}) }
  })

export const serviceAccountEntries = async (cluster: TestCluster, namespace: string, name: string) => {
  const sa = await cluster.get<{ imagePullSecrets?: Array<{ name: string }> }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}`)
  return sa === undefined ? undefined : (sa.imagePullSecrets ?? []).map((entry) => entry.name)
}

export interface DockerSpec {
  readonly server: string
  readonly username: string
  readonly password: string
}

export const imagePullSecret = (name: string, spec: { namespaces?: string; serviceAccounts?: string; docker: DockerSpec }) => ({
  apiVersion: "tcr.tencentcloudcr.com/v1",
  kind: "ImagePullSecret",
  metadata: { name },
  spec
})

export const decodeDockerConfig = (secret: { data?: Record<string, string> }) =>
  JSON.parse(Buffer.from(secret.data?.[".dockerconfigjson"] ?? "", "base64").toString("utf8"))

/**
 * A ValidatingWebhookConfiguration that sends ImagePullSecrets labelled `label=value` to a webhook served on
 * 127.0.0.1 (the local plane has no Services or pods); only those objects depend on it, so other test files never do.
 * The webhook's own TLS code writes the CA bundle.
 */
export const registerWebhookByUrl = (
  cluster: TestCluster,
  options: { readonly name: string; readonly port: number; readonly label: string; readonly value: string }
) =>
  cluster.request({
    method: "POST",
    path: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    body: {
      metadata: { name: options.name },
      webhooks: [{
        name: "vimagepullsecret.tcr.tencentcloudcr.com",
        clientConfig: { url: `https://127.0.0.1:${options.port}/validate` },
        rules: [{ apiGroups: ["tcr.tencentcloudcr.com"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["imagepullsecrets"], scope: "Cluster" }],
        objectSelector: { matchLabels: { [options.label]: options.value } },
        // The manifests' own conditions: metadata-only updates and deletions never call the webhook.
        matchConditions: validationMatchConditions,
        failurePolicy: "Fail",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: 5
      }]
    }
  })

/**
 * A MutatingWebhookConfiguration like the manifests' (Pod CREATE, fail-open, reinvoked if needed, the same
 * matchConditions) that sends Pods of namespaces labelled `label=value` to the webhook server on 127.0.0.1, so that
 * Pods of other test files never go through it.
 */
export const registerPodMutationByUrl = (
  cluster: TestCluster,
  options: { readonly name: string; readonly port: number; readonly label: string; readonly value: string }
) =>
  cluster.request({
    method: "POST",
    path: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    body: {
      metadata: { name: options.name },
      webhooks: [{
        name: "mpod.tcr.tencentcloudcr.com",
        clientConfig: { url: `https://127.0.0.1:${options.port}${mutatePath}` },
        rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }],
        namespaceSelector: { matchLabels: { [options.label]: options.value } },
        matchConditions: podMutationMatchConditions,
        failurePolicy: "Ignore",
        reinvocationPolicy: "IfNeeded",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: 2
      }]
    }
  })
