// The declaration format for the Kubernetes permissions a program needs, and how a list of them becomes the rules of
// a ClusterRole or of a Role in the add-on's namespace. Each package declares its own needs beside its code (its
// `permissions.ts`); the generated manifests derive their Roles from those declarations, never by hand.

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete"

export interface PolicyRule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly resourceNames?: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<Verb>
}

/** One need: what may be done, where (everywhere, or only in the add-on's own namespace), and which code needs it. */
export interface Permission {
  readonly rule: PolicyRule
  readonly scope: "cluster" | "addon-namespace"
  /** The code that needs it and why; shown in reviews, kept out of the manifests. */
  readonly why: string
}

/** Declare that `resources` of `apiGroup` ("" is core) need `verbs`, cluster-wide unless said otherwise. */
export const permission = (
  apiGroup: string,
  resources: string | ReadonlyArray<string>,
  verbs: ReadonlyArray<Verb>,
  why: string,
  options: { readonly scope?: Permission["scope"]; readonly resourceNames?: ReadonlyArray<string> } = {}
): Permission => ({
  rule: {
    apiGroups: [apiGroup],
    resources: typeof resources === "string" ? [resources] : resources,
    ...(options.resourceNames === undefined ? {} : { resourceNames: options.resourceNames }),
    verbs
  },
  scope: options.scope ?? "cluster",
  why
})

const ruleTarget = (rule: PolicyRule) => JSON.stringify([rule.apiGroups, rule.resources, rule.resourceNames ?? null])

/**
 * The rules of one scope, in declaration order; declarations of the same resources (and resource names) merge into
 * one rule with the union of their verbs, so a feature adding a verb to what another needs adds no second rule.
 */
export const rulesFor = (permissions: ReadonlyArray<Permission>, scope: Permission["scope"]): ReadonlyArray<PolicyRule> => {
  const merged = new Map<string, { rule: PolicyRule; verbs: Array<Verb> }>()
  for (const { rule, scope: where } of permissions) {
    if (where !== scope) continue
    const key = ruleTarget(rule)
    const existing = merged.get(key)
    if (existing === undefined) merged.set(key, { rule, verbs: [...rule.verbs] })
    else for (const verb of rule.verbs) if (!existing.verbs.includes(verb)) existing.verbs.push(verb)
  }
  return [...merged.values()].map(({ rule, verbs }) => ({ ...rule, verbs }))
}
