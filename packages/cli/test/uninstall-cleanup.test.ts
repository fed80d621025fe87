// What uninstall --force removes without the controller: only the controller's Secrets and the entries naming them.
import { describe, expect, test } from "vitest"
import {
  finalizerName,
  finalizerRelease,
  isDistributedSecret,
  managedByLabel,
  managedByValue,
  ownerAnnotation,
  type SecretObject,
  serviceAccountCleanup
} from "../src/addon-cleanup.ts"

const names = new Set(["demo.tencentcloudcr.com"])
const ours: SecretObject = {
  metadata: {
    name: "tcr.ipsdemo.tencentcloudcr.com",
    namespace: "a",
    labels: { [managedByLabel]: managedByValue },
    annotations: { [ownerAnnotation]: "demo.tencentcloudcr.com" }
  }
}
const usersOfSameName: SecretObject = { metadata: { name: "tcr.ipsdemo.tencentcloudcr.com", namespace: "a" } }

describe("isDistributedSecret", () => {
  test("needs our label, an owner among the names, and the owner's Secret name", () => {
    expect(isDistributedSecret(ours, names)).toBe(true)
    expect(isDistributedSecret(usersOfSameName, names)).toBe(false)
    expect(isDistributedSecret(ours, new Set(["other"]))).toBe(false)
    expect(isDistributedSecret({ metadata: { ...ours.metadata, name: "renamed" } }, names)).toBe(false)
  })
})

describe("serviceAccountCleanup", () => {
  const serviceAccount = {
    metadata: { name: "default", namespace: "a", resourceVersion: "42" },
    imagePullSecrets: [{ name: "mine" }, { name: "tcr.ipsdemo.tencentcloudcr.com" }, { name: "tcr.ipsother" }]
  }

  test("removes the entry naming our Secret, guarded by resourceVersion and a test, and keeps the user's", () => {
    const cleanup = serviceAccountCleanup(serviceAccount, names, new Map([[ours.metadata.name, ours]]))
    expect(cleanup).toEqual({
      namespace: "a",
      name: "default",
      removed: ["tcr.ipsdemo.tencentcloudcr.com"],
      patch: [
        { op: "replace", path: "/metadata/resourceVersion", value: "42" },
        { op: "test", path: "/imagePullSecrets/1/name", value: "tcr.ipsdemo.tencentcloudcr.com" },
        { op: "remove", path: "/imagePullSecrets/1" }
      ]
    })
  })

  test("an entry whose Secret is already gone is ours to remove too", () => {
    expect(serviceAccountCleanup(serviceAccount, names, new Map())?.removed).toEqual(["tcr.ipsdemo.tencentcloudcr.com"])
  })

  test("an entry naming a user's Secret of the same name stays", () => {
    expect(serviceAccountCleanup(serviceAccount, names, new Map([[usersOfSameName.metadata.name, usersOfSameName]]))).toBeUndefined()
  })

  test("several entries are removed from the end so indices stay valid", () => {
    const twice = { ...serviceAccount, imagePullSecrets: [{ name: "tcr.ipsdemo.tencentcloudcr.com" }, { name: "x" }, { name: "tcr.ipsdemo.tencentcloudcr.com" }] }
    const cleanup = serviceAccountCleanup(twice, names, new Map())
    expect(cleanup?.patch.filter((operation) => operation.op === "remove").map((operation) => operation.path)).toEqual([
      "/imagePullSecrets/2",
      "/imagePullSecrets/0"
    ])
  })
})

test("finalizerRelease removes only the controller's finalizer", () => {
  expect(finalizerRelease(["other", finalizerName])).toEqual([
    { op: "test", path: "/metadata/finalizers/1", value: finalizerName },
    { op: "remove", path: "/metadata/finalizers/1" }
  ])
  expect(finalizerRelease(["other"])).toBeUndefined()
  expect(finalizerRelease(undefined)).toBeUndefined()
})
