// Which Events the controller records about an ImagePullSecret, and when: a Warning when a target enters Conflict
// or Failed, for each failed request that is retried, for a spec found invalid and a token that cannot be had; a
// Normal Distributed once per generation. Events go through the kube package's EventRecorder service (rate limited,
// aggregated); the messages come from plans, failures and conditions, which never hold a credential.
import { apiVersion, type ImagePullSecretStatus, kind } from "@tcr-assistant/api"
import { EventRecorder } from "@tcr-assistant/kube/events"
import { Effect } from "effect"
import type { ImagePullSecretObject } from "./cluster-cache.ts"
import type { StuckPodReport } from "./stuck-pods.ts"
import type { TargetKey } from "./target.ts"
import type { TargetState } from "./target-machine.ts"

export interface DistributionEvents {
  /** A target's visible state changed: warn when it now waits for someone else (Conflict) or was refused (Failed). */
  readonly targetChanged: (target: TargetKey, state: TargetState, reason: string | undefined, message: string | undefined) => Effect.Effect<void>
  /** A request failed and will be retried. */
  readonly requestFailed: (ips: string, reason: string, message: string) => Effect.Effect<void>
  /** No credentials to distribute: a token that cannot be minted (TokenUnavailable) or a source Secret that cannot be read (CredentialSourceUnavailable). */
  readonly credentialsUnavailable: (ips: string, reason: "TokenUnavailable" | "CredentialSourceUnavailable", message: string) => Effect.Effect<void>
  /** A status was written over `previous`: announce what its Ready condition newly says. */
  readonly statusWritten: (object: ImagePullSecretObject, previous: ImagePullSecretStatus | undefined, next: ImagePullSecretStatus) => Effect.Effect<void>
  /** On the Pod, where `kubectl describe pod` shows it: once per Pod found missing our Secret (see stuck-pods.ts), and for each Pod deleted by --delete-stuck-pods. */
  readonly stuckPod: (report: StuckPodReport) => void
  /** The ImagePullSecret is gone: a new one of the same name starts its generations over. */
  readonly forget: (ips: string) => void
}

const readyOf = (status: ImagePullSecretStatus | undefined) => status?.conditions?.find((condition) => condition.type === "Ready")

const targetName = (target: TargetKey) =>
  target.kind === "ServiceAccount" ? `ServiceAccount ${target.namespace}/${target.serviceAccount}` : target.kind === "Secret" ? `Secret in ${target.namespace}` : "finalizer"

/** Needs the EventRecorder; `uidOf` finds the ImagePullSecret's uid, so events attach to this incarnation. */
export const makeDistributionEvents = (uidOf: (ips: string) => string | undefined) =>
  Effect.gen(function*() {
    const recorder = yield* EventRecorder
    /** The generation each ImagePullSecret was last announced Distributed for. */
    const announced = new Map<string, number>()

    const record = (ips: string, type: "Normal" | "Warning", reason: string, message: string) =>
      Effect.sync(() => recorder.emit({ involvedObject: { apiVersion, kind, name: ips, uid: uidOf(ips) }, type, reason, message }))

    const warn = (ips: string, reason: string, message: string) =>
      Effect.logWarning("target failed").pipe(
        Effect.annotateLogs({ kind, name: ips, reason, error: message }),
        Effect.andThen(record(ips, "Warning", reason, message))
      )

    const events: DistributionEvents = {
      targetChanged: (target, state, reason, message) =>
        state === "Conflict" || state === "Failed"
          ? warn(target.ips, reason ?? state, `${targetName(target)}: ${message ?? state}`)
          : Effect.void,
      requestFailed: warn,
      credentialsUnavailable: (ips, reason, message) => warn(ips, reason, message),
      stuckPod: (report) =>
        recorder.emit({
          involvedObject: { apiVersion: "v1", kind: "Pod", name: report.name, namespace: report.namespace, uid: report.uid },
          type: report.type === "Missing" ? "Warning" : "Normal",
          reason: report.type === "Missing" ? "MissingPullSecret" : "DeletedMissingPullSecret",
          message: report.message
        }),
      statusWritten: (object, previous, next) =>
        Effect.suspend(() => {
          const name = object.metadata.name
          const before = readyOf(previous)
          const after = readyOf(next)
          if (after === undefined) return Effect.void
          const generation = after.observedGeneration ?? 0
          const news = before === undefined || before.reason !== after.reason || before.observedGeneration !== after.observedGeneration
          if (before?.reason === "Distributed") announced.set(name, before.observedGeneration ?? 0)
          if (after.reason === "Distributed" && news && announced.get(name) !== generation) {
            announced.set(name, generation)
            return record(name, "Normal", "Distributed", after.message)
          }
          if (after.reason === "InvalidSpec" && news) return record(name, "Warning", "InvalidSpec", after.message)
          return Effect.void
        }),
      forget: (ips) => void announced.delete(ips)
    }
    return events
  })
