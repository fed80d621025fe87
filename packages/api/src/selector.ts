// The namespaces/serviceAccounts selector of an ImagePullSecret: "*" or empty selects everything, otherwise a
// comma-separated list of names (whitespace around names tolerated), where a name with `*` is a glob (`team-*`).
// Also the glob matching that the exclusion lists share.

export type Selector =
  | { readonly _tag: "All" }
  | { readonly _tag: "Names"; readonly names: ReadonlySet<string>; readonly patterns: ReadonlyArray<string> }

export const selectAll: Selector = { _tag: "All" }

/** A list item with `*` matches any run of characters there (none included); there is no other wildcard. */
export const isGlob = (pattern: string): boolean => pattern.includes("*")

/** Whether `name` matches the glob `pattern`: `*` matches any run of characters, everything else itself. */
export const globMatches = (pattern: string, name: string): boolean => {
  const parts = pattern.split("*")
  const first = parts[0]!
  const last = parts[parts.length - 1]!
  if (parts.length === 1) return pattern === name
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false
  let at = first.length
  const end = name.length - last.length
  for (const middle of parts.slice(1, -1)) {
    const found = name.indexOf(middle, at)
    if (found === -1 || found + middle.length > end) return false
    at = found + middle.length
  }
  return true
}

/**
 * A glob is valid when it is made of the grammar's characters and `*`, and some valid name matches it: each `*`
 * standing for one letter gives a valid name (a `*` may also stand for nothing, which never makes a name valid that
 * the letter would not).
 */
export const isValidGlob = (pattern: string, isValidName: (name: string) => boolean): boolean =>
  isValidName(pattern.replaceAll("*", "a"))

/** The names a selector lists, trimmed, empty items dropped; `undefined` means "all". */
const listedNames = (raw: string | undefined): ReadonlyArray<string> | undefined => {
  const trimmed = (raw ?? "").trim()
  if (trimmed === "" || trimmed === "*") return undefined
  return trimmed.split(",").map((name) => name.trim()).filter((name) => name !== "")
}

export const parseSelector = (raw: string | undefined): Selector => {
  const names = listedNames(raw)
  if (names === undefined || names.length === 0) return selectAll
  return {
    _tag: "Names",
    names: new Set(names.filter((name) => !isGlob(name))),
    patterns: [...new Set(names.filter(isGlob))]
  }
}

/** Names a user wrote that are not valid for the given grammar (nor valid globs), in the order written. */
export const invalidSelectorNames = (
  raw: string | undefined,
  isValidName: (name: string) => boolean
): ReadonlyArray<string> => {
  const trimmed = (raw ?? "").trim()
  if (trimmed === "" || trimmed === "*") return []
  return trimmed.split(",").map((name) => name.trim()).filter((name) =>
    isGlob(name) ? !isValidGlob(name, isValidName) : !isValidName(name)
  )
}

export const selectorMatches = (selector: Selector, name: string): boolean =>
  selector._tag === "All" || selector.names.has(name) || selector.patterns.some((pattern) => globMatches(pattern, name))

/** The canonical text of a selector, as shown in printer columns and logs. */
export const formatSelector = (selector: Selector): string =>
  selector._tag === "All" ? "*" : [...selector.names, ...selector.patterns].sort().join(",")
