// Which namespaces and ServiceAccounts one ImagePullSecret selects: the seed's name lists (with globs), ANDed with the
// namespace label selector, minus the exclusion lists and minus whatever carries the opt-out label. Exclusion and
// opt-out always win over inclusion. Pure: the controller and the Pod admission both decide with these functions.
import { type LabelSelector, labelSelectorMatches, type Labels } from "./label-selector.ts"
import { globMatches, parseSelector, type Selector, selectorMatches } from "./selector.ts"

/**
 * A Namespace or ServiceAccount labelled `tcr.tencentcloudcr.com/ignore: "true"` is never selected by any
 * ImagePullSecret. A label, not an annotation: it can be selected server-side, so every replica's Pod admission
 * watches only the ServiceAccounts that opted out, and `kubectl get ns,sa -A -l tcr.tencentcloudcr.com/ignore=true`
 * lists them all.
 */
export const optOutLabel = "tcr.tencentcloudcr.com/ignore"
export const optOutValue = "true"

export interface Selection {
  readonly namespaces: Selector
  readonly namespaceSelector: LabelSelector | undefined
  readonly excludedNamespaces: ReadonlyArray<string>
  readonly serviceAccounts: Selector
  readonly excludedServiceAccounts: ReadonlyArray<string>
}

/** What selection reads of a Namespace or ServiceAccount. */
export interface SelectableObject {
  readonly name: string
  readonly labels?: Labels | undefined
}

/** The selection fields of a spec as written (they are validated elsewhere; this only reads them). */
export interface SelectionSpec {
  readonly namespaces?: string | undefined
  readonly serviceAccounts?: string | undefined
  readonly namespaceSelector?: LabelSelector | undefined
  readonly excludedNamespaces?: ReadonlyArray<string> | undefined
  readonly excludedServiceAccounts?: ReadonlyArray<string> | undefined
}

export const selectionOf = (spec: SelectionSpec): Selection => ({
  namespaces: parseSelector(spec.namespaces),
  namespaceSelector: spec.namespaceSelector,
  excludedNamespaces: spec.excludedNamespaces ?? [],
  serviceAccounts: parseSelector(spec.serviceAccounts),
  excludedServiceAccounts: spec.excludedServiceAccounts ?? []
})

export const isOptedOut = (object: SelectableObject): boolean => object.labels?.[optOutLabel] === optOutValue

const excluded = (patterns: ReadonlyArray<string>, name: string) => patterns.some((pattern) => globMatches(pattern, name))

/** Whether the namespace is selected by name alone: the part that needs no labels (for routing by name). */
export const namespaceNameSelected = (selection: Selection, name: string): boolean =>
  selectorMatches(selection.namespaces, name) && !excluded(selection.excludedNamespaces, name)

export const namespaceSelected = (selection: Selection, namespace: SelectableObject): boolean =>
  namespaceNameSelected(selection, namespace.name) && !isOptedOut(namespace) &&
  (selection.namespaceSelector === undefined || labelSelectorMatches(selection.namespaceSelector, namespace.labels))

/** Whether a ServiceAccount of a selected namespace is selected (the namespace is checked apart). */
export const serviceAccountSelected = (selection: Selection, serviceAccount: SelectableObject): boolean =>
  selectorMatches(selection.serviceAccounts, serviceAccount.name) &&
  !excluded(selection.excludedServiceAccounts, serviceAccount.name) && !isOptedOut(serviceAccount)
