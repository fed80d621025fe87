// Properties of selection: globs against a regular-expression oracle, label selectors against their set semantics,
// exclusions and the opt-out label winning over every inclusion, and field bounds that keep denials short.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import {
  fieldBounds,
  formatViolations,
  globMatches,
  isDns1123Label,
  type LabelSelector,
  type LabelSelectorRequirement,
  labelSelectorMatches,
  namespaceSelected,
  optOutLabel,
  parseSelector,
  selectionOf,
  selectorMatches,
  serviceAccountSelected,
  validateSpec
} from "@tcr-assistant/api"

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/)
// Small alphabets so that globs, names and labels often meet.
const name = fc.stringMatching(/^[ab]([-ab]{0,4}[ab])?$/)
const glob = fc.stringMatching(/^[ab*]([-ab*]{0,4}[ab*])?$/).filter((g) => g.includes("*"))
const labelKey = fc.constantFrom("team", "env", "example.com/tier", optOutLabel)
const labelValue = fc.constantFrom("a", "b", "true")
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 })
const requirement: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
  fc.record({ key: labelKey, operator: fc.constantFrom("In" as const, "NotIn" as const), values: fc.uniqueArray(labelValue, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: labelKey, operator: fc.constantFrom("Exists" as const, "DoesNotExist" as const) })
)
const labelSelector: fc.Arbitrary<LabelSelector> = fc.record(
  { matchLabels: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }), matchExpressions: fc.array(requirement, { maxLength: 3 }) },
  { requiredKeys: [] }
)
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const globOracle = (pattern: string) => new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`)

describe("globs", () => {
  test.prop([glob, name])("a glob matches exactly what its regular expression (* as .*) matches", (pattern, probe) => {
    expect(globMatches(pattern, probe)).toBe(globOracle(pattern).test(probe))
  })

  test.prop([fc.uniqueArray(fc.oneof(name, glob), { minLength: 1, maxLength: 5 }), name])(
    "a list of names and globs selects a name when one of its items matches it",
    (items, probe) => {
      const expected = items.some((item) => item.includes("*") ? globOracle(item).test(probe) : item === probe)
      expect(selectorMatches(parseSelector(items.join(",")), probe)).toBe(expected)
    }
  )

  test.prop([fc.constantFrom("*", "", " * "), label])("the seed's \"*\" and empty still select every name", (raw, probe) => {
    expect(selectorMatches(parseSelector(raw), probe)).toBe(true)
  })

  test.prop([fc.stringMatching(/^[a-z0-9-]{1,20}$/)])("team-* selects exactly the names starting with team-", (rest) => {
    expect(selectorMatches(parseSelector("team-*"), `team-${rest}`)).toBe(true)
    expect(selectorMatches(parseSelector("team-*"), `x-team-${rest}`)).toBe(false)
  })
})

const requirementHolds = (r: LabelSelectorRequirement, present: Readonly<Record<string, string>>) => {
  const value = present[r.key]
  if (r.operator === "Exists") return value !== undefined
  if (r.operator === "DoesNotExist") return value === undefined
  const listed = value !== undefined && (r.values ?? []).includes(value)
  return r.operator === "In" ? listed : !listed
}

describe("label selectors", () => {
  test.prop([labelSelector, labels])("a selector matches when every matchLabels pair and every requirement holds", (selector, present) => {
    const expected = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => present[key] === value) &&
      (selector.matchExpressions ?? []).every((r) => requirementHolds(r, present))
    expect(labelSelectorMatches(selector, present)).toBe(expected)
  })

  test.prop([labelKey, labelValue, labels])("matchLabels k=v is the requirement k In (v)", (key, value, present) => {
    expect(labelSelectorMatches({ matchLabels: { [key]: value } }, present))
      .toBe(labelSelectorMatches({ matchExpressions: [{ key, operator: "In", values: [value] }] }, present))
  })

  test.prop([labelKey, fc.uniqueArray(labelValue, { minLength: 1 }), labels])("NotIn is the negation of In, DoesNotExist of Exists", (key, values, present) => {
    expect(labelSelectorMatches({ matchExpressions: [{ key, operator: "NotIn", values }] }, present))
      .toBe(!labelSelectorMatches({ matchExpressions: [{ key, operator: "In", values }] }, present))
    expect(labelSelectorMatches({ matchExpressions: [{ key, operator: "DoesNotExist" }] }, present))
      .toBe(!labelSelectorMatches({ matchExpressions: [{ key, operator: "Exists" }] }, present))
  })

  test.prop([labels])("an empty selector matches every namespace", (present) => {
    expect(labelSelectorMatches({}, present)).toBe(true)
  })
})

const spec = fc.record({
  namespaces: fc.oneof(fc.constant("*"), fc.uniqueArray(fc.oneof(name, glob), { minLength: 1, maxLength: 4 }).map((n) => n.join(","))),
  serviceAccounts: fc.oneof(fc.constant("*"), fc.uniqueArray(fc.oneof(name, glob), { minLength: 1, maxLength: 4 }).map((n) => n.join(","))),
  namespaceSelector: fc.option(labelSelector, { nil: undefined }),
  excludedNamespaces: fc.array(fc.oneof(name, glob), { maxLength: 3 }),
  excludedServiceAccounts: fc.array(fc.oneof(name, glob), { maxLength: 3 })
})
const object = fc.record({ name, labels }, { requiredKeys: ["name"] })
const excludedBy = (patterns: ReadonlyArray<string>, probe: string) =>
  patterns.some((p) => p.includes("*") ? globOracle(p).test(probe) : p === probe)

describe("selection", () => {
  test.prop([spec, object])("a namespace is selected when the list and the label selector select it and nothing excludes it", (s, ns) => {
    const expected = selectorMatches(parseSelector(s.namespaces), ns.name) &&
      (s.namespaceSelector === undefined || labelSelectorMatches(s.namespaceSelector, ns.labels)) &&
      !excludedBy(s.excludedNamespaces, ns.name) && (ns.labels as Record<string, string> | undefined)?.[optOutLabel] !== "true"
    expect(namespaceSelected(selectionOf(s), ns)).toBe(expected)
  })

  test.prop([spec, object, fc.boolean()])("exclusion and the opt-out label win over every inclusion", (s, ns, byLabel) => {
    const selection = byLabel
      ? selectionOf(s)
      : selectionOf({ ...s, excludedNamespaces: [...s.excludedNamespaces, ns.name] })
    const target = byLabel ? { ...ns, labels: { ...ns.labels, [optOutLabel]: "true" } } : ns
    expect(namespaceSelected(selection, target)).toBe(false)
    const sa = byLabel ? target : { name: ns.name }
    const saSelection = byLabel ? selectionOf(s) : selectionOf({ ...s, excludedServiceAccounts: [`${ns.name.slice(0, 1)}*`] })
    expect(serviceAccountSelected(saSelection, sa)).toBe(false)
  })

  test.prop([fc.oneof(fc.constant("*"), fc.constant("")), label])("a seed spec (\"*\", no new fields) selects every namespace, kube-system included", (raw, ns) => {
    const selection = selectionOf({ namespaces: raw, serviceAccounts: raw })
    expect(namespaceSelected(selection, { name: ns })).toBe(true)
    expect(namespaceSelected(selection, { name: "kube-system" })).toBe(true)
    expect(namespaceSelected(selectionOf({ namespaces: raw, excludedNamespaces: ["kube-*"] }), { name: "kube-system" })).toBe(false)
  })
})

describe("bounds", () => {
  const docker = { server: "registry.example.com", username: "user", password: "secret" }
  const oversized: ReadonlyArray<{ path: string; max: number; spec: (value: string) => unknown }> = [
    { path: "spec.docker.password", max: fieldBounds.password, spec: (v) => ({ docker: { ...docker, password: v } }) },
    { path: "spec.docker.username", max: fieldBounds.username, spec: (v) => ({ docker: { ...docker, username: v } }) },
    { path: "spec.namespaces", max: fieldBounds.namespaces, spec: (v) => ({ docker, namespaces: v }) },
    { path: "spec.serviceAccounts", max: fieldBounds.serviceAccounts, spec: (v) => ({ docker, serviceAccounts: v }) },
    { path: "spec.tcr.region", max: fieldBounds.region, spec: (v) => ({ tcr: { region: v, instanceId: "tcr-a1", credentialsSecretRef: { name: "keys" } } }) },
    { path: "spec.tcr.instanceId", max: fieldBounds.instanceId, spec: (v) => ({ tcr: { region: "ap-guangzhou", instanceId: v, credentialsSecretRef: { name: "keys" } } }) },
    { path: "spec.excludedNamespaces.0", max: 253, spec: (v) => ({ docker, excludedNamespaces: [v] }) }
  ]

  test.prop([fc.constantFrom(...oversized), fc.integer({ min: 1, max: 1 << 20 }), fc.constantFrom("a", "A_", ",", "é")])(
    "a value over its bound is refused at its path with a short message that does not echo it",
    (field, extra, unit) => {
      const value = unit.repeat(Math.ceil((field.max + extra) / unit.length))
      const result = validateSpec(field.spec(value))
      expect(result._tag).toBe("Invalid")
      if (result._tag !== "Invalid") return
      expect(result.violations.map((v) => v.path)).toContain(field.path)
      expect(formatViolations(result.violations).length).toBeLessThan(400)
    }
  )

  test("a password and a user name at their bounds are accepted", () => {
    const spec = { docker: { ...docker, username: "u".repeat(fieldBounds.username), password: "p".repeat(fieldBounds.password) } }
    expect(validateSpec(spec)._tag).toBe("Valid")
  })

  test.prop([fc.array(fc.string({ minLength: 2000, maxLength: 4000 }), { minLength: 30, maxLength: 60 })])(
    "however many long invalid items a spec holds, the denial stays short",
    (items) => {
      const result = validateSpec({ docker, namespaces: items.join(","), excludedNamespaces: items.slice(0, 100) })
      expect(result._tag).toBe("Invalid")
      if (result._tag === "Invalid") expect(formatViolations(result.violations).length).toBeLessThan(12000)
    }
  )

  test.prop([label])("generated names are valid namespace names", (ns) => {
    expect(isDns1123Label(ns)).toBe(true)
  })
})
