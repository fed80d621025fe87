// Pure aggregation of target states into an ImagePullSecret's status: counts, a bounded list of targets that are
// not ready (failing first), counts per state and a Ready condition that keeps its transition time while unchanged.
import type { Condition, ImagePullSecretStatus, PodsMissingSecret, TargetStatus } from "@tcr-assistant/api"
import type { Distribution } from "./distribution.ts"
import type { TargetState } from "./target-machine.ts"

export interface TargetView {
  readonly kind: "Secret" | "ServiceAccount"
  readonly namespace: string
  readonly name: string
  readonly state: Exclude<TargetState, "Removed">
  readonly reason: string | undefined
  readonly message: string | undefined
  readonly since: number
}

export interface StatusInput {
  readonly distribution: Distribution
  /** Why credentials from spec.tcr cannot be had right now, if they cannot. */
  readonly credentialProblem?: string | undefined
  readonly secretsDesired: number
  readonly serviceAccountsDesired: number
  readonly targets: Iterable<TargetView>
  readonly previous: ImagePullSecretStatus | undefined
  readonly now: Date
  readonly maxTargets: number
  /** Pods admitted without the Secret, when the controller watches Pods. */
  readonly podsMissingSecret?: PodsMissingSecret | undefined
}

/** Failing states first, then work in progress; Ready targets are only counted. */
const listingOrder: Record<TargetView["state"], number> = {
  BackingOff: 0,
  Conflict: 1,
  Skipped: 2,
  Pending: 3,
  Applying: 4,
  Removing: 5,
  Ready: 6
}

const readyCondition = (input: StatusInput, secretsSuccess: number, serviceAccountsSuccess: number, failing: number): Omit<Condition, "lastTransitionTime"> => {
  const { distribution } = input
  const base = { type: "Ready", observedGeneration: distribution.generation }
  if (distribution.violations.length > 0) {
    return {
      ...base,
      status: "False",
      reason: "InvalidSpec",
      message: distribution.violations.map((v) => `${v.path}: ${v.message}`).join("; ")
    }
  }
  if (distribution.deleting) return { ...base, status: "False", reason: "Deleting", message: "removing distributed Secrets and ServiceAccount entries" }
  if (input.credentialProblem !== undefined) {
    return { ...base, status: "False", reason: "TokenUnavailable", message: `cannot obtain a registry token: ${input.credentialProblem}` }
  }
  if (failing > 0) {
    return { ...base, status: "False", reason: "TargetsFailing", message: `${failing} targets are failing; see .status.targets` }
  }
  if (secretsSuccess >= input.secretsDesired && serviceAccountsSuccess >= input.serviceAccountsDesired) {
    return {
      ...base,
      status: "True",
      reason: "Distributed",
      message: `Secret ready in ${secretsSuccess} namespaces, referenced by ${serviceAccountsSuccess} ServiceAccounts`
    }
  }
  return {
    ...base,
    status: "False",
    reason: "Progressing",
    message: `${secretsSuccess}/${input.secretsDesired} Secrets and ${serviceAccountsSuccess}/${input.serviceAccountsDesired} ServiceAccounts done`
  }
}

export const aggregateStatus = (input: StatusInput): ImagePullSecretStatus => {
  let secretsSuccess = 0
  let serviceAccountsSuccess = 0
  let failing = 0
  const byState: Record<string, number> = {}
  const notReady: Array<TargetView> = []
  for (const target of input.targets) {
    byState[target.state] = (byState[target.state] ?? 0) + 1
    if (target.state === "Ready") {
      if (target.kind === "Secret") secretsSuccess++
      else serviceAccountsSuccess++
      continue
    }
    if (target.state === "BackingOff" || target.state === "Conflict") failing++
    notReady.push(target)
  }
  notReady.sort((a, b) =>
    listingOrder[a.state] - listingOrder[b.state] || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)
  )
  const listed = notReady.slice(0, input.maxTargets).map((target): TargetStatus => ({
    kind: target.kind,
    namespace: target.namespace,
    name: target.name,
    state: target.state,
    ...(target.reason !== undefined ? { reason: target.reason } : {}),
    ...(target.message !== undefined ? { message: target.message } : {}),
    lastTransitionTime: rfc3339(new Date(target.since))
  }))
  const condition = readyCondition(input, secretsSuccess, serviceAccountsSuccess, failing)
  const previous = input.previous?.conditions?.find((c) => c.type === "Ready")
  const lastTransitionTime = previous !== undefined && previous.status === condition.status
    ? previous.lastTransitionTime
    : rfc3339(input.now)
  return {
    observedGeneration: input.distribution.generation,
    secretsDesired: input.secretsDesired,
    secretsSuccess,
    serviceAccountsDesired: input.serviceAccountsDesired,
    serviceAccountsSuccess,
    targetsByState: byState,
    targets: listed,
    targetsOmitted: notReady.length - listed.length,
    ...(input.podsMissingSecret !== undefined ? { podsMissingSecret: input.podsMissingSecret } : {}),
    conditions: [{ ...condition, lastTransitionTime }]
  }
}

/** Kubernetes times are RFC 3339 with second precision. */
const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z")
