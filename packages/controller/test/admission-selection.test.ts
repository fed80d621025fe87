// Every replica's ImagePullSecret view for the Pod mutation: the informer's cache decoded as the controller decodes
// it, once per resourceVersion, and forgetting what the cache dropped.
import { describe, expect, it } from "vitest"
import { decodedDistributions } from "../src/admission-selection.ts"

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
    expect(second[0]!.namespaces).toEqual({ _tag: "Names", names: new Set(["web"]) })
  })
})
