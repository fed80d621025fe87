// The chart with its hooks on the kit's real node, the controller and hosts-updater running as pods from the image
// the Dockerfile builds: `helm install` of an older chart (its CRD lacks a printer column, and it has no CRD hook)
// with ImagePullSecrets from values in the seeds' form (a password, and a secretRef) and the product's form (a
// secretRef), distributed to Secrets and ServiceAccount entries next to a user's own entry; `helm upgrade` to this
// chart changing a CR's namespaces brings the CRD up to date (pre-upgrade hook); `helm uninstall --wait` deletes the
// release's ImagePullSecrets first (pre-delete hook, while the controller runs), so every Secret and entry of ours
// goes with them, the user's stay, no finalizer is left and every hook object is gone. Durations are printed.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, it } from "vitest"
import { parseAllDocuments, stringify } from "yaml"
import { importAddonImage } from "@tcr-assistant/testkit/addon-on-node"
import { type ControlPlane, defaultControllers, startControlPlane, workloadControllers } from "@tcr-assistant/testkit/control-plane"
import { eventually } from "@tcr-assistant/testkit/eventually"
import { runHelm } from "@tcr-assistant/testkit/helm"
import { type RealNode, startNode } from "@tcr-assistant/testkit/node"
import { kubectl, kubectlOn, secondsSince } from "@tcr-assistant/testkit/processes"

const chart = join(import.meta.dirname, "..", "..", "..", "charts", "tcr-assistant")
const crdFile = "crds/imagepullsecrets.tcr.tencentcloudcr.com.yaml"
const crdName = "imagepullsecrets.tcr.tencentcloudcr.com"
const domain = "demo.tencentcloudcr.com"
const password = "seed-password-on-node-3f9c"
const referencedPassword = "referenced-password-on-node-7a21"
/** The printer column the older chart's CRD lacks. */
const newColumn = "PODS-MISSING-SECRET"

let plane: ControlPlane
let node: RealNode
let scratch: string
let oldChart: string
const figures: Record<string, number | string> = {}

const { run, json } = kubectlOn(() => plane.kubeconfigPath)
const absent = async (args: ReadonlyArray<string>) => {
  const result = await kubectl(plane.kubeconfigPath, ["get", ...args])
  return result.status !== 0 && /NotFound|not found/.test(result.stderr)
}

/** helm on the release (in `default`); nothing it prints ever holds a password. */
const helm = async (...args: ReadonlyArray<string>) => {
  const started = Date.now()
  const result = await runHelm([...args, "--namespace", "default"], { kubeconfig: plane.kubeconfigPath })
  assert.strictEqual(result.status, 0, `helm ${args.join(" ")}\n${result.stdout}\n${result.stderr}`)
  assert.notInclude(result.stdout + result.stderr, password)
  assert.notInclude(result.stdout + result.stderr, referencedPassword)
  return secondsSince(started)
}

const valuesFile = (name: string, seedNamespaces: string) => {
  const path = join(scratch, name)
  writeFileSync(path, stringify({
    global: {
      imagePullSecretsCrs: [
        { name: "seed", namespaces: seedNamespaces, serviceAccounts: "*", type: "docker", dockerServer: domain,
          dockerUsername: "100012345678", dockerPassword: password },
        { name: "seed-ref", namespaces: "team-b", type: "docker", dockerServer: domain,
          secretRef: { name: "registry-pull", namespace: "creds" } }
      ]
    },
    imagePullSecretCrs: [
      { name: "product-ref", spec: { namespaces: "team-a", serviceAccounts: "deployer",
        secretRef: { name: "registry-pull", namespace: "creds", server: domain } } }
    ]
  }))
  return path
}

interface ServiceAccount { readonly imagePullSecrets?: ReadonlyArray<{ readonly name: string }> }
const entries = async (namespace: string, name: string) =>
  ((await json<ServiceAccount>(["get", "serviceaccount", "-n", namespace, name])).imagePullSecrets ?? []).map((entry) => entry.name)

/** Every Secret of ours in the cluster, as namespace/name. */
const ourSecrets = async () =>
  (await json<{ items: ReadonlyArray<{ metadata: { namespace: string; name: string } }> }>(["get", "secrets", "-A"])).items
    .filter((secret) => secret.metadata.name.startsWith("tcr.ips"))
    .map((secret) => `${secret.metadata.namespace}/${secret.metadata.name}`).sort()

