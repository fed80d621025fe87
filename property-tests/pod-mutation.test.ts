// The Pod mutation keeps every user entry once, in its order, and adds each of ours exactly once, however many
// times and in whatever order the webhook is reinvoked.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { applyPullSecretPatch, type LocalObjectReference, pullSecretPatch } from "@tcr-assistant/controller/pod-mutation"

const userName = fc.constantFrom("regcred", "other", "tcr.ipsfoo", "a", "b")
const ours = fc.uniqueArray(fc.constantFrom("tcr.ipsfoo", "tcr.ipsbar", "tcr.ipsbaz"), { maxLength: 3 })

describe("pullSecretPatch", () => {
  test.prop([fc.option(fc.uniqueArray(userName, { maxLength: 4 }), { nil: undefined }), fc.array(ours, { minLength: 1, maxLength: 4 })])(
    "user entries once and in order, ours exactly once",
    (user, invocations) => {
      const start: ReadonlyArray<LocalObjectReference> | undefined = user?.map((name) => ({ name }))
      const final = invocations.reduce<ReadonlyArray<LocalObjectReference> | undefined>(
        (list, wanted) => applyPullSecretPatch(list, pullSecretPatch(list, wanted)),
        start
      )
      const names = (final ?? []).map((entry) => entry.name)
      expect(names.slice(0, user?.length ?? 0)).toEqual(user ?? [])
      for (const name of new Set(invocations.flat())) expect(names.filter((n) => n === name)).toHaveLength(1)
      const last = invocations[invocations.length - 1]!
      expect(pullSecretPatch(applyPullSecretPatch(final, pullSecretPatch(final, last)), last)).toEqual([])
    }
  )
})
