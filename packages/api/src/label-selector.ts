// Kubernetes label selectors (metav1.LabelSelector): the grammar of label keys and values, and the matching of
// matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist), all ANDed; an empty selector matches everything.

export type LabelSelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist"
export const labelSelectorOperators: ReadonlyArray<LabelSelectorOperator> = ["In", "NotIn", "Exists", "DoesNotExist"]

export interface LabelSelectorRequirement {
  readonly key: string
  readonly operator: LabelSelectorOperator
  readonly values?: ReadonlyArray<string> | undefined
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined
  readonly matchExpressions?: ReadonlyArray<LabelSelectorRequirement> | undefined
}

export type Labels = Readonly<Record<string, string>>

/** A label key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63 characters. */
export const maxLabelKeyLength = 253 + 1 + 63
export const maxLabelValueLength = 63

const labelNamePattern = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const labelPrefixPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export const isLabelKey = (key: string): boolean => {
  const slash = key.indexOf("/")
  const prefix = slash === -1 ? undefined : key.slice(0, slash)
  const name = slash === -1 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length > 253 || !labelPrefixPattern.test(prefix))) return false
  return name.length <= 63 && labelNamePattern.test(name)
}

/** A label value: empty, or at most 63 characters of the label name grammar. */
export const isLabelValue = (value: string): boolean =>
  value === "" || (value.length <= maxLabelValueLength && labelNamePattern.test(value))

const requirementMatches = (requirement: LabelSelectorRequirement, labels: Labels): boolean => {
  const has = Object.hasOwn(labels, requirement.key)
  const values = requirement.values ?? []
  switch (requirement.operator) {
    case "In":
      return has && values.includes(labels[requirement.key]!)
    case "NotIn":
      return !has || !values.includes(labels[requirement.key]!)
    case "Exists":
      return has
    case "DoesNotExist":
      return !has
  }
}

/** Whether the labels satisfy every matchLabels pair and every matchExpressions requirement. */
export const labelSelectorMatches = (selector: LabelSelector, labels: Labels | undefined): boolean => {
  const present = labels ?? {}
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(present, key) || present[key] !== value) return false
  }
  return (selector.matchExpressions ?? []).every((requirement) => requirementMatches(requirement, present))
}

/** The semantic rule the schema's shape cannot say: In/NotIn need values, Exists/DoesNotExist take none. */
export const requirementValuesProblem = (requirement: LabelSelectorRequirement): string | undefined => {
  const count = requirement.values?.length ?? 0
  if ((requirement.operator === "In" || requirement.operator === "NotIn") && count === 0) {
    return `operator ${requirement.operator} needs at least one value`
  }
  if ((requirement.operator === "Exists" || requirement.operator === "DoesNotExist") && count > 0) {
    return `operator ${requirement.operator} takes no values`
  }
  return undefined
}

/** The selector as `kubectl get -l` would take it, for logs and messages. */
export const formatLabelSelector = (selector: LabelSelector): string => {
  const terms = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`)
  for (const requirement of selector.matchExpressions ?? []) {
    const values = `(${[...(requirement.values ?? [])].join(",")})`
    terms.push(
      requirement.operator === "In" ? `${requirement.key} in ${values}`
      : requirement.operator === "NotIn" ? `${requirement.key} notin ${values}`
      : requirement.operator === "Exists" ? requirement.key
      : `!${requirement.key}`
    )
  }
  return terms.join(",")
}
