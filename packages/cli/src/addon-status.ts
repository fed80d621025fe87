// The add-on's state as `status` reports it, computed from what the cluster holds: each ImagePullSecret's counts and
// failing targets, the controller and hosts-updater workloads, and which nodes have applied the current hosts
// config. Pure; status.ts reads the objects and prints the report.
import type { Condition, ImagePullSecretStatus, TargetStatus } from "@tcr-assistant/api"
import { expectedHostsConfigHash, hostsConfigFromData, nodeIsUpToDate, readNodeHostsState } from "@tcr-assistant/hosts-updater"
import { Result } from "effect"
import {
  credentialSecretName,
  credentialSecretNamespace,
  type ObservedCredentialSecret,
  readCredentialRecord
} from "./addon-credential.ts"
import { isInstalledByUs, type ObservedImagePullSecret, readInstallRecord } from "./addon-record.ts"

export interface WorkloadObject {
  readonly kind: "Deployment" | "DaemonSet"
  readonly name: string
  /** undefined when the object does not exist. */
  readonly object:
    | {
      readonly status?: {
        readonly replicas?: number
        readonly readyReplicas?: number
        readonly desiredNumberScheduled?: number
        readonly numberReady?: number
      }
      readonly spec?: { readonly replicas?: number }
    }
    | undefined
}

export interface NodeObject {
  readonly metadata: { readonly name: string; readonly annotations?: Readonly<Record<string, string>> }
}

export interface StatusInput {
  readonly imagePullSecrets: ReadonlyArray<ObservedImagePullSecret>
  readonly workloads: ReadonlyArray<WorkloadObject>
  /** updater-config's data; undefined when the ConfigMap does not exist. */
  readonly updaterConfig: Readonly<Record<string, string>> | undefined
  readonly nodes: ReadonlyArray<NodeObject>
  /** install's credential Secret; undefined when there is none (no install, or one from before it existed). */
  readonly credentialSecret?: ObservedCredentialSecret | undefined
}

const failingStates = new Set(["BackingOff", "Conflict", "Failed", "Skipped"])

export interface ImagePullSecretReport {
  readonly name: string
  readonly domain: string | undefined
  readonly domainKind: string | undefined
  readonly namespaces: string
  readonly serviceAccounts: string
  readonly deleting: boolean
  /** The Ready condition's status; Unknown until the controller has reported on the current generation. */
  readonly ready: "True" | "False" | "Unknown"
  readonly reason: string | undefined
  readonly message: string | undefined
  /** Whether the status describes the current spec (observedGeneration equals generation). */
  readonly observed: boolean
  readonly secrets: { readonly ready: number; readonly desired: number }
  readonly serviceAccountEntries: { readonly ready: number; readonly desired: number }
  readonly failingTargets: ReadonlyArray<TargetStatus>
  readonly pendingTargets: number
  readonly targetsOmitted: number
  /** Pods admitted without the Secret (status.podsMissingSecret), when there are any. */
  readonly podsMissingSecret?: { readonly count: number; readonly pods: ReadonlyArray<{ readonly namespace: string; readonly name: string }> }
}

export type NodeHostsVerdict = "UpToDate" | "Stale" | "Failing" | "NotReporting"

export interface NodeReport {
  readonly name: string
  readonly state: NodeHostsVerdict
  readonly appliedAt: string | undefined
  readonly entries: number | undefined
  readonly error: string | undefined
}

