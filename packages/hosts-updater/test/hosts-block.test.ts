import { assert, describe, it } from "@effect/vitest"
import { beginMarker, endMarker, mergeManagedBlock, readManagedBlock, renderBlockLines } from "../src/hosts-block.ts"
import type { HostsConfig } from "../src/hosts-config.ts"

const config: HostsConfig = {
  entries: [
    { address: "10.0.0.1", names: ["reg.example.com", "reg-vpc.example.com"] },
    { address: "2001:db8::1", names: ["reg.example.com"] }
  ]
}
const empty: HostsConfig = { entries: [] }
const begin = `${beginMarker} (2 lines) from ConfigMap tcr-assistant-system/updater-config; edits here are overwritten`
const block = [begin, "10.0.0.1 reg.example.com reg-vpc.example.com", "2001:db8::1 reg.example.com", endMarker]

describe("mergeManagedBlock", () => {
  it("appends the block after the user's lines and removes it again without a trace", () => {
    const original = "127.0.0.1 localhost\n\n# my entries\n192.168.1.5 nas.lan\n"
    const merged = mergeManagedBlock(original, config)
    assert.strictEqual(merged.content, original + block.join("\n") + "\n")
    assert.isTrue(merged.changed)
    assert.deepStrictEqual(merged.repairs, [])
    assert.deepStrictEqual(merged.warnings, [])
    assert.strictEqual(mergeManagedBlock(merged.content, empty).content, original)
  })

  it("keeps CRLF files CRLF and a missing final newline missing", () => {
    const original = "127.0.0.1 localhost\r\n::1 localhost"
    const merged = mergeManagedBlock(original, config)
    assert.strictEqual(merged.content, "127.0.0.1 localhost\r\n::1 localhost\r\n" + block.join("\r\n"))
    assert.strictEqual(mergeManagedBlock(merged.content, empty).content, original)
  })

  it("writes an empty file as just the block, and leaves a file alone when the config is empty", () => {
    assert.strictEqual(mergeManagedBlock("", config).content, block.join("\n") + "\n")
    assert.strictEqual(mergeManagedBlock("", empty).content, "")
    const untouched = mergeManagedBlock("a\r\n\n b \r", empty)
    assert.strictEqual(untouched.content, "a\r\n\n b \r")
    assert.isFalse(untouched.changed)
  })

  it("replaces the block where it stands", () => {
    const existing = ["top", beginMarker + " (1 line)", "10.9.9.9 old.example.com", endMarker, "bottom", ""].join("\n")
    const merged = mergeManagedBlock(existing, config)
    assert.strictEqual(merged.content, ["top", ...block, "bottom", ""].join("\n"))
    assert.deepStrictEqual(merged.repairs, [])
    assert.isFalse(mergeManagedBlock(merged.content, config).changed)
  })

  it("keeps one block when it finds several, and says so", () => {
    const existing = ["a", ...block, "b", ...block, "c", ""].join("\n")
    const merged = mergeManagedBlock(existing, config)
    assert.strictEqual(merged.content, ["a", ...block, "b", "c", ""].join("\n"))
    assert.deepStrictEqual(merged.repairs, [
      "found 2 managed blocks (at lines 2, 7); kept one, at the place of the first"
    ])
  })

  it("removes a torn block only as far as its begin marker declared", () => {
    const existing = ["a", beginMarker + " (2 lines) ...", "10.9.9.9 old1.example.com", "10.9.9.8 old2.example.com",
      "192.168.1.5 nas.lan", ""].join("\n")
    const merged = mergeManagedBlock(existing, config)
    assert.strictEqual(merged.content, ["a", ...block, "192.168.1.5 nas.lan", ""].join("\n"))
    assert.deepStrictEqual(merged.repairs, [
      "the managed block at line 2 had no end marker; removed its begin marker and the 2 entry lines it declared"
    ])
  })

  it("never takes more of a torn block than the lines before the next marker", () => {
    const existing = [beginMarker + " (5 lines)", "x", ...block, "y", ""].join("\n")
    const merged = mergeManagedBlock(existing, empty)
    assert.strictEqual(merged.content, "y\n")
    assert.deepStrictEqual(merged.repairs, [
      "found 2 managed blocks (at lines 1, 3); kept one, at the place of the first",
      "the managed block at line 1 had no end marker; removed its begin marker and the 1 entry line it declared"
    ])
  })

  it("removes a stray end marker", () => {
    const merged = mergeManagedBlock(["a", endMarker, "b", ""].join("\n"), config)
    assert.strictEqual(merged.content, ["a", "b", ...block, ""].join("\n"))
    assert.deepStrictEqual(merged.repairs, ["removed an end marker without a begin marker at line 2"])
  })

  it("reports a managed name the user also lists by hand, with what it means", () => {
    const existing = "10.9.9.9 REG.example.com # mine\n"
    const merged = mergeManagedBlock(existing + "10.0.0.1 reg-vpc.example.com\n::2 reg-vpc.example.com\n", config)
    assert.deepStrictEqual(
      merged.warnings.map(({ name, line, address, relation, listedBeforeBlock }) => ({
        name,
        line,
        address,
        relation,
        listedBeforeBlock
      })),
      [
        { name: "REG.example.com", line: 1, address: "10.9.9.9", relation: "conflicting-address", listedBeforeBlock: true },
        { name: "reg-vpc.example.com", line: 2, address: "10.0.0.1", relation: "same-address", listedBeforeBlock: true },
        { name: "reg-vpc.example.com", line: 3, address: "::2", relation: "other-family", listedBeforeBlock: true }
      ]
    )
    assert.strictEqual(
      merged.warnings[0]?.message,
      "line 1 lists REG.example.com as 10.9.9.9 outside the managed block, and, being first, shadows the managed 10.0.0.1"
    )
    const after = mergeManagedBlock([...block, "10.9.9.9 reg.example.com", ""].join("\n"), config)
    assert.deepStrictEqual(after.warnings.map((w) => [w.line, w.relation, w.listedBeforeBlock]), [
      [5, "conflicting-address", false]
    ])
    assert.include(after.warnings[0]?.message ?? "", "but the managed 10.0.0.1 comes first")
  })

  // Found by property tests: a bare CR at the very end would have merged with an added LF into a CRLF terminator.
  it("keeps a bare CR that ends a file without a newline", () => {
    const merged = mergeManagedBlock("x\r", config)
    assert.strictEqual(merged.content, "x\r\r\n" + block.join("\r\n"))
    assert.isFalse(mergeManagedBlock(merged.content, config).changed)
    assert.strictEqual(mergeManagedBlock(merged.content, empty).content, "x\r")
  })

  // Found by property tests: removing an unterminated stray marker must not take a blank line with it.
  it("keeps a blank line that precedes a removed last line", () => {
    const merged = mergeManagedBlock("a\r\n\r\n" + endMarker, empty)
    assert.strictEqual(merged.content, "a\r\n\r\n")
    assert.strictEqual(mergeManagedBlock("a\r\nb\r\n" + endMarker, empty).content, "a\r\nb")
  })

  it("preserves bytes it does not understand", () => {
    const original = "caf\u00c3\u00a9 # latin1-decoded UTF-8\n\u0000\u00ff\rodd\r\n\t\n"
    const merged = mergeManagedBlock(original, config)
    assert.isTrue(merged.content.startsWith(original))
    assert.strictEqual(mergeManagedBlock(merged.content, empty).content, original)
  })
})

describe("readManagedBlock", () => {
  it("reads back the entries of the block", () => {
    const merged = mergeManagedBlock("127.0.0.1 localhost\n", config)
    assert.deepStrictEqual(readManagedBlock(merged.content), config)
    assert.isUndefined(readManagedBlock("127.0.0.1 localhost\n"))
  })

  it("renders nothing for the empty config", () => {
    assert.deepStrictEqual(renderBlockLines(empty), [])
  })
})
