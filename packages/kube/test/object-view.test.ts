// A view decodes what an informer keeps of an object, and a failure names the fields that are wrong, never a value.
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { metadataOf, objectView } from "../src/object-view.ts"

const view = objectView(
  "ServiceAccount",
  Schema.Struct({
    metadata: metadataOf(["namespace", "labels", "ownerReferences"]),
    imagePullSecrets: Schema.optionalKey(Schema.Array(Schema.Struct({ name: Schema.optionalKey(Schema.String) })))
  })
)

describe("objectView", () => {
  it("decodes a projection to the typed view, keeping the owner references whole (they are written back)", () => {
    const reference = { apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: "u1", controller: true, blockOwnerDeletion: false }
    const decoded = view.decode({ metadata: { name: "default", namespace: "a", ownerReferences: [reference] }, imagePullSecrets: [] })
    assert.isTrue(Result.isSuccess(decoded))
    if (Result.isSuccess(decoded)) assert.deepStrictEqual(decoded.success.metadata.ownerReferences, [reference])
  })

  it("says which fields are wrong and how, never quoting a value", () => {
    const value = "hunter2-value-never-shown"
    const decoded = view.decode({
      metadata: { namespace: "a", labels: { password: { nested: value } } },
      imagePullSecrets: [{ name: 42 }]
    })
    assert.isTrue(Result.isFailure(decoded))
    if (!Result.isFailure(decoded)) return
    assert.strictEqual(
      decoded.failure,
      "metadata.name: is missing; metadata.labels.password: has the wrong type; imagePullSecrets.0.name: has the wrong type"
    )
    assert.notInclude(decoded.failure, value)
    assert.notInclude(decoded.failure, "42")
  })
})