export interface StatusReport {
  readonly installed: boolean
  readonly installation:
    | {
      readonly instanceId: string | undefined
      readonly region: string | undefined
      readonly tokenId: string | undefined
      readonly clusterId: string | undefined
      /** `namespace/name` of the Secret the ImagePullSecrets distribute; absent for an install from before it. */
      readonly credentialSecret: string | undefined
      /** The registry user of the user's own credential (`install --username`); absent for a token. */
      readonly username: string | undefined
      /** When the token expires (RFC 3339), as recorded on the credential Secret. */
      readonly tokenExpiresAt: string | undefined
    }
    | undefined
  readonly workloads: ReadonlyArray<
    { readonly kind: string; readonly name: string; readonly exists: boolean; readonly ready: number; readonly desired: number }
  >
  readonly imagePullSecrets: ReadonlyArray<ImagePullSecretReport>
  /** ImagePullSecrets in the cluster that install did not create. */
  readonly otherImagePullSecrets: ReadonlyArray<string>
  readonly hosts: {
    readonly configMapExists: boolean
    readonly entries: number
    readonly configHash: string | undefined
    /** Why the ConfigMap's hosts value is rejected, when it is. */
    readonly invalid: string | undefined
    readonly nodes: ReadonlyArray<NodeReport>
    readonly upToDate: number
  }
}

const readyCondition = (status: ImagePullSecretStatus | undefined): Condition | undefined =>
  status?.conditions?.find((condition) => condition.type === "Ready")

const imagePullSecretReport = (object: ObservedImagePullSecret): ImagePullSecretReport => {
  const record = readInstallRecord(object)
  const status = object.status as ImagePullSecretStatus | undefined
  const observed = status?.observedGeneration !== undefined && status.observedGeneration === object.metadata.generation
  const condition = readyCondition(status)
  const targets = status?.targets ?? []
  return {
    name: object.metadata.name,
    domain: record.server,
    domainKind: record.domainKind,
    namespaces: record.namespaces ?? "*",
    serviceAccounts: record.serviceAccounts ?? "*",
    deleting: record.deleting,
    ready: observed && condition !== undefined ? condition.status : "Unknown",
    reason: condition?.reason,
    message: condition?.message,
    observed,
    secrets: { ready: status?.secretsSuccess ?? 0, desired: status?.secretsDesired ?? 0 },
    serviceAccountEntries: { ready: status?.serviceAccountsSuccess ?? 0, desired: status?.serviceAccountsDesired ?? 0 },
    failingTargets: targets.filter((target) => failingStates.has(target.state)),
    pendingTargets: targets.filter((target) => !failingStates.has(target.state)).length,
    targetsOmitted: status?.targetsOmitted ?? 0,
    ...(status?.podsMissingSecret !== undefined && status.podsMissingSecret.count > 0 ? { podsMissingSecret: status.podsMissingSecret } : {})
  }
}

const nodeReport = (node: NodeObject, expectedHash: string | undefined): NodeReport => {
  const state = readNodeHostsState(node.metadata.annotations)
  const verdict: NodeHostsVerdict = state.configHash === undefined && state.error === undefined
    ? "NotReporting"
    : state.error !== undefined
    ? "Failing"
    : expectedHash !== undefined && nodeIsUpToDate(state, expectedHash)
    ? "UpToDate"
    : "Stale"
  return { name: node.metadata.name, state: verdict, appliedAt: state.appliedAt, entries: state.entries, error: state.error }
}

