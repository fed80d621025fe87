// Property test of the mutation cache against a model apiserver: random histories of our writes, deletes and reads,
// other writers, a watch that delivers late (and, in the second property, a watch that loses events, then relists,
// and responses that arrive after the watch has moved on). The cache may never answer with anything older than the
// store, must answer with our own write until the store shows it, and once the store has caught up it must read
// exactly as the apiserver holds every object; what a relist silently lost is handed back. (It found that a deletion
// recorded against the version known when the answer arrived hid an object created again meanwhile, for good.)
import { fc, test } from "@fast-check/vitest"
import { type KubeObject, makeMutationCache, resourceRevision } from "@tcr-assistant/kube"
import { describe, expect } from "vitest"

const keys = ["a", "b", "c"] as const
type Key = (typeof keys)[number]

type Action =
  | { readonly kind: "ourWrite"; readonly key: Key; readonly late: boolean }
  | { readonly kind: "ourDelete"; readonly key: Key; readonly late: boolean }
  | { readonly kind: "ourRead"; readonly key: Key; readonly late: boolean }
  | { readonly kind: "otherWrite"; readonly key: Key }
  | { readonly kind: "otherDelete"; readonly key: Key }
  | { readonly kind: "deliver"; readonly events: number }
  | { readonly kind: "respond" }
  | { readonly kind: "relist" }

const key = fc.constantFrom(...keys)
const ours = (kind: "ourWrite" | "ourDelete" | "ourRead", late: fc.Arbitrary<boolean>) =>
  fc.record({ kind: fc.constant(kind), key, late })

const actions = (withLosses: boolean): fc.Arbitrary<ReadonlyArray<Action>> => {
  const late = withLosses ? fc.boolean() : fc.constant(false)
  return fc.array(
    fc.oneof(
      ours("ourWrite", late),
      ours("ourDelete", late),
      ours("ourRead", late),
      fc.record({ kind: fc.constant("otherWrite" as const), key }),
      fc.record({ kind: fc.constant("otherDelete" as const), key }),
      fc.record({ kind: fc.constant("deliver" as const), events: fc.integer({ min: 1, max: 4 }) }),
      ...(withLosses ? [fc.constant({ kind: "respond" as const }), fc.constant({ kind: "relist" as const })] : [])
    ),
    { maxLength: 40 }
  )
}

type WatchEvent = { readonly type: "Upsert"; readonly object: KubeObject } | { readonly type: "Delete"; readonly key: Key }

/** The apiserver, its watch, and an informer's store fed by that watch; the system under test reads the store. */
const makeWorld = () => {
  let revision = 0
  const server = new Map<Key, KubeObject>()
  /** When each key was last deleted on the server. */
  const deletedAt = new Map<Key, number>()
  const watch: Array<WatchEvent> = []
  const store = new Map<string, KubeObject>()
  const cache = makeMutationCache<KubeObject>(store)
  /** Responses to our requests not yet handed to the cache. */
  const responses: Array<() => void> = []

  const write = (name: Key, writer: string) => {
    const object: KubeObject = { metadata: { name, resourceVersion: String(++revision) }, writer }
    server.set(name, object)
    watch.push({ type: "Upsert", object })
    return object
  }
  const remove = (name: Key) => {
    if (!server.delete(name)) return false
    deletedAt.set(name, ++revision)
    watch.push({ type: "Delete", key: name })
    return true
  }
  const deliver = (events: number) => {
    for (const event of watch.splice(0, events)) {
      if (event.type === "Upsert") {
        store.set(event.object.metadata.name, event.object)
      } else {
        store.delete(event.key)
        cache.storeDeleted(event.key)
      }
    }
  }
  return { server, deletedAt, watch, store, cache, responses, write, remove, deliver, revision: () => revision }
}

type World = ReturnType<typeof makeWorld>

