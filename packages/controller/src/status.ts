// Pure aggregation of target states into an ImagePullSecret's status: counts, a bounded list of targets that are
// not ready (failing first), counts per state and the standard conditions (status-conditions.ts) led by Ready.
import type { ImagePullSecretStatus, PodsMissingSecret, TargetStatus } from "@tcr-assistant/api"
import type { Distribution } from "./distribution.ts"
import { type ConditionDraft, draftConditions, stampConditions } from "./status-conditions.ts"
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
  /** When the token being distributed expires, when known (minted, or a source Secret's annotation). */
  readonly tokenExpiresAt?: Date | undefined
}

/** Failing states first, then work in progress; Ready targets are only counted. */
const listingOrder: Record<TargetView["state"], number> = {
  Failed: 0,
  BackingOff: 1,
  Conflict: 2,
  Skipped: 3,
  Pending: 4,
  Applying: 5,
  Removing: 6,
  Ready: 7
}

const readyCondition = (input: StatusInput, secretsSuccess: number, serviceAccountsSuccess: number, failing: number): ConditionDraft => {
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
  if (input.credentialProblem !== undefined && distribution.source._tag === "SecretRef") {
    return {
      ...base,
      status: "False",
      reason: "CredentialSourceUnavailable",
      message: `cannot read registry credentials: ${input.credentialProblem}; distributed copies keep the last good credentials`
    }
  }
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
  let retrying = 0
  const byState: Record<string, number> = {}
  const notReady: Array<TargetView> = []
  for (const target of input.targets) {
    byState[target.state] = (byState[target.state] ?? 0) + 1
    if (target.state === "Ready") {
      if (target.kind === "Secret") secretsSuccess++
      else serviceAccountsSuccess++
      continue
    }
    if (target.state === "BackingOff" || target.state === "Conflict" || target.state === "Failed") failing++
    if (target.state === "BackingOff") retrying++
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
  const ready = readyCondition(input, secretsSuccess, serviceAccountsSuccess, failing)
  const drafts = draftConditions({ ready, retrying, waitingForChange: failing - retrying })
  return {
    observedGeneration: input.distribution.generation,
    secretsDesired: input.secretsDesired,
    secretsSuccess,
    serviceAccountsDesired: input.serviceAccountsDesired,
    serviceAccountsSuccess,
    targetsByState: byState,
    targets: listed,
    targetsOmitted: notReady.length - listed.length,
    // The seeds' names for the ServiceAccount counts, for scripts written against the seed.
    SAsDesired: input.serviceAccountsDesired,
    SAsSuccess: serviceAccountsSuccess,
    ...(input.podsMissingSecret !== undefined ? { podsMissingSecret: input.podsMissingSecret } : {}),
    ...(input.tokenExpiresAt !== undefined ? { tokenExpiresAt: rfc3339(input.tokenExpiresAt) } : {}),
    conditions: stampConditions(drafts, input.previous?.conditions, rfc3339(input.now))
  }
}

/** Kubernetes times are RFC 3339 with second precision. */
const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z")