const dockerUser = async (namespace: string, name: string) => {
  const secret = await json<{ data: Record<string, string> }>(["get", "secret", "-n", namespace, name])
  const config = JSON.parse(Buffer.from(secret.data[".dockerconfigjson"]!, "base64").toString("utf8")) as {
    auths: Record<string, { username: string; password: string }> }
  const { username, password } = config.auths[domain]!
  return { username, password }
}

const printerColumns = async () =>
  (await json<{ spec: { versions: ReadonlyArray<{ additionalPrinterColumns: ReadonlyArray<{ name: string }> }> } }>(
    ["get", "crd", crdName])).spec.versions[0]!.additionalPrinterColumns.map((column) => column.name)

/** The hook objects (ServiceAccount, ClusterRole and binding, both Jobs and their pods) are all gone. */
const assertNoHookObjects = async (phase: string) => {
  for (const object of ["serviceaccount/tcr-assistant-helm-hook", "job/tcr-assistant-upgrade-crd",
    "job/tcr-assistant-delete-image-pull-secrets"]) {
    assert.isTrue(await absent(["-n", "default", object]), `${phase}: ${object} is left`)
  }
  for (const object of ["clusterrole/tcr-assistant-helm-hook", "clusterrolebinding/tcr-assistant-helm-hook"]) {
    assert.isTrue(await absent([object]), `${phase}: ${object} is left`)
  }
  // The Jobs' pods go with the Jobs (background deletion, the garbage collector).
  await eventually(async () => {
    const pods = await run(["get", "pods", "-n", "default", "-l", "app.kubernetes.io/component=helm-hook", "-o", "name"])
    if (pods.trim() !== "") throw new Error(`${phase}: hook pods remain: ${pods}`)
  })
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "chart-on-node-"))
  let started = Date.now()
  // The hooks are Jobs: the kit's workload controllers plus the Job controller.
  plane = await startControlPlane({ workloads: true, controllers: [...defaultControllers, ...workloadControllers, "job-controller"] })
  node = await startNode(plane)
  figures["control plane and node ready (s)"] = secondsSince(started)
  started = Date.now()
  const image = await importAddonImage(node)
  figures["image build or reuse, and import (s)"] = `${secondsSince(started)} (built: ${image.built.image})`

  // An older chart: the same, except that its CRD lacks a printer column and it has no CRD hook (charts before it
  // left the CRD as crds/ made it).
  oldChart = join(scratch, "old-chart")
  cpSync(chart, oldChart, { recursive: true })
  rmSync(join(oldChart, "templates", "helm-hook-upgrade-crd.yaml"))
  const [header, ...body] = readFileSync(join(chart, crdFile), "utf8").split("\n")
  const crd = parseAllDocuments(body.join("\n"))[0]!.toJS()
  crd.spec.versions[0].additionalPrinterColumns = crd.spec.versions[0].additionalPrinterColumns
    .filter((column: { name: string }) => column.name !== newColumn)
  writeFileSync(join(oldChart, crdFile), `${header}\n${stringify(crd)}`)

  for (const namespace of ["team-a", "team-b", "creds"]) await run(["create", "namespace", namespace])
  // The user's own pull Secret and the entry naming it, which nothing of ours may touch.
  await run(["create", "secret", "docker-registry", "user-pull", "-n", "team-a", "--docker-server=registry.example",
    "--docker-username=me", "--docker-password=mine"])
  await run(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount",
    metadata: { name: "deployer", namespace: "team-a" }, imagePullSecrets: [{ name: "user-pull" }] }))
  // The Secret the secretRef entries point at, kept by someone else (a vault operator, say).
  await run(["create", "secret", "docker-registry", "registry-pull", "-n", "creds", `--docker-server=${domain}`,
    "--docker-username=100099999999", `--docker-password=${referencedPassword}`])
  await eventually(async () => {
    for (const namespace of ["team-a", "team-b"]) await run(["get", "serviceaccount", "-n", namespace, "default"])
  })
})

afterAll(async () => {
  console.log(`chart on the real node:\n${Object.entries(figures).map(([what, value]) => `  ${what}: ${value}`).join("\n")}`)
  await node?.stop()
  await plane?.stop()
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
})

