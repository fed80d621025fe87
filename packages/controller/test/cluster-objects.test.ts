// The controller's views at the informer boundary: an ImagePullSecret with an invalid spec still decodes (the
// controller must report it), a status it cannot read counts as none (it is rewritten), and a Namespace with a label
// that is not a string does not decode.
import { Result } from "effect"
import { describe, expect, test } from "vitest"
import { imagePullSecretView, namespaceView } from "../src/cluster-objects.ts"

describe("the ImagePullSecret view", () => {
  test("keeps an invalid spec for validation to report", () => {
    const decoded = imagePullSecretView.decode({ metadata: { name: "a", generation: 2 }, spec: { namespaces: 42 } })
    expect(Result.getOrUndefined(decoded)).toEqual({ metadata: { name: "a", generation: 2 }, spec: { namespaces: 42 } })
  })

  test("reads a status it cannot decode as none, and keeps one it can", () => {
    const status = {
      observedGeneration: 1,
      secretsDesired: 1,
      secretsSuccess: 1,
      serviceAccountsDesired: 0,
      serviceAccountsSuccess: 0,
      targetsOmitted: 0,
      SAsDesired: 0,
      SAsSuccess: 0
    }
    expect(Result.getOrUndefined(imagePullSecretView.decode({ metadata: { name: "a" }, status: { secretsDesired: "x" } })))
      .toEqual({ metadata: { name: "a" } })
    expect(Result.getOrUndefined(imagePullSecretView.decode({ metadata: { name: "a" }, status }))).toEqual({ metadata: { name: "a" }, status })
  })

  test("does not decode without a name", () => {
    expect(imagePullSecretView.decode({ metadata: {} })).toEqual(Result.fail("metadata.name: is missing"))
  })
})

describe("the Namespace view", () => {
  test("does not decode with a label that is not a string, and says where", () => {
    expect(namespaceView.decode({ metadata: { name: "ns", labels: { team: 1 } } })).toEqual(Result.fail("metadata.labels.team: has the wrong type"))
  })
})
