// Races on resourceVersion, explored by fast-check's scheduler: every write the controller sends waits at a gate in the
// in-memory apiserver, and the scheduler decides when each goes through, interleaved with a user editing the same
// ServiceAccount and the ImagePullSecret's selector. Whatever the order, the user's entries survive in the user's
// order and our entry ends up there exactly once, or not at all when the ServiceAccount is no longer selected.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { type Harness, imagePullSecretBody, imagePullSecretsPath as ipsPath, startHarness } from "./controller-harness.ts"

const saPath = "/api/v1/namespaces/ns/serviceaccounts/app"
const ours = "tcr.ipsalpha"

type UserAction =
  | { readonly kind: "add"; readonly name: string; readonly at: number }
  | { readonly kind: "remove"; readonly name: string }
  | { readonly kind: "reverse" }
  | { readonly kind: "dropOurs" }
  | { readonly kind: "select"; readonly serviceAccounts: string }
  | { readonly kind: "recreate" }

const userAction: fc.Arbitrary<UserAction> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), name: fc.constantFrom("user-3", "user-4"), at: fc.nat(4) }),
  fc.record({ kind: fc.constant("remove" as const), name: fc.constantFrom("user-1", "user-2", "user-3") }),
  fc.constant({ kind: "reverse" as const }),
  fc.constant({ kind: "dropOurs" as const }),
  fc.record({ kind: fc.constant("select" as const), serviceAccounts: fc.constantFrom("app", "other", "*") }),
  fc.constant({ kind: "recreate" as const })
)

const entriesOf = (sa: any): Array<string> => (sa?.imagePullSecrets ?? []).map((entry: { name: string }) => entry.name)

interface Expected {
  userEntries: ReadonlyArray<string>
  serviceAccounts: string
}

/** One user action, as a careful user does it: read, change, write back guarded by the version read. */
const perform = (h: Harness, action: UserAction, expected: Expected) => {
  if (action.kind === "select") {
    const edited = h.cluster.call({
      method: "PATCH",
      path: `${ipsPath}/alpha`,
      contentType: "application/merge-patch+json",
      body: { spec: { serviceAccounts: action.serviceAccounts } }
    })
    expect(edited.status).toBe(200)
    expected.serviceAccounts = action.serviceAccounts
    return
  }
  if (action.kind === "recreate") {
    const before = h.cluster.get(saPath)
    expect(h.cluster.call({ method: "DELETE", path: saPath }).status).toBe(200)
    const userEntries = entriesOf(before).filter((name) => name !== ours)
    const created = h.cluster.call({
      method: "POST",
      path: "/api/v1/namespaces/ns/serviceaccounts",
      body: { metadata: { name: "app" }, imagePullSecrets: userEntries.map((name) => ({ name })) }
    })
    expect(created.status).toBe(201)
    expected.userEntries = userEntries
    return
  }
  const current = h.cluster.get(saPath)
  const entries = entriesOf(current)
  let next: Array<string>
  switch (action.kind) {
    case "add":
      if (entries.includes(action.name)) return
      next = [...entries]
      next.splice(Math.min(action.at, next.length), 0, action.name)
      break
    case "remove":
      next = entries.filter((name) => name !== action.name)
      break
    case "reverse":
      next = [...entries].reverse()
      break
    case "dropOurs":
      next = entries.filter((name) => name !== ours)
      break
  }
  const written = h.cluster.call({ method: "PUT", path: saPath, body: { ...current, imagePullSecrets: next.map((name) => ({ name })) } })
  expect(written.status).toBe(200)
  expected.userEntries = entriesOf(written.body).filter((name) => name !== ours)
}

describe("the controller racing a user on one ServiceAccount", () => {
  test.prop([fc.scheduler(), fc.array(userAction, { minLength: 1, maxLength: 8 })], { numRuns: Number(process.env.MODEL_RUNS ?? 60) })(
    "loses no user entry, never duplicates its own and never mistakes a lost race for a failure, in any interleaving",
    async (s, actions) => {
      const h = await startHarness({ serviceAccounts: "manual" })
      try {
        h.cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "ns" } } })
        h.cluster.call({
          method: "POST",
          path: "/api/v1/namespaces/ns/serviceaccounts",
          body: { metadata: { name: "app" }, imagePullSecrets: [{ name: "user-1" }, { name: "user-2" }] }
        })
        h.cluster.call({ method: "POST", path: ipsPath, body: imagePullSecretBody("alpha", { namespaces: "ns", serviceAccounts: "app" }) })
        // Distributed first: from here on, every selector edit or dropped entry makes the controller patch the
        // ServiceAccount the user is editing.
        await h.settle()
        const expected: Expected = { userEntries: ["user-1", "user-2"], serviceAccounts: "app" }
        h.cluster.setGate((request) =>
          request.client === "controller" && request.method !== "GET" ? s.schedule(Promise.resolve(), `${request.method} ${request.path}`) : Promise.resolve()
        )
        // The user's actions wait at the gate with the controller's writes. Between two releases the controller
        // runs for a macrotask, so its next writes queue up behind the gate: the scheduler then lets one pending
        // task through, a user's write or one of ours, in an order of its choosing.
        let userDone = false
        let userFailure: unknown = undefined
        void Promise.all(actions.map((action) => s.schedule(Promise.resolve(), `user ${JSON.stringify(action)}`).then(() => perform(h, action, expected))))
          .catch((error: unknown) => {
            userFailure = error
          })
          .finally(() => {
            userDone = true
          })
        while (!userDone) {
          await h.breathe(1)
          if (s.count() > 0) await s.waitOne()
        }
        if (userFailure !== undefined) throw userFailure
        h.cluster.setGate(undefined)
        await s.waitAll()
        await h.settle()

        const entries = entriesOf(h.cluster.get(saPath))
        expect(entries.filter((name) => name !== ours)).toEqual(expected.userEntries)
        const selected = expected.serviceAccounts === "*" || expected.serviceAccounts === "app"
        expect(entries.filter((name) => name === ours)).toHaveLength(selected ? 1 : 0)
        // No fault is injected here: a lost race must be read again, never reported as a failure.
        expect(h.controller.stats.errors()).toBe(0)
        expect(h.errors).toEqual([])
      } finally {
        h.cluster.setGate(undefined)
        await h.stop()
      }
    }
  )
})
