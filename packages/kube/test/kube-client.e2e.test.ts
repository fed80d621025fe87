// The client inside a pod: with no kubeconfig it authenticates with the mounted service account token, read again
// when it rotates, and never needs @kubernetes/client-node.
import { startControlPlane, type ControlPlane } from "@tcr-assistant/testkit/control-plane"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, expect, test } from "vitest"
import { KubeClient } from "../src/kube-client.ts"

let plane: ControlPlane
let dir: string
const saved = { ...process.env }

beforeAll(async () => {
  plane = await startControlPlane()
  dir = mkdtempSync(join(tmpdir(), "in-cluster-"))
})

afterAll(async () => {
  process.env = saved
  rmSync(dir, { recursive: true, force: true })
  await plane?.stop()
})

const asAdmin = <A>(effect: Effect.Effect<A, unknown, KubeClient>) =>
  Effect.runPromise(effect.pipe(Effect.provide(KubeClient.layer({ kubeconfig: plane.kubeconfigPath }))))

test("in a pod, the mounted service account token authenticates", async () => {
  const token = await asAdmin(
    KubeClient.use((client) =>
      client.request<{ status: { token: string } }>({
        method: "POST",
        path: "/api/v1/namespaces/default/serviceaccounts/default/token",
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
      })
    )
  )
  writeFileSync(join(dir, "token"), token.status.token)
  writeFileSync(join(dir, "ca.crt"), plane.caCertPem)
  const url = new URL(plane.server)
  delete process.env.KUBECONFIG
  process.env.KUBERNETES_SERVICE_HOST = url.hostname
  process.env.KUBERNETES_SERVICE_PORT = url.port
  process.env.HOME = dir

  const review = await Effect.runPromise(
    KubeClient.use((client) =>
      Effect.gen(function*() {
        expect(client.server).toBe(plane.server)
        return yield* client.request<{ status: { userInfo: { username: string } } }>({
          method: "POST",
          path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
          body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }
        })
      })
    ).pipe(Effect.provide(KubeClient.layer({ serviceAccountDir: dir })))
  )
  expect(review.status.userInfo.username).toBe("system:serviceaccount:default:default")

  // A wrong token is refused: the credentials really come from the file.
  writeFileSync(join(dir, "token"), "not-a-token")
  const refused = await Effect.runPromise(
    KubeClient.use((client) => client.request({ method: "GET", path: "/api/v1/namespaces" })).pipe(
      Effect.flip,
      Effect.provide(KubeClient.layer({ serviceAccountDir: dir }))
    )
  )
  expect(refused._tag).toBe("KubeRejected")
})
