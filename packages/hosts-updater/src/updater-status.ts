// What the running agent knows about itself, and how it reads as readiness (its metrics: updater-metrics.ts).
import { Context } from "effect"

export type ApplyOutcome = "written" | "unchanged" | "invalid" | "failed"

export interface UpdaterSnapshot {
  readonly nodeName: string
  readonly hostsFile: string
  /** The ConfigMap informer has listed once. Until then the file is left exactly as it was. */
  readonly synced: boolean
  readonly watching: boolean
  /** Epoch milliseconds of the last list, watch event or bookmark. */
  readonly lastWatchEventAt: number
  readonly watchRestarts: number
  /** Undefined until the first attempt. */
  readonly configValid: boolean | undefined
  /** The hash of the config the file holds, once known. */
  readonly appliedHash: string | undefined
  readonly appliedEntries: number
  readonly lastAttemptAt: number | undefined
  readonly lastSuccessAt: number | undefined
  /** The last attempt could not read or write the file. */
  readonly fileFailing: boolean
  readonly handListedNames: number
  readonly applies: Readonly<Record<ApplyOutcome, number>>
}

export class UpdaterStatus extends Context.Service<UpdaterStatus, {
  readonly snapshot: () => UpdaterSnapshot
}>()("@tcr-assistant/hosts-updater/UpdaterStatus") {}

/** A watch silent for this long, while not connected, makes the agent unready. */
export const staleWatchMillis = 60_000

/** Why the agent is not ready; empty when it is. An invalid config is reported elsewhere and does not count. */
export const unreadyReasons = (snapshot: UpdaterSnapshot, now: number): ReadonlyArray<string> => {
  const reasons: Array<string> = []
  if (!snapshot.synced) reasons.push("the updater-config ConfigMap has not been listed yet")
  if (snapshot.synced && !snapshot.watching && now - snapshot.lastWatchEventAt > staleWatchMillis) {
    reasons.push(`no watch on the updater-config ConfigMap for ${Math.round((now - snapshot.lastWatchEventAt) / 1000)}s`)
  }
  if (snapshot.fileFailing) reasons.push(`the last write of ${snapshot.hostsFile} failed`)
  if (snapshot.synced && snapshot.lastAttemptAt === undefined) reasons.push("the config has not been applied yet")
  return reasons
}
