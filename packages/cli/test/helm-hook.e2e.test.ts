// The chart's hook commands as processes on a private control plane, in the cases the real-node chart test does not
// reach: `helm-hook upgrade-crd` brings back what an older CRD lacked (and says when there was nothing to do, or no
// CRD at all), and `helm-hook delete-image-pull-secrets` with the controller already gone does not wait for it: it
// removes the controller's Secrets and ServiceAccount entries itself, keeps the user's, and leaves no finalizer.
import { join } from "node:path"
import { kubectl } from "@tcr-assistant/testkit"
import { afterAll, beforeAll, expect, test } from "vitest"
import {
  type CliWorld,
  controllerTestFlags,
  createNamespace,
  eventually,
  imagePullSecretNames,
  ipsPath,
  namespacesWithSecret,
  serviceAccountEntries,
  startCliWorld,
  stopChild
} from "./install-e2e-support.ts"

const crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagepullsecrets.tcr.tencentcloudcr.com"
const crdFile = join(import.meta.dirname, "..", "..", "..", "charts", "tcr-assistant", "crds")
const password = "hook-password-never-printed"
let world: CliWorld

beforeAll(async () => {
  world = await startCliWorld()
  await createNamespace(world.cluster, "team-a")
  await eventually(async () => expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual([]))
})

afterAll(async () => {
  await world?.stop()
})

interface Crd {
  metadata: { generation: number; resourceVersion: string }
  spec: { versions: Array<{ additionalPrinterColumns: Array<{ name: string }> }> }
}
const updateOnConflict = async (update: () => Promise<void>): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await update()
    } catch (error) {
      if ((error as { _tag?: string })._tag !== "KubeConflict" || attempt === 10) throw error
    }
  }
}
const columns = async () => (await world.cluster.get<Crd>(crdPath))!.spec.versions[0]!.additionalPrinterColumns.map((column) => column.name)

test("upgrade-crd: no CRD is an error saying what to do; an older CRD gets this version's spec; a current one is left", async () => {
  const missing = await world.cli(["helm-hook", "upgrade-crd", "--kubeconfig", world.kubeconfigPath])
  expect(missing.code).toBe(1)
  expect(missing.stderr).toMatch(/error: CustomResourceDefinition imagepullsecrets.tcr.tencentcloudcr.com does not exist/)
  expect(missing.stderr).toMatch(/kubectl apply --server-side -f charts\/tcr-assistant\/crds\//)

  const applied = await kubectl(world.kubeconfigPath, ["apply", "--server-side", "-f", crdFile])
  expect(applied.status, applied.stderr).toBe(0)
  const current = await columns()
  // An older CRD: one printer column fewer, written by another manager. The apiserver's own controllers still write
  // the CRD's status conditions right after the apply, so the read-modify-write is retried on a conflict.
  await updateOnConflict(async () => {
    const crd = (await world.cluster.get<Crd>(crdPath))!
    crd.spec.versions[0]!.additionalPrinterColumns = crd.spec.versions[0]!.additionalPrinterColumns.filter((column) => column.name !== "AGE")
    await world.cluster.request({ method: "PUT", path: crdPath, body: crd })
  })
  expect(await columns()).not.toContain("AGE")

  const upgraded = await world.cli(["helm-hook", "upgrade-crd", "--kubeconfig", world.kubeconfigPath])
  expect(upgraded.code, upgraded.stderr).toBe(0)
  expect(upgraded.stderr).toMatch(/updated CustomResourceDefinition imagepullsecrets.tcr.tencentcloudcr.com to this version's \(generation 2 -> 3\)/)
  expect(await columns()).toEqual(current)

  const again = await world.cli(["helm-hook", "upgrade-crd", "--kubeconfig", world.kubeconfigPath])
  expect(again.code, again.stderr).toBe(0)
  expect(again.stderr).toMatch(/is already this version's \(generation 3\)/)
})

test("delete-image-pull-secrets with the controller gone removes what it distributed at once, sparing the user's entries", async () => {
  await world.cluster.request({ method: "POST", path: "/api/v1/namespaces/team-a/serviceaccounts",
    body: { metadata: { name: "deployer" }, imagePullSecrets: [{ name: "user-pull" }] } })
  await world.cluster.request({ method: "POST", path: ipsPath, body: {
    apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", metadata: { name: "release-one" },
    spec: { namespaces: "team-a", docker: { server: "demo.tencentcloudcr.com", username: "100012345678", password } }
  } })
  const controller = world.spawn("controller", ["controller", "--kubeconfig", world.kubeconfigPath, ...controllerTestFlags])
  await eventually(async () => {
    expect(await namespacesWithSecret(world.cluster, "tcr.ipsrelease-one")).toEqual(["team-a"])
    expect(await serviceAccountEntries(world.cluster, "team-a", "deployer")).toEqual(["user-pull", "tcr.ipsrelease-one"])
    expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual(["tcr.ipsrelease-one"])
  })
  await stopChild(controller)

  // A name that is not there (a CR someone deleted already) is no error.
  const result = await world.cli(["helm-hook", "delete-image-pull-secrets", "--names", "release-one,gone-already",
    "--kubeconfig", world.kubeconfigPath])
  expect(result.code, result.stderr).toBe(0)
  expect(result.stderr).toMatch(/no controller runs in tcr-assistant-system/)
  expect(result.stderr + result.stdout).not.toContain(password)
  console.log(`delete-image-pull-secrets without a controller: ${result.millis} ms (process start included)`)
  expect(await imagePullSecretNames(world.cluster)).toEqual([])
  expect(await namespacesWithSecret(world.cluster, "tcr.ipsrelease-one")).toEqual([])
  expect(await serviceAccountEntries(world.cluster, "team-a", "deployer")).toEqual(["user-pull"])
  expect(await serviceAccountEntries(world.cluster, "team-a", "default")).toEqual([])

  const nothing = await world.cli(["helm-hook", "delete-image-pull-secrets", "--names", "release-one", "--kubeconfig", world.kubeconfigPath])
  expect(nothing.code, nothing.stderr).toBe(0)
  expect(nothing.stderr).toMatch(/nothing to delete/)
  const usage = await world.cli(["helm-hook", "delete-image-pull-secrets", "--names", " , ", "--kubeconfig", world.kubeconfigPath])
  expect(usage.code).toBe(2)
})
