// The mutation cache answers with our own writes and reads until the store shows them, never with something older
// than the store, and hands back what a relisted store silently lost.
import { assert, describe, it } from "@effect/vitest"
import type { KubeObject } from "../src/informer.ts"
import { makeMutationCache, resourceRevision } from "../src/mutation-cache.ts"

const object = (name: string, resourceVersion: string, data = resourceVersion): KubeObject => ({
  metadata: { name, namespace: "ns", resourceVersion },
  data
})

const storeOf = (...objects: ReadonlyArray<KubeObject>) =>
  new Map(objects.map((item) => [`ns/${item.metadata.name}`, item]))

describe("resourceRevision", () => {
  it("orders numeric versions and puts anything else first", () => {
    assert.strictEqual(resourceRevision(object("a", "12")), 12n)
    assert.strictEqual(resourceRevision(object("a", "123456789012345678901234567890")), 123456789012345678901234567890n)
    assert.strictEqual(resourceRevision(object("a", "")), -1n)
    assert.strictEqual(resourceRevision(object("a", "abc")), -1n)
    assert.strictEqual(resourceRevision(undefined), -1n)
  })
})

describe("makeMutationCache", () => {
  it("reads through to the store when nothing was recorded", () => {
    const store = storeOf(object("a", "5"))
    const cache = makeMutationCache(store)
    assert.strictEqual(cache.get("ns/a"), store.get("ns/a"))
    assert.isUndefined(cache.get("ns/b"))
  })

  it("answers with our write until the store holds that version, then with the store", () => {
    const store = storeOf(object("a", "5"))
    const cache = makeMutationCache(store)
    const written = object("a", "7", "ours")
    cache.recordObject("ns/a", written)
    assert.strictEqual(cache.get("ns/a"), written)
    store.set("ns/a", object("a", "6"))
    assert.strictEqual(cache.get("ns/a"), written, "a store older than our write is not the answer")
    const caughtUp = object("a", "7", "from the watch")
    store.set("ns/a", caughtUp)
    assert.strictEqual(cache.get("ns/a"), caughtUp)
    assert.strictEqual(cache.size(), 0, "the mutation is dropped once the store has caught up")
  })

  it("answers with an object created by us before the store has it", () => {
    const store = storeOf()
    const cache = makeMutationCache(store)
    const created = object("a", "3")
    cache.recordObject("ns/a", created)
    assert.strictEqual(cache.get("ns/a"), created)
  })

  it("reads a deletion of ours as absent until the store shows a newer object", () => {
    const store = storeOf(object("a", "5"))
    const cache = makeMutationCache(store)
    cache.recordAbsent("ns/a", cache.knownRevision("ns/a"))
    assert.isUndefined(cache.get("ns/a"))
    const recreated = object("a", "9")
    store.set("ns/a", recreated)
    assert.strictEqual(cache.get("ns/a"), recreated)
  })

  it("does not hide an object the store saw created again while our delete was answered", () => {
    const store = storeOf(object("a", "5"))
    const cache = makeMutationCache(store)
    const known = cache.knownRevision("ns/a")
    const recreated = object("a", "6")
    store.set("ns/a", recreated)
    cache.recordAbsent("ns/a", known)
    assert.strictEqual(cache.get("ns/a"), recreated)
  })

  it("knows the newest version from the store or from our own write", () => {
    const store = storeOf(object("a", "5"))
    const cache = makeMutationCache(store)
    assert.strictEqual(cache.knownRevision("ns/a"), 5n)
    cache.recordObject("ns/a", object("a", "8"))
    assert.strictEqual(cache.knownRevision("ns/a"), 8n)
    cache.recordAbsent("ns/a", 8n)
    assert.strictEqual(cache.knownRevision("ns/a"), 8n, "a deletion of ours does not invent a version")
    assert.strictEqual(cache.knownRevision("ns/none"), -1n)
  })

  it("drops our write when the store delivers a deletion", () => {
    const store = storeOf(object("a", "5"))
    const cache = makeMutationCache(store)
    cache.recordObject("ns/a", object("a", "7"))
    store.delete("ns/a")
    cache.storeDeleted("ns/a")
    assert.isUndefined(cache.get("ns/a"))
    assert.strictEqual(cache.size(), 0)
  })

  it("after a relist, returns the objects of ours the store does not hold and forgets them", () => {
    const store = storeOf(object("kept", "1"), object("older", "1"))
    const cache = makeMutationCache(store)
    const lost = object("lost", "4")
    cache.recordObject("ns/lost", lost)
    cache.recordObject("ns/older", object("older", "8"))
    cache.recordObject("ns/kept", object("kept", "2"))
    cache.recordAbsent("ns/gone", cache.knownRevision("ns/gone"))
    store.set("ns/kept", object("kept", "3"))
    assert.deepStrictEqual(cache.retireAfterRelist(), [lost])
    assert.isUndefined(cache.get("ns/lost"))
    assert.strictEqual(cache.get("ns/kept"), store.get("ns/kept"))
    // A write newer than the relisted store may still be on its way: it keeps standing in.
    assert.strictEqual(cache.get("ns/older")?.metadata.resourceVersion, "8")
    assert.strictEqual(cache.size(), 1)
  })
})

describe("a mutation cache over a projecting store", () => {
  it("keeps our writes as the store keeps its objects, and compares them by version", () => {
    const project = (raw: KubeObject): KubeObject => ({ metadata: { name: raw.metadata.name, namespace: raw.metadata.namespace, resourceVersion: raw.metadata.resourceVersion }, size: String(raw.data).length })
    const stored = new Map([["ns/a", project(object("a", "5"))]])
    const cache = makeMutationCache({ get: (key) => stored.get(key), project })
    cache.recordObject("ns/a", object("a", "7", "a long answer the store would not keep"))
    assert.deepStrictEqual(cache.get("ns/a"), { metadata: { name: "a", namespace: "ns", resourceVersion: "7" }, size: 38 })
    assert.strictEqual(cache.knownRevision("ns/a"), 7n)
    stored.set("ns/a", project(object("a", "8")))
    assert.strictEqual(cache.get("ns/a"), stored.get("ns/a"))
    assert.strictEqual(cache.size(), 0)
  })
})
