// The permission declarations and the Role rules derived from them: scopes kept apart, declaration order kept, and
// a second declaration for the same resources merged into one rule with the union of the verbs.
import { describe, expect, test } from "vitest"
import { permission, rulesFor } from "../src/rbac.ts"

describe("rulesFor", () => {
  const declared = [
    permission("", "secrets", ["get", "list", "watch"], "distribution"),
    permission("", "pods", ["list", "watch"], "stuck-pod reporting"),
    permission("", "secrets", ["watch", "create"], "a credential source"),
    permission("", "secrets", ["update"], "the webhook certificate", { scope: "addon-namespace", resourceNames: ["cert"] }),
    permission("", "secrets", ["get"], "one named Secret, cluster-wide", { resourceNames: ["cert"] })
  ]

  test("merges declarations of the same resources in their first place, with the union of their verbs", () => {
    expect(rulesFor(declared, "cluster")).toEqual([
      { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["cert"], verbs: ["get"] }
    ])
  })

  test("keeps the add-on namespace's rules out of the cluster's, and the reverse", () => {
    expect(rulesFor(declared, "addon-namespace")).toEqual([
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["cert"], verbs: ["update"] }
    ])
  })
})
