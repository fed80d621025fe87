// The desired hosts entries: the `hosts` key of the updater-config ConfigMap, parsed and validated as a whole.
import { Result, Schema } from "effect"
import { addressFamily, addressProblem, canonicalAddress, hostnameKey, hostnameProblem, lineFields } from "./hosts-syntax.ts"

/** One `IP name [name...]` line, as the operator wrote it. */
export interface HostsEntry {
  readonly address: string
  readonly names: ReadonlyArray<string>
}

/** The entries to manage, in the order they were given. No entries means "no managed block". */
export interface HostsConfig {
  readonly entries: ReadonlyArray<HostsEntry>
}

export const emptyHostsConfig: HostsConfig = { entries: [] }

/** The ConfigMap key holding the entries. */
export const hostsConfigKey = "hosts"

export const HostsViolation = Schema.Struct({
  /** 1-based line number within the `hosts` value. */
  line: Schema.Int,
  message: Schema.String
})
export type HostsViolation = typeof HostsViolation.Type

/** The `hosts` value was rejected; nothing of it is applied. Editing the ConfigMap is the only fix. */
export class HostsConfigInvalid extends Schema.TaggedError<HostsConfigInvalid>()("HostsConfigInvalid", {
  violations: Schema.Array(HostsViolation)
}) {
  readonly retryable = false
  override get message(): string {
    const shown = this.violations.map((v) => `line ${v.line}: ${v.message}`)
    return `invalid "${hostsConfigKey}" in updater-config: ${shown.join("; ")}`
  }
}

interface FirstSeen {
  readonly line: number
  readonly address: string
  readonly canonical: string
}

/**
 * Parses hosts-file syntax (`IP name [name...]`, `#` comments, IPv4 and IPv6) and returns either every entry or
 * every violation, each with its line number, never a part of the entries.
 *
 * A name may have one IPv4 and one IPv6 address (as `localhost` does); two different addresses of the same family
 * are a conflict, since resolvers would return one of them depending on their configuration.
 */
export const parseHostsConfig = (text: string): Result.Result<HostsConfig, HostsConfigInvalid> => {
  const entries: Array<HostsEntry> = []
  const violations: Array<HostsViolation> = []
  const seen = new Map<string, FirstSeen>()
  const lines = text.split("\n")
  lines.forEach((raw, index) => {
    const line = index + 1
    const fields = lineFields(raw)
    const [address, ...names] = fields
    if (address === undefined) return
    const badAddress = addressProblem(address)
    if (badAddress !== undefined) violations.push({ line, message: badAddress })
    if (names.length === 0) violations.push({ line, message: `"${address}" has no hostname after it` })
    const badNames = names.flatMap((name) => {
      const problem = hostnameProblem(name)
      return problem === undefined ? [] : [problem]
    })
    for (const message of badNames) violations.push({ line, message })
    if (badAddress !== undefined || names.length === 0 || badNames.length > 0) return
    const canonical = canonicalAddress(address)
    const family = addressFamily(address)
    for (const name of names) {
      const key = `${family}/${hostnameKey(name)}`
      const first = seen.get(key)
      if (first === undefined) {
        seen.set(key, { line, address, canonical })
      } else if (first.canonical !== canonical) {
        violations.push({
          line,
          message: `"${name}" is given ${address} here but ${first.address} on line ${first.line}`
        })
      }
    }
    entries.push({ address, names })
  })
  if (violations.length > 0) return Result.fail(new HostsConfigInvalid({ violations }))
  return Result.succeed({ entries })
}

/** The config held by a ConfigMap's data; a missing ConfigMap or key is the empty config. */
export const hostsConfigFromData = (
  data: Readonly<Record<string, string>> | undefined
): Result.Result<HostsConfig, HostsConfigInvalid> => parseHostsConfig(data?.[hostsConfigKey] ?? "")
