// The default and dedicated private domains of a TCR instance.
import { assert, describe, it } from "@effect/vitest"
import { defaultDomainOf, privateDomainOf } from "@tcr-assistant/tcr"

describe("instance domains", () => {
  it("derive from the PublicDomain the API reports", () => {
    const instance = { name: "demo", publicDomain: "Demo.tencentcloudcr.com" }
    assert.strictEqual(defaultDomainOf(instance), "demo.tencentcloudcr.com")
    assert.strictEqual(privateDomainOf(instance), "demo-vpc.tencentcloudcr.com")
  })

  it("fall back to the instance name", () => {
    assert.strictEqual(defaultDomainOf({ name: "Demo" }), "demo.tencentcloudcr.com")
    assert.strictEqual(privateDomainOf({ name: "demo", publicDomain: "" }), "demo-vpc.tencentcloudcr.com")
  })
})
