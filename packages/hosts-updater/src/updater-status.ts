// What the running agent knows about itself, and how it reads as readiness and Prometheus metrics.
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

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/** Prometheus text exposition format, version 0.0.4. */
export const renderMetrics = (snapshot: UpdaterSnapshot, now: number): string => {
  const lines: Array<string> = []
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: ReadonlyArray<readonly [string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`)
  }
  const p = "tcr_assistant_hosts_updater_"
  metric(`${p}applies_total`, "counter", "Attempts to apply the hosts config, by outcome.",
    (Object.entries(snapshot.applies) as Array<[ApplyOutcome, number]>).map(([outcome, count]) => [`{outcome="${outcome}"}`, count]))
  metric(`${p}config_valid`, "gauge", "1 when the updater-config hosts value is valid, 0 when it is rejected.",
    snapshot.configValid === undefined ? [] : [["", snapshot.configValid ? 1 : 0]])
  metric(`${p}applied_config_info`, "gauge", "The hash of the config the hosts file holds.",
    snapshot.appliedHash === undefined ? [] : [[`{hash="${escapeLabel(snapshot.appliedHash)}"}`, 1]])
  metric(`${p}managed_entries`, "gauge", "Entry lines in the managed block.", [["", snapshot.appliedEntries]])
  metric(`${p}hand_listed_names`, "gauge", "Managed names the hosts file also lists outside the managed block.",
    [["", snapshot.handListedNames]])
  metric(`${p}last_success_timestamp_seconds`, "gauge", "When the hosts file last reflected the config.",
    snapshot.lastSuccessAt === undefined ? [] : [["", snapshot.lastSuccessAt / 1000]])
  metric(`${p}file_failing`, "gauge", "1 while the hosts file cannot be written.", [["", snapshot.fileFailing ? 1 : 0]])
  metric(`${p}watch_restarts_total`, "counter", "Restarts of the ConfigMap watch.", [["", snapshot.watchRestarts]])
  metric(`${p}seconds_since_last_watch_event`, "gauge", "Seconds since the ConfigMap watch last heard from the apiserver.",
    [["", Math.max(0, (now - snapshot.lastWatchEventAt) / 1000)]])
  metric(`${p}ready`, "gauge", "1 when the agent is ready.", [["", unreadyReasons(snapshot, now).length === 0 ? 1 : 0]])
  return lines.join("\n") + "\n"
}