it("installs, upgrades (CRD included) and uninstalls the chart with the add-on as pods, leaving nothing of ours", async () => {
  figures["helm install --wait (s)"] = await helm("install", "tcr-assistant", oldChart, "--values", valuesFile("v1.yaml", "team-a"),
    "--wait", "--timeout", "3m")
  const pods = await run(["get", "pods", "-n", "tcr-assistant-system", "-o",
    "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}"])
  assert.match(pods, /controller-manager.* Running/)
  assert.match(pods, /hosts-updater.* Running/)
  assert.notInclude(await printerColumns(), newColumn)

  let started = Date.now()
  await eventually(async () => {
    assert.deepEqual(await ourSecrets(), ["team-a/tcr.ipsproduct-ref", "team-a/tcr.ipsseed", "team-b/tcr.ipsseed-ref"])
    // The user's entry stays first; ours are appended.
    const deployer = await entries("team-a", "deployer")
    assert.strictEqual(deployer[0], "user-pull")
    assert.sameMembers(deployer, ["user-pull", "tcr.ipsproduct-ref", "tcr.ipsseed"])
    assert.deepEqual(await entries("team-a", "default"), ["tcr.ipsseed"])
    assert.deepEqual(await entries("team-b", "default"), ["tcr.ipsseed-ref"])
  }, 180_000)
  figures["install to every Secret and entry in place (s)"] = secondsSince(started)
  assert.deepEqual(await dockerUser("team-a", "tcr.ipsseed"), { username: "100012345678", password })
  assert.deepEqual(await dockerUser("team-b", "tcr.ipsseed-ref"), { username: "100099999999", password: referencedPassword })
  assert.deepEqual(await dockerUser("team-a", "tcr.ipsproduct-ref"), { username: "100099999999", password: referencedPassword })
  await assertNoHookObjects("after install")

  figures["helm upgrade --wait, CRD hook included (s)"] = await helm("upgrade", "tcr-assistant", chart, "--values",
    valuesFile("v2.yaml", "team-a,team-b"), "--wait", "--timeout", "3m")
  assert.include(await printerColumns(), newColumn)
  assert.strictEqual((await json<{ spec: { namespaces: string } }>(["get", "imagepullsecret", "seed"])).spec.namespaces, "team-a,team-b")
  started = Date.now()
  await eventually(async () => {
    assert.deepEqual(await ourSecrets(), ["team-a/tcr.ipsproduct-ref", "team-a/tcr.ipsseed", "team-b/tcr.ipsseed",
      "team-b/tcr.ipsseed-ref"])
    assert.sameMembers(await entries("team-b", "default"), ["tcr.ipsseed-ref", "tcr.ipsseed"])
  }, 180_000)
  figures["upgrade to team-b's new Secret and entry (s)"] = secondsSince(started)
  await assertNoHookObjects("after upgrade")

  figures["helm uninstall --wait, pre-delete hook included (s)"] = await helm("uninstall", "tcr-assistant", "--wait", "--timeout", "3m")
  // Right after helm returns: the hook waited for the finalizers, so nothing of ours is left and nothing hangs.
  assert.deepEqual(await json<{ items: ReadonlyArray<unknown> }>(["get", "imagepullsecrets"]).then((list) => list.items), [])
  assert.deepEqual(await ourSecrets(), [])
  assert.deepEqual(await entries("team-a", "deployer"), ["user-pull"])
  assert.deepEqual(await entries("team-a", "default"), [])
  assert.deepEqual(await entries("team-b", "default"), [])
  await run(["get", "secret", "-n", "team-a", "user-pull"])
  await run(["get", "secret", "-n", "creds", "registry-pull"])
  assert.isTrue(await absent(["namespace", "tcr-assistant-system"]), "the add-on's namespace is left")
  await assertNoHookObjects("after uninstall")
  assert.strictEqual((await runHelm(["list", "--all", "--namespace", "default", "-q"], { kubeconfig: plane.kubeconfigPath })).stdout.trim(), "")
  // The CRD stays, as Helm keeps crds/ (deleting it would delete every ImagePullSecret of the cluster).
  await run(["get", "crd", crdName])
})
