import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { hostsConfigFromData, parseHostsConfig, type HostsConfig, type HostsViolation } from "../src/hosts-config.ts"

const violationsOf = (text: string): ReadonlyArray<HostsViolation> => {
  const result = parseHostsConfig(text)
  assert.isTrue(Result.isFailure(result), `expected ${JSON.stringify(text)} to be rejected`)
  return Result.isFailure(result) ? result.failure.violations : []
}

const configOf = (text: string): HostsConfig => {
  const result = parseHostsConfig(text)
  if (Result.isFailure(result)) assert.fail(result.failure.message)
  return Result.isSuccess(result) ? result.success : { entries: [] }
}

describe("parseHostsConfig", () => {
  it("reads entries, comments, blank lines, tabs, CRLF, IPv4 and IPv6", () => {
    const config = configOf(
      "# registry endpoints\r\n\r\n10.0.0.1\treg.example.com  reg-vpc.example.com # private\r\n" +
        "  2001:db8::1 reg.example.com\n::ffff:10.0.0.2 other.example.com"
    )
    assert.deepStrictEqual(config, {
      entries: [
        { address: "10.0.0.1", names: ["reg.example.com", "reg-vpc.example.com"] },
        { address: "2001:db8::1", names: ["reg.example.com"] },
        { address: "::ffff:10.0.0.2", names: ["other.example.com"] }
      ]
    })
  })

  it("treats a missing ConfigMap, a missing key and comments only as the empty config", () => {
    const cases: ReadonlyArray<Record<string, string> | undefined> = [
      undefined,
      {},
      { other: "1.2.3.4 a" },
      { hosts: "" },
      { hosts: "# nothing\n\n   \n" }
    ]
    for (const data of cases) {
      const result = hostsConfigFromData(data)
      assert.isTrue(Result.isSuccess(result))
      if (Result.isSuccess(result)) assert.deepStrictEqual(result.success.entries, [])
    }
  })

  it("names the bad address and why", () => {
    assert.deepStrictEqual(violationsOf("10.0.0.256 a.example.com"), [
      {
        line: 1,
        message: "\"10.0.0.256\" is not a valid IPv4 address (each part is 0-255, written without leading zeros)"
      }
    ])
    assert.deepStrictEqual(violationsOf("\n010.0.0.1 a.example.com"), [
      {
        line: 2,
        message: "\"010.0.0.1\" is not a valid IPv4 address (each part is 0-255, written without leading zeros)"
      }
    ])
    assert.deepStrictEqual(violationsOf("reg.example.com 10.0.0.1"), [
      { line: 1, message: "\"reg.example.com\" is not an IPv4 or IPv6 address" },
      { line: 1, message: "hostname \"10.0.0.1\" ends with a numeric label, so it would be read as an address" }
    ])
    assert.deepStrictEqual(violationsOf("fe80::1%eth0 a.example.com"), [
      { line: 1, message: "\"fe80::1%eth0\" carries a zone index (%...), which hosts files do not support" }
    ])
    assert.deepStrictEqual(violationsOf("2001:db8::1::2 a.example.com"), [
      { line: 1, message: "\"2001:db8::1::2\" is not an IPv4 or IPv6 address" }
    ])
  })

  it("names the bad hostname and why", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["reg_1.example.com", "hostname \"reg_1.example.com\" contains \"_\"; only letters, digits, hyphens and dots are allowed"],
      ["reg.example.com.", "hostname \"reg.example.com.\" ends with a dot; write the name without it"],
      ["reg..example.com", "hostname \"reg..example.com\" has an empty label"],
      ["-reg.example.com", "hostname \"-reg.example.com\" has a label that starts or ends with a hyphen"],
      ["reg-.example.com", "hostname \"reg-.example.com\" has a label that starts or ends with a hyphen"],
      [`${"a".repeat(64)}.com`, `hostname "${"a".repeat(64)}.com" has a label longer than 63 characters`],
      [`${"a.".repeat(127)}com`, `hostname "${"a.".repeat(127)}com" is longer than 253 characters`],
      ["régistry.example.com", "hostname \"régistry.example.com\" contains \"é\"; only letters, digits, hyphens and dots are allowed"]
    ]
    for (const [name, message] of cases) {
      assert.deepStrictEqual(violationsOf(`10.0.0.1 ok.example.com ${name}`), [{ line: 1, message }])
    }
  })

  it("rejects an address without a hostname", () => {
    assert.deepStrictEqual(violationsOf("10.0.0.1 # just a comment"), [
      { line: 1, message: "\"10.0.0.1\" has no hostname after it" }
    ])
  })

  it("rejects a name given two addresses of one family, whatever the case or spelling", () => {
    assert.deepStrictEqual(violationsOf("10.0.0.1 reg.example.com\n# moved\n10.0.0.2 REG.Example.com"), [
      { line: 3, message: "\"REG.Example.com\" is given 10.0.0.2 here but 10.0.0.1 on line 1" }
    ])
    assert.deepStrictEqual(violationsOf("2001:db8::1 a.example.com\n2001:db8::2 a.example.com"), [
      { line: 2, message: "\"a.example.com\" is given 2001:db8::2 here but 2001:db8::1 on line 1" }
    ])
  })

  it("accepts the same address twice in different spellings, and one address per family", () => {
    const config = configOf(
      "10.0.0.1 a.example.com\n10.0.0.1 a.example.com\n::1 b.example.com\n0:0:0:0:0:0:0:1 b.example.com\n" +
        "2001:db8::1 a.example.com"
    )
    assert.strictEqual(config.entries.length, 5)
  })

  it("returns every violation at once, with line numbers, and nothing partial", () => {
    const result = parseHostsConfig(
      "10.0.0.1 good.example.com\n300.1.1.1 a.example.com\n10.0.0.3 bad_name\n10.0.0.4\n10.0.0.5 good.example.com\n"
    )
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      const error = result.failure
      assert.strictEqual(error._tag, "HostsConfigInvalid")
      assert.isFalse(error.retryable)
      assert.deepStrictEqual(error.violations.map((v) => v.line), [2, 3, 4, 5])
      assert.include(error.message, "line 2: \"300.1.1.1\"")
      assert.include(error.message, "line 5: \"good.example.com\" is given 10.0.0.5 here but 10.0.0.1 on line 1")
      assert.notProperty(result, "success")
    }
  })
})
