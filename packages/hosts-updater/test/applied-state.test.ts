import { assert, describe, it } from "@effect/vitest"
import {
  expectedHostsConfigHash,
  hostsAnnotations,
  hostsConfigHash,
  maxErrorAnnotationLength,
  nodeAnnotationsPatch,
  nodeIsUpToDate,
  readNodeHostsState
} from "../src/applied-state.ts"

const config = { entries: [{ address: "10.0.0.1", names: ["reg.example.com"] }] }
const at = new Date("2026-01-02T03:04:05.000Z")

describe("hostsConfigHash", () => {
  it("depends on the entries only, not on comments or spacing", () => {
    const hash = hostsConfigHash(config)
    assert.match(hash, /^sha256:[0-9a-f]{64}$/)
    assert.strictEqual(expectedHostsConfigHash({ hosts: "# c\n  10.0.0.1\treg.example.com  # x\n\n" }), hash)
    assert.notStrictEqual(expectedHostsConfigHash({ hosts: "10.0.0.2 reg.example.com" }), hash)
    assert.strictEqual(expectedHostsConfigHash(undefined), hostsConfigHash({ entries: [] }))
    assert.strictEqual(expectedHostsConfigHash({ hosts: "10.0.0.256 a" }), undefined)
  })
})

describe("nodeAnnotationsPatch", () => {
  const applied = { configHash: hostsConfigHash(config), entries: 1, at }

  it("sets hash, time and entries on a fresh Node", () => {
    assert.deepStrictEqual(nodeAnnotationsPatch(undefined, applied, undefined), {
      [hostsAnnotations.configHash]: applied.configHash,
      [hostsAnnotations.appliedAt]: "2026-01-02T03:04:05.000Z",
      [hostsAnnotations.entries]: "1"
    })
  })

  it("writes nothing when the Node already says it, and keeps the first applied-at time", () => {
    const current = {
      [hostsAnnotations.configHash]: applied.configHash,
      [hostsAnnotations.appliedAt]: "2025-12-31T00:00:00.000Z",
      [hostsAnnotations.entries]: "1",
      other: "x"
    }
    assert.isUndefined(nodeAnnotationsPatch(current, { ...applied, at: new Date() }, undefined))
  })

  it("records an error on top of what was applied, truncated, and clears it later", () => {
    const current = { [hostsAnnotations.configHash]: applied.configHash, [hostsAnnotations.entries]: "1" }
    const long = "x".repeat(5000)
    assert.deepStrictEqual(nodeAnnotationsPatch(current, applied, long), {
      [hostsAnnotations.error]: "x".repeat(maxErrorAnnotationLength)
    })
    assert.deepStrictEqual(nodeAnnotationsPatch({ ...current, [hostsAnnotations.error]: "old" }, applied, undefined), {
      [hostsAnnotations.error]: null
    })
  })

  it("reads the state back for the CLI", () => {
    const state = readNodeHostsState({ [hostsAnnotations.configHash]: applied.configHash, [hostsAnnotations.entries]: "1" })
    assert.deepStrictEqual(state, { configHash: applied.configHash, appliedAt: undefined, entries: 1, error: undefined })
    assert.isTrue(nodeIsUpToDate(state, applied.configHash))
    assert.isFalse(nodeIsUpToDate({ ...state, error: "boom" }, applied.configHash))
    assert.isFalse(nodeIsUpToDate(readNodeHostsState(undefined), applied.configHash))
  })
})