/** Never older than the store: an answer is the store's object, a newer one, or absent after a newer deletion. */
const neverOlderThanTheStore = (world: World) => {
  for (const name of keys) {
    const stored = world.store.get(name)
    const answer = world.cache.get(name)
    if (stored === undefined) continue
    if (answer === undefined) {
      expect(world.deletedAt.get(name) ?? -1, `${name} reads as absent though the store holds a newer version`)
        .toBeGreaterThan(Number(resourceRevision(stored)))
    } else {
      expect(resourceRevision(answer) >= resourceRevision(stored), `${name} reads older than the store`).toBe(true)
    }
  }
}

const readsAsTheServerHolds = (world: World) => {
  for (const name of keys) {
    expect(world.cache.get(name)?.metadata.resourceVersion, name).toBe(world.server.get(name)?.metadata.resourceVersion)
  }
}

/** Run one action; a response of ours is handed to the cache at once, or later when `late`. */
const perform = (world: World, action: Action) => {
  const respond = (late: boolean, record: () => void) => {
    if (late) world.responses.push(record)
    else record()
  }
  switch (action.kind) {
    case "ourWrite": {
      const written = world.write(action.key, "us")
      respond(action.late, () => world.cache.recordObject(action.key, written))
      if (!action.late) {
        const stored = world.store.get(action.key)
        // Read your writes, unless the store already shows something at least as new.
        if (stored === undefined || resourceRevision(stored) < resourceRevision(written)) {
          expect(world.cache.get(action.key)).toBe(written)
        }
      }
      return
    }
    case "ourDelete":
    case "ourRead": {
      const known = world.cache.knownRevision(action.key)
      if (action.kind === "ourDelete") world.remove(action.key)
      const found = world.server.get(action.key)
      respond(action.late, () =>
        found === undefined ? world.cache.recordAbsent(action.key, known) : world.cache.recordObject(action.key, found))
      return
    }
    case "otherWrite":
      world.write(action.key, "someone else")
      return
    case "otherDelete":
      world.remove(action.key)
      return
    case "deliver":
      world.deliver(action.events)
      return
    case "respond":
      world.responses.shift()?.()
      return
    case "relist":
      relist(world)
      return
  }
}

/** The watch lost its events: the store is listed again and the cache retires what the list shows or lost. */
const relist = (world: World) => {
  const before = new Map(keys.map((name) => [name, world.cache.get(name)]))
  const storedBefore = new Map(world.store)
  world.watch.length = 0
  world.store.clear()
  for (const [name, object] of world.server) world.store.set(name, object)
  const lost = world.cache.retireAfterRelist().map((object) => object.metadata.name).sort()
  // What read as present only through a mutation of ours, and is gone from the server, is handed back: the store
  // never held it, so no Delete event will come for it. (What the store held and lost, its relist reports itself.)
  const vanished = keys.filter((name) =>
    before.get(name) !== undefined && before.get(name) !== storedBefore.get(name) && !world.server.has(name)
  )
  expect(lost).toEqual(vanished)
}

/** The histories are cheap: many runs by default; MODEL_RUNS=<n> runs more. */
const runs = { numRuns: Number(process.env.MODEL_RUNS ?? 1000) }

describe("the mutation cache against a model apiserver", () => {
  test.prop([actions(false)], runs)("with a watch that delivers every event in order, late", (history) => {
    const world = makeWorld()
    for (const action of history) {
      perform(world, action)
      neverOlderThanTheStore(world)
    }
    world.deliver(world.watch.length)
    readsAsTheServerHolds(world)
    expect(world.cache.size(), "mutations the store has caught up with are dropped").toBeLessThanOrEqual(
      keys.filter((name) => world.server.get(name) === undefined).length
    )
  })

  test.prop([actions(true)], runs)("with lost events, relists and responses arriving after the watch moved on", (history) => {
    const world = makeWorld()
    for (const action of history) {
      perform(world, action)
      neverOlderThanTheStore(world)
    }
    for (const record of world.responses.splice(0)) record()
    relist(world)
    readsAsTheServerHolds(world)
  })
})