export const statusReport = (input: StatusInput): StatusReport => {
  const ours = input.imagePullSecrets.filter(isInstalledByUs)
  const records = ours.map(readInstallRecord)
  const first = records.find((record) => record.instanceId !== undefined)
  const credential = input.credentialSecret === undefined ? undefined : readCredentialRecord(input.credentialSecret)
  const parsed = input.updaterConfig === undefined ? undefined : hostsConfigFromData(input.updaterConfig)
  // A missing ConfigMap means no entries, which every node applies as "no block".
  const expectedHash = expectedHostsConfigHash(input.updaterConfig ?? {})
  const nodes = [...input.nodes]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((node) => nodeReport(node, expectedHash))
  const workloads = input.workloads.map((workload) => ({
    kind: workload.kind,
    name: workload.name,
    exists: workload.object !== undefined,
    ready: workload.kind === "Deployment"
      ? workload.object?.status?.readyReplicas ?? 0
      : workload.object?.status?.numberReady ?? 0,
    desired: workload.kind === "Deployment"
      ? workload.object?.spec?.replicas ?? workload.object?.status?.replicas ?? 0
      : workload.object?.status?.desiredNumberScheduled ?? 0
  }))
  return {
    installed: ours.length > 0 || input.updaterConfig !== undefined || workloads.some((workload) => workload.exists),
    installation: credential !== undefined
      ? {
        instanceId: credential.instanceId,
        region: credential.region,
        tokenId: credential.tokenId,
        clusterId: credential.clusterId,
        credentialSecret: `${credentialSecretNamespace}/${credentialSecretName}`,
        username: credential.tokenId === undefined ? credential.username : undefined,
        tokenExpiresAt: credential.expiresAt
      }
      : first === undefined
      ? undefined
      : {
        instanceId: first.instanceId,
        region: first.region,
        tokenId: first.tokenId,
        clusterId: first.clusterId,
        credentialSecret: undefined,
        username: undefined,
        tokenExpiresAt: undefined
      },
    workloads,
    imagePullSecrets: ours.map(imagePullSecretReport).sort((a, b) => a.name.localeCompare(b.name)),
    otherImagePullSecrets: input.imagePullSecrets.filter((object) => !isInstalledByUs(object)).map((object) => object.metadata.name).sort(),
    hosts: {
      configMapExists: input.updaterConfig !== undefined,
      entries: parsed !== undefined && Result.isSuccess(parsed) ? parsed.success.entries.length : 0,
      configHash: expectedHash,
      invalid: parsed !== undefined && Result.isFailure(parsed) ? parsed.failure.message : undefined,
      nodes,
      upToDate: nodes.filter((node) => node.state === "UpToDate").length
    }
  }
}

const plural = (count: number, word: string, words = `${word}s`) => `${count} ${count === 1 ? word : words}`

