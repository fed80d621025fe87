// Every replica's ImagePullSecret view for the Pod mutation: the informer's cache decoded as the controller decodes
// it, once per resourceVersion, and forgetting what the cache dropped.
import { describe, expect, it } from "vitest"
import { decodedDistributions, podContextOf } from "../src/admission-selection.ts"

const object = (name: string, resourceVersion: string, namespaces = "*") => ({
  metadata: { name, uid: `uid-${name}`, resourceVersion },
  spec: { namespaces, docker: { server: "demo.tencentcloudcr.com", username: "u", password: "not-a-secret" } }
})

describe("decodedDistributions", () => {
  it("follows the cache and decodes an object again only when its resourceVersion changed", () => {
    const cache = new Map([["a", object("a", "1")], ["b", object("b", "1", "apps")]])
    const view = decodedDistributions({ values: () => cache.values() })
    const first = view()
    expect(first.map((distribution) => distribution.secretName)).toEqual(["tcr.ipsa", "tcr.ipsb"])
    expect(view()[0]).toBe(first[0])

    cache.set("a", object("a", "2", "web"))
    cache.delete("b")
    const second = view()
    expect(second).toHaveLength(1)
    expect(second[0]).not.toBe(first[0])
    expect(second[0]!.namespaces).toEqual({ _tag: "Names", names: new Set(["web"]), patterns: [] })
  })

  it("gives the Pod's namespace its labels when cached, its name alone otherwise, and marks opted-out ServiceAccounts", () => {
    const namespaces = new Map([["apps", { metadata: { name: "apps", labels: { team: "a" } } }]])
    const optedOut = new Map([["apps/quiet", { metadata: { name: "quiet", namespace: "apps" } }]])
    const context = podContextOf({ get: (key) => namespaces.get(key) }, { get: (key) => optedOut.get(key) })
    expect(context.namespace("apps")).toEqual({ name: "apps", labels: { team: "a" } })
    expect(context.namespace("new")).toEqual({ name: "new" })
    expect(context.serviceAccount("apps", "quiet")).toEqual({ name: "quiet", labels: { "tcr.tencentcloudcr.com/ignore": "true" } })
    expect(context.serviceAccount("apps", "default")).toEqual({ name: "default" })
  })
})
