// The chart on a private control plane through the kit-built helm, with the controller outside the cluster (a
// process, as in install.e2e, the webhooks pointed at it with `webhook.url`): `helm install` with the seeds' values
// creates the add-on and its ImagePullSecret, the controller distributes it, `helm upgrade` changing the CR's
// namespaces reaches the apiserver and the Secrets follow, and `helm uninstall` removes every object of the release,
// the CR's finalizer released by the running controller; every line the controller printed meanwhile is one JSON
// log object. This control plane has no node, so the hook Jobs could not run: `--no-hooks`, as a user without pods
// for them would. chart-on-node.e2e runs the same chart with its hooks, the controller in the cluster.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort, kubectl } from "@tcr-assistant/testkit"
import { runHelm } from "@tcr-assistant/testkit/helm"
import { describeLogFailures, logFileFailures } from "@tcr-assistant/testkit/log-lines"
import { afterAll, beforeAll, expect, test } from "vitest"
import { parseAllDocuments, stringify } from "yaml"
import {
  type CliWorld,
  controllerTestFlags,
  createNamespace,
  eventually,
  imagePullSecretNames,
  ipsPath,
  namespacesWithSecret,
  type RunningWebhook,
  startCliWorld,
  startWebhook
} from "./install-e2e-support.ts"

const chart = join(import.meta.dirname, "..", "..", "..", "charts", "tcr-assistant")
const password = "seed-password-never-printed"
let world: CliWorld
let webhook: RunningWebhook | undefined
let webhookPort: number

beforeAll(async () => {
  world = await startCliWorld()
  webhookPort = await freePort()
  for (const name of ["team-a", "team-b"]) await createNamespace(world.cluster, name)
})

afterAll(async () => {
  await webhook?.stop()
  await world?.stop()
})

/**
 * The seeds' add-on values, with the webhooks pointed at the test's own webhook server (no kubelet runs pods). It
 * starts once the chart has created the add-on's namespace and its certificate Secret, as the controller would.
 */
const seedValues = (namespaces: string) => {
  const path = join(world.dir, `values-${namespaces.replace(/,/g, "-")}.yaml`)
  writeFileSync(path, stringify({
    webhook: { url: `https://127.0.0.1:${webhookPort}` },
    global: {
      imagePullSecretsCrs: [{ name: "seed", namespaces, serviceAccounts: "*", type: "docker",
        dockerServer: "demo.tencentcloudcr.com", dockerUsername: "100012345678", dockerPassword: password }]
    }
  }))
  return path
}

/** Runs helm on the release; install, upgrade and uninstall never print the password (get manifest is asked to). */
const helm = async (...args: ReadonlyArray<string>) => {
  const noHooks = ["install", "upgrade", "uninstall"].includes(args[0]!) ? ["--no-hooks"] : []
  const result = await runHelm([...args, ...noHooks, "--namespace", "default"], { kubeconfig: world.kubeconfigPath })
  expect(result.status, result.stderr).toBe(0)
  if (args[0] !== "get") expect(result.stdout + result.stderr).not.toContain(password)
  return result
}

/** kubectl's name for an object's resource: Kind.group (the core group has none). */
const resourceOf = (object: { kind: string; apiVersion: string }) =>
  object.apiVersion.includes("/") ? `${object.kind}.${object.apiVersion.split("/")[0]}` : object.kind

const deploymentPath = "/apis/apps/v1/namespaces/tcr-assistant-system/deployments/tcr-assistant-controller-manager"

test("helm install, upgrade changing the CR's namespaces, and uninstall on the control plane", async () => {
  await helm("install", "tcr-assistant", chart, "--values", seedValues("team-a"))
  const cr = await world.cluster.get<{ spec: Record<string, unknown> }>(`${ipsPath}/seed`)
  expect(cr?.spec).toEqual({ namespaces: "team-a", serviceAccounts: "*",
    docker: { server: "demo.tencentcloudcr.com", username: "100012345678", password } })
  expect((await world.cluster.get(deploymentPath))?.spec.replicas).toBe(2)
  webhook = await startWebhook(world, webhookPort)

  world.spawn("controller", ["controller", "--kubeconfig", world.kubeconfigPath, ...controllerTestFlags])
  await eventually(async () => expect(await namespacesWithSecret(world.cluster, "tcr.ipsseed")).toEqual(["team-a"]))

  await helm("upgrade", "tcr-assistant", chart, "--values", seedValues("team-a,team-b"))
  expect((await world.cluster.get<{ spec: { namespaces: string } }>(`${ipsPath}/seed`))?.spec.namespaces).toBe("team-a,team-b")
  await eventually(async () => expect(await namespacesWithSecret(world.cluster, "tcr.ipsseed")).toEqual(["team-a", "team-b"]))

  const manifest = (await helm("get", "manifest", "tcr-assistant")).stdout
  await helm("uninstall", "tcr-assistant", "--wait")
  await eventually(async () => {
    expect(await imagePullSecretNames(world.cluster)).toEqual([])
    expect(await namespacesWithSecret(world.cluster, "tcr.ipsseed")).toEqual([])
    expect(await world.cluster.get(deploymentPath)).toBeUndefined()
  })
  // Every object the release held is gone (the namespaced ones with the add-on's namespace); the CRD stays, as crds/.
  const released = parseAllDocuments(manifest).map((document) => document.toJS()).filter((object) => object !== null)
  expect(released.length).toBeGreaterThan(15)
  const list = await runHelm(["list", "--all", "--namespace", "default", "-q"], { kubeconfig: world.kubeconfigPath })
  expect(list.stdout.trim()).toBe("")
  await eventually(async () => {
    for (const object of released) {
      const namespace = object.metadata.namespace === undefined ? [] : ["--namespace", object.metadata.namespace]
      const got = await kubectl(world.kubeconfigPath, ["get", `${resourceOf(object)}/${object.metadata.name}`, ...namespace])
      expect(got.stderr, `${object.kind}/${object.metadata.name}`).toMatch(/NotFound|not found/)
    }
  })
  expect(await world.cluster.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagepullsecrets.tcr.tencentcloudcr.com")).toBeDefined()
  // Everything the controller printed through install, upgrade and uninstall is one JSON log object a line.
  const controllerLog = join(world.dir, "controller.log")
  expect(readFileSync(controllerLog, "utf8")).toContain('"msg"')
  expect(readFileSync(controllerLog, "utf8")).not.toContain(password)
  const failures = logFileFailures([controllerLog])
  expect(failures, describeLogFailures(failures)).toEqual([])
})
