// A Namespace and a Deployment in one `kubectl apply`, twenty times: the Pods the ReplicaSet controller creates carry
// our Secret, although the namespace is seconds old and nothing has patched its ServiceAccount (no leader runs). A
// control plane of its own, whose kube-controller-manager also runs the Deployment and ReplicaSet controllers; no
// scheduler or kubelet, so the Pods stay Pending (that they then run is the real node's proof).
import { type ControlPlane, defaultControllers, startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { applyManifestFile, crdManifestPath, waitForCustomResourceDefinition } from "@tcr-assistant/testkit/apply-manifests"
import { freePort, kubectl } from "@tcr-assistant/testkit/processes"
import { KubeClient } from "@tcr-assistant/kube"
import { Effect, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, expect, test } from "vitest"
import { AdmissionWebhook } from "../src/main.ts"
import { connect, eventually, ipsPath, registerPodMutationByUrl, type TestCluster, uniqueName } from "./support.ts"

const label = "tcr-assistant.test/pod-mutation"
const runId = uniqueName("pma")
const mwcName = `tcr-assistant-e2e-${runId}`

let plane: ControlPlane
let cluster: TestCluster
let runtime: ManagedRuntime.ManagedRuntime<AdmissionWebhook, unknown> | undefined

beforeAll(async () => {
  plane = await startControlPlane({ controllers: [...defaultControllers, "deployment-controller", "replicaset-controller"] })
  await applyManifestFile(plane.kubeconfigPath, crdManifestPath)
  await waitForCustomResourceDefinition(plane.kubeconfigPath, "imagepullsecrets.tcr.tencentcloudcr.com")
  cluster = connect(plane.kubeconfigPath)
  await cluster.request({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "tcr-assistant-system" } } })
  const port = await freePort()
  await registerPodMutationByUrl(cluster, { name: mwcName, port, label, value: runId })
  runtime = ManagedRuntime.make(
    AdmissionWebhook.layer({
      namespace: "tcr-assistant-system",
      host: "127.0.0.1",
      port,
      extraHosts: ["127.0.0.1"],
      configurationName: null,
      mutatingConfigurationName: mwcName
    }).pipe(Layer.provide(KubeClient.layer({ kubeconfig: plane.kubeconfigPath })))
  )
  await runtime.runPromise(Effect.service(AdmissionWebhook))
  await eventually(async () => {
    const mwc = await cluster.get<any>(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${mwcName}`)
    expect(mwc.webhooks[0].clientConfig.caBundle).toBeTruthy()
  })
})

afterAll(async () => {
  await runtime?.dispose()
  await cluster?.dispose()
  await plane?.stop()
})

interface Pod {
  readonly spec: { readonly imagePullSecrets?: ReadonlyArray<{ readonly name: string }> }
}

test("a Namespace and a Deployment in one kubectl apply: the ReplicaSet's Pods carry our Secret, 20 times in a row", async () => {
  const rounds = 20
  const names = Array.from({ length: rounds }, (_, round) => `${runId}-${round}`)
  const ips = `${runId}-ips`
  const wanted = `tcr.ips${ips}`
  await cluster.request({
    method: "POST",
    path: ipsPath,
    body: {
      apiVersion: "tcr.tencentcloudcr.com/v1",
      kind: "ImagePullSecret",
      metadata: { name: ips },
      spec: { namespaces: names.join(","), docker: { server: "pma.tencentcloudcr.com", username: "u", password: "pma-pass" } }
    }
  })
  const webhook = (await runtime!.runPromise(Effect.service(AdmissionWebhook)))!
  // The webhook's own cache must hold the ImagePullSecret before the first round.
  await eventually(async () => expect(webhook.selection.distributions().map((distribution) => distribution.secretName)).toContain(wanted))

  const millis: Array<number> = []
  for (const name of names) {
    const started = performance.now()
    const list = {
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { [label]: runId } } },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web", namespace: name },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web" } },
              spec: { containers: [{ name: "web", image: "pma.tencentcloudcr.com/team/web:1" }], imagePullSecrets: [{ name: "user-a" }] }
            }
          }
        }
      ]
    }
    const applied = await kubectl(plane.kubeconfigPath, ["apply", "-f", "-"], JSON.stringify(list))
    expect(applied.status, applied.stderr).toBe(0)
    // The ReplicaSet controller creates the Pods once the namespace's default ServiceAccount exists.
    const pods = await eventually(async () => {
      const found = await cluster.get<{ items: Array<Pod> }>(`/api/v1/namespaces/${name}/pods`)
      expect(found?.items).toHaveLength(2)
      return found!.items
    })
    millis.push(performance.now() - started)
    for (const pod of pods) expect((pod.spec.imagePullSecrets ?? []).map((entry) => entry.name)).toEqual(["user-a", wanted])
  }
  // No controller ran: every entry came from admission.
  expect(await cluster.get(`/api/v1/namespaces/${names[0]}/secrets/${wanted}`)).toBeUndefined()
  const sorted = [...millis].sort((a, b) => a - b)
  console.log(
    `namespace + deployment applied -> 2 Pods created with our Secret, ${rounds} rounds: ` +
      `median ${sorted[Math.floor(rounds / 2)]!.toFixed(0)} ms, max ${sorted[rounds - 1]!.toFixed(0)} ms`
  )
})
