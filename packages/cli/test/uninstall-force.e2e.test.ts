// uninstall when the controller is gone: it says so and changes nothing it cannot finish, and `--force` removes the
// controller's Secrets and ServiceAccount entries itself, sparing a user's Secret that happens to have our name and
// the entry naming it.
import { afterAll, beforeAll, expect, test } from "vitest"
import {
  controllerTestFlags,
  type CliWorld,
  createNamespace,
  eventually,
  imagePullSecretNames,
  namespacesWithSecret,
  serviceAccountEntries,
  type RunningWebhook,
  startCliWorld,
  startWebhook,
  stopChild
} from "./install-e2e-support.ts"

let world: CliWorld
let webhook: RunningWebhook
const domain = "demo.tencentcloudcr.com"
const ourSecret = `tcr.ips${domain}`

beforeAll(async () => {
  world = await startCliWorld()
  for (const namespace of ["team-a", "lookalike"]) await createNamespace(world.cluster, namespace)
  // A user's own Secret that happens to have the name the controller would give ours, referenced by the user.
  await world.cluster.request({
    method: "POST",
    path: "/api/v1/namespaces/lookalike/secrets",
    body: { metadata: { name: ourSecret }, stringData: { note: "the user's" } }
  })
  await world.cluster.request({
    method: "POST",
    path: "/api/v1/namespaces/lookalike/serviceaccounts",
    body: { metadata: { name: "deployer" }, imagePullSecrets: [{ name: ourSecret }] }
  })
  await eventually(async () => expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual([]))
  webhook = await startWebhook(world)
})

afterAll(async () => {
  await webhook?.stop()
  await world?.stop()
})

test("without the controller uninstall stops with a clear message, and --force finishes the job carefully", async () => {
  const controller = world.spawn("controller", ["controller", "--kubeconfig", world.kubeconfigPath, ...controllerTestFlags])
  const install = await world.cli([
    "install",
    "--region",
    "ap-guangzhou",
    "--instance-id",
    world.instance.id,
    "--cluster-id",
    "cls-force01",
    "--domains",
    "default",
    "--kubeconfig",
    world.kubeconfigPath,
    "--webhook-url",
    webhook.url
  ])
  expect(install.code, install.stderr).toBe(0)
  await eventually(async () => {
    expect(await namespacesWithSecret(world.cluster, ourSecret)).toEqual(expect.arrayContaining(["default", "lookalike", "team-a"]))
    expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual([ourSecret])
    const ips = await world.cluster.get<any>(`/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets/${domain}`)
    expect(ips.metadata.finalizers).toContain("tcr.tencentcloudcr.com/cleanup")
  })
  // The controller-manager is gone, and with it the webhook it serves.
  await stopChild(controller)
  await webhook.stop()

  const stuck = await world.cli(["uninstall", "--kubeconfig", world.kubeconfigPath, "--timeout", "6"])
  expect(stuck.code).toBe(1)
  expect(stuck.stderr).toMatch(/error: the controller is not removing the distributed Secrets and ServiceAccount entries/)
  expect(stuck.stderr).toMatch(/next: .*uninstall --force/)
  expect(stuck.stderr).not.toMatch(/^\s+at /m)
  // What it could not finish is still there: the distributed objects, the add-on's objects and the token.
  expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual([ourSecret])
  expect(await world.cluster.get("/api/v1/namespaces/tcr-assistant-system")).toBeDefined()
  expect(world.double.tokens()).toHaveLength(1)

  const forced = await world.cli(["uninstall", "--force", "--revoke-token", "--kubeconfig", world.kubeconfigPath])
  expect(forced.code, forced.stderr).toBe(0)
  expect(forced.stderr).toMatch(/removed \d+ ServiceAccount entries and \d+ Secret\(s\) made by the controller/)

  expect(await imagePullSecretNames(world.cluster)).toEqual([])
  expect(await world.cluster.list("/api/v1/secrets", { labelSelector: "app.kubernetes.io/managed-by=tcr-assistant" })).toEqual([])
  expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual([])
  expect(await namespacesWithSecret(world.cluster, ourSecret)).toEqual(["lookalike"])
  expect(await serviceAccountEntries(world.cluster, "lookalike", "deployer")).toEqual([ourSecret])
  expect(await world.cluster.get("/api/v1/namespaces/tcr-assistant-system")).toBeUndefined()
  expect(world.double.tokens()).toEqual([])
})