/** The report in lines people read. */
export const describeStatus = (report: StatusReport): ReadonlyArray<string> => {
  const lines: Array<string> = []
  if (report.installation !== undefined) {
    const { clusterId, credentialSecret, instanceId, region, tokenExpiresAt, tokenId, username } = report.installation
    const credential = tokenId !== undefined
      ? `token ${tokenId}${tokenExpiresAt === undefined ? "" : ` (expires ${tokenExpiresAt})`}`
      : username !== undefined
      ? `your own credential, user ${username}`
      : "token ?"
    lines.push(`TCR instance ${instanceId ?? "?"} (${region ?? "?"}), ${credential}, cluster ${clusterId ?? "?"}`)
    if (credentialSecret !== undefined) lines.push(`  credential in Secret ${credentialSecret}, referenced by every ImagePullSecret`)
  }
  for (const workload of report.workloads) {
    lines.push(
      workload.exists
        ? `${workload.kind} ${workload.name}: ${workload.ready}/${workload.desired} ready`
        : `${workload.kind} ${workload.name}: not found`
    )
  }
  lines.push(report.imagePullSecrets.length === 0 ? "ImagePullSecrets: none installed" : "ImagePullSecrets:")
  for (const ips of report.imagePullSecrets) {
    const state = ips.deleting ? "Deleting" : ips.ready === "True" ? "Ready" : ips.ready === "False" ? `NotReady (${ips.reason ?? "?"})` : "Pending"
    lines.push(
      `  ${ips.name}: ${state}; Secrets ${ips.secrets.ready}/${ips.secrets.desired}, ServiceAccounts ${ips.serviceAccountEntries.ready}/${ips.serviceAccountEntries.desired}; namespaces ${ips.namespaces}, service accounts ${ips.serviceAccounts}`
    )
    if (!ips.observed && !ips.deleting) lines.push("    the controller has not reported on the current spec yet")
    for (const target of ips.failingTargets) {
      lines.push(
        `    ${target.state}: ${target.kind} ${target.namespace}/${target.name}${target.reason === undefined ? "" : ` ${target.reason}`}${
          target.message === undefined ? "" : `: ${target.message}`
        }`
      )
    }
    if (ips.pendingTargets > 0) lines.push(`    ${plural(ips.pendingTargets, "target")} in progress`)
    if (ips.targetsOmitted > 0) lines.push(`    ${ips.targetsOmitted} more not-ready targets not listed`)
    if (ips.podsMissingSecret !== undefined) {
      const listed = ips.podsMissingSecret.pods.map((pod) => `${pod.namespace}/${pod.name}`).join(", ")
      const more = ips.podsMissingSecret.count - ips.podsMissingSecret.pods.length
      lines.push(
        `    ${plural(ips.podsMissingSecret.count, "Pod")} admitted without the Secret (recreate them; each has a MissingPullSecret Event): ${listed}${more > 0 ? ` and ${more} more` : ""}`
      )
    }
  }
  if (report.otherImagePullSecrets.length > 0) {
    lines.push(`Other ImagePullSecrets (not created by install): ${report.otherImagePullSecrets.join(", ")}`)
  }
  const hosts = report.hosts
  lines.push(
    !hosts.configMapExists
      ? "Hosts: updater-config not found (no entries)"
      : hosts.invalid !== undefined
      ? `Hosts: updater-config is invalid: ${hosts.invalid}`
      : `Hosts: updater-config has ${plural(hosts.entries, "entry", "entries")} (${hosts.configHash ?? "?"})`
  )
  const reporting = hosts.nodes.filter((node) => node.state !== "NotReporting").length
  lines.push(`  ${hosts.upToDate} of ${plural(reporting, "reporting node")} applied the current config (${plural(hosts.nodes.length, "node")} in the cluster)`)
  for (const node of hosts.nodes) {
    const detail = node.state === "UpToDate"
      ? `up to date since ${node.appliedAt ?? "?"}`
      : node.state === "Stale"
      ? `stale (holds ${node.entries ?? "?"} entries applied ${node.appliedAt ?? "?"})`
      : node.state === "Failing"
      ? `failing: ${node.error ?? "?"}`
      : "not reporting (no hosts-updater has run there)"
    lines.push(`  ${node.name}: ${detail}`)
  }
  return lines
}

/**
 * Whether the add-on has caught up with its configuration: each named ImagePullSecret Ready on its current spec,
 * and every node that reports (at least as many as the hosts-updater DaemonSet schedules) holding the current
 * hosts config. Otherwise what is still missing, in words.
 */
export const convergence = (
  report: StatusReport,
  imagePullSecrets: ReadonlyArray<string>
): { readonly done: true } | { readonly done: false; readonly detail: string } => {
  const missing: Array<string> = []
  for (const name of imagePullSecrets) {
    const entry = report.imagePullSecrets.find((candidate) => candidate.name === name)
    if (entry === undefined) missing.push(`ImagePullSecret ${name} does not exist`)
    else if (entry.ready !== "True") {
      missing.push(
        `ImagePullSecret ${name} is not Ready (Secrets ${entry.secrets.ready}/${entry.secrets.desired}, ServiceAccounts ${entry.serviceAccountEntries.ready}/${entry.serviceAccountEntries.desired}${
          entry.message === undefined || entry.ready === "Unknown" ? "" : `: ${entry.message}`
        })`
      )
    }
  }
  const reporting = report.hosts.nodes.filter((node) => node.state !== "NotReporting")
  const behind = reporting.filter((node) => node.state !== "UpToDate").map((node) => node.name)
  if (behind.length > 0) missing.push(`node(s) ${behind.join(", ")} have not applied the current hosts config`)
  const scheduled = report.workloads.find((workload) => workload.kind === "DaemonSet")?.desired ?? 0
  if (reporting.length < scheduled) missing.push(`${reporting.length} of ${scheduled} hosts-updater nodes have reported`)
  return missing.length === 0 ? { done: true } : { done: false, detail: missing.join("; ") }
}
