// The namespaces/serviceAccounts selector of an ImagePullSecret: "*" or empty selects everything, otherwise a
// comma-separated list of exact names (whitespace around names tolerated, no expressions).

export type Selector =
  | { readonly _tag: "All" }
  | { readonly _tag: "Names"; readonly names: ReadonlySet<string> }

export const selectAll: Selector = { _tag: "All" }

/** The names a selector lists, trimmed, empty items dropped; `undefined` means "all". */
const listedNames = (raw: string | undefined): ReadonlyArray<string> | undefined => {
  const trimmed = (raw ?? "").trim()
  if (trimmed === "" || trimmed === "*") return undefined
  return trimmed.split(",").map((name) => name.trim()).filter((name) => name !== "")
}

export const parseSelector = (raw: string | undefined): Selector => {
  const names = listedNames(raw)
  if (names === undefined || names.length === 0) return selectAll
  return { _tag: "Names", names: new Set(names) }
}

/** Names a user wrote that are not valid for the given grammar, in the order written. */
export const invalidSelectorNames = (
  raw: string | undefined,
  isValidName: (name: string) => boolean
): ReadonlyArray<string> => {
  const trimmed = (raw ?? "").trim()
  if (trimmed === "" || trimmed === "*") return []
  return trimmed.split(",").map((name) => name.trim()).filter((name) => !isValidName(name))
}

export const selectorMatches = (selector: Selector, name: string): boolean =>
  selector._tag === "All" || selector.names.has(name)

/** The canonical text of a selector, as shown in printer columns and logs. */
export const formatSelector = (selector: Selector): string =>
  selector._tag === "All" ? "*" : [...selector.names].sort().join(",")
