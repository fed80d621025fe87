// The standard condition set of an ImagePullSecret, derived from its Ready summary: Ready, Progressing and Degraded
// for people (the Deployment convention), Reconciling and Stalled for kstatus (the abnormal-true pair `kubectl wait`,
// Flux and Argo CD read), each keeping its lastTransitionTime while its status holds (metav1.Condition conventions).
import type { Condition } from "@tcr-assistant/api"

export type ConditionDraft = Omit<Condition, "lastTransitionTime">

/** What the conditions are computed from: the Ready summary and how the failing targets stand. */
export interface ConditionInputs {
  readonly ready: ConditionDraft
  /** Targets backing off: they are retried. */
  readonly retrying: number
  /** Targets refused for good or in Conflict: only a change (spec, the object) moves them. */
  readonly waitingForChange: number
}

const working = new Set(["Progressing", "Deleting"])
const degraded = new Set(["InvalidSpec", "TokenUnavailable", "CredentialSourceUnavailable", "TargetsFailing"])

const progressing = ({ ready, retrying }: ConditionInputs): Omit<ConditionDraft, "type"> => {
  const base = { observedGeneration: ready.observedGeneration }
  if (working.has(ready.reason)) return { ...base, status: "True", reason: ready.reason, message: ready.message }
  if (retrying > 0) return { ...base, status: "True", reason: "Retrying", message: `${retrying} targets are retried after a failure` }
  return { ...base, status: "False", reason: "Settled", message: "nothing left to do until something changes" }
}

const degradation = ({ ready }: ConditionInputs): Omit<ConditionDraft, "type"> => {
  const base = { observedGeneration: ready.observedGeneration }
  return degraded.has(ready.reason)
    ? { ...base, status: "True", reason: ready.reason, message: ready.message }
    : { ...base, status: "False", reason: "AsExpected", message: "no target is failing" }
}

/** kstatus reads Stalled as "will not progress without a change": an invalid spec, or failures nobody retries. */
const stalled = (inputs: ConditionInputs): Omit<ConditionDraft, "type"> => {
  const { ready, retrying, waitingForChange } = inputs
  const base = { observedGeneration: ready.observedGeneration }
  if (ready.reason === "InvalidSpec") return { ...base, status: "True", reason: "InvalidSpec", message: ready.message }
  if (ready.reason === "TargetsFailing" && retrying === 0 && waitingForChange > 0) {
    return { ...base, status: "True", reason: "WaitingForChange", message: `${waitingForChange} targets wait for a change; see .status.targets` }
  }
  return { ...base, status: "False", reason: "NotStalled", message: "retrying or done" }
}

/** The condition set in a fixed order, Ready first. */
export const draftConditions = (inputs: ConditionInputs): ReadonlyArray<ConditionDraft> => {
  const progress = progressing(inputs)
  return [
    inputs.ready,
    { type: "Progressing", ...progress },
    { type: "Degraded", ...degradation(inputs) },
    { type: "Reconciling", ...progress },
    { type: "Stalled", ...stalled(inputs) }
  ]
}

/** Stamp each condition: it keeps its lastTransitionTime while its status is what it was. */
export const stampConditions = (
  drafts: ReadonlyArray<ConditionDraft>,
  previous: ReadonlyArray<Condition> | undefined,
  now: string
): Array<Condition> =>
  drafts.map((draft) => {
    const before = previous?.find((condition) => condition.type === draft.type)
    return { ...draft, lastTransitionTime: before !== undefined && before.status === draft.status ? before.lastTransitionTime : now }
  })
