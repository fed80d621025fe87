// What a node records about the hosts config it applied: the Node annotations, the config hash, and reading them back.
import { createHash } from "node:crypto"
import { Result } from "effect"
import { renderBlockLines } from "./hosts-block.ts"
import { hostsConfigFromData, type HostsConfig } from "./hosts-config.ts"

const prefix = "tcr.tencentcloudcr.com/"

/** Node annotations written by hosts-updater; the CLI reads them to tell which nodes are up to date. */
export const hostsAnnotations = {
  /** Hash of the config whose block the file holds (`hostsConfigHash`); the empty config's hash once removed. */
  configHash: `${prefix}hosts-config-hash`,
  /** RFC 3339 time at which the file first held that config. */
  appliedAt: `${prefix}hosts-applied-at`,
  /** Number of entry lines in the block. */
  entries: `${prefix}hosts-entries`,
  /** Why the last attempt failed; absent while the file reflects the current config. */
  error: `${prefix}hosts-error`
} as const

/**
 * A digest of the entries a config puts into the block, so comments and spacing in the ConfigMap do not count:
 * `sha256:` and the hex SHA-256 of the block's entry lines joined by newlines.
 */
export const hostsConfigHash = (config: HostsConfig): string => {
  const entryLines = renderBlockLines(config).slice(1, -1)
  return `sha256:${createHash("sha256").update(entryLines.join("\n")).digest("hex")}`
}

/** The hash nodes should report for a ConfigMap's data, or undefined when the data is invalid. */
export const expectedHostsConfigHash = (data: Readonly<Record<string, string>> | undefined): string | undefined => {
  const parsed = hostsConfigFromData(data)
  return Result.isSuccess(parsed) ? hostsConfigHash(parsed.success) : undefined
}

export interface NodeHostsState {
  readonly configHash: string | undefined
  readonly appliedAt: string | undefined
  readonly entries: number | undefined
  readonly error: string | undefined
}

/** What a Node's annotations say about its hosts file. */
export const readNodeHostsState = (annotations: Readonly<Record<string, string>> | undefined): NodeHostsState => {
  const entries = annotations?.[hostsAnnotations.entries]
  return {
    configHash: annotations?.[hostsAnnotations.configHash],
    appliedAt: annotations?.[hostsAnnotations.appliedAt],
    entries: entries === undefined || !/^\d+$/.test(entries) ? undefined : Number(entries),
    error: annotations?.[hostsAnnotations.error]
  }
}

/** Up to date: the node applied exactly `expectedHash` and reports no failure since. */
export const nodeIsUpToDate = (state: NodeHostsState, expectedHash: string): boolean =>
  state.configHash === expectedHash && state.error === undefined

/** Longest error annotation kept; the full message goes to the Event and the log. */
export const maxErrorAnnotationLength = 1024

export interface AppliedRecord {
  readonly configHash: string
  readonly entries: number
  readonly at: Date
}

/**
 * The merge patch that makes a Node's annotations say `applied` (and no error), or `error` on top of what it last
 * applied; undefined when they already do. An unchanged hash keeps its original applied-at time.
 */
export const nodeAnnotationsPatch = (
  current: Readonly<Record<string, string>> | undefined,
  applied: AppliedRecord | undefined,
  error: string | undefined
): Record<string, string | null> | undefined => {
  const wanted: Record<string, string | null> = {}
  if (applied !== undefined) {
    if (current?.[hostsAnnotations.configHash] !== applied.configHash) {
      wanted[hostsAnnotations.configHash] = applied.configHash
      wanted[hostsAnnotations.appliedAt] = applied.at.toISOString()
    }
    if (current?.[hostsAnnotations.entries] !== String(applied.entries)) {
      wanted[hostsAnnotations.entries] = String(applied.entries)
    }
  }
  const errorText = error === undefined ? undefined : error.slice(0, maxErrorAnnotationLength)
  if (errorText === undefined && current?.[hostsAnnotations.error] !== undefined) {
    wanted[hostsAnnotations.error] = null
  } else if (errorText !== undefined && current?.[hostsAnnotations.error] !== errorText) {
    wanted[hostsAnnotations.error] = errorText
  }
  return Object.keys(wanted).length === 0 ? undefined : wanted
}
