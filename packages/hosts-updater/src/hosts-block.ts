// The managed block of a hosts file: rendering it from a config and merging it into a file's existing content.
import type { HostsConfig, HostsEntry } from "./hosts-config.ts"
import { addressFamily, canonicalAddress, hostnameKey, lineFields, type AddressFamily } from "./hosts-syntax.ts"

/** Every begin marker starts with this text; the rest of the line says how many entry lines follow. */
export const beginMarker = "# BEGIN tcr-assistant managed hosts"
export const endMarker = "# END tcr-assistant managed hosts"
const beginNotice = "from ConfigMap tcr-assistant-system/updater-config; edits here are overwritten"

type Eol = "" | "\n" | "\r\n"

interface Line {
  readonly text: string
  readonly eol: Eol
}

/** A hand-written line outside the block that names a managed host. Reported, never changed. */
export interface HandListedName {
  readonly name: string
  /** 1-based line number in the merged content. */
  readonly line: number
  readonly address: string
  /** The managed addresses of `name`, as configured. */
  readonly managedAddresses: ReadonlyArray<string>
  /**
   * `same-address`: harmless duplicate. `conflicting-address`: the same family, another address; resolvers that
   * stop at the first match return whichever line comes first (`listedBeforeBlock`). `other-family`: the hand
   * entry adds an address of a family the block does not set for this name.
   */
  readonly relation: "same-address" | "conflicting-address" | "other-family"
  readonly listedBeforeBlock: boolean
  readonly message: string
}

export interface MergeResult {
  readonly content: string
  readonly changed: boolean
  /** What was wrong with the existing markers and how it was fixed, one sentence each (lines of `existing`). */
  readonly repairs: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<HandListedName>
}

/**
 * Splits content into lines that keep their own terminators, so that joining them gives back the exact input.
 * Only `\n` ends a line; a `\r` before it belongs to the terminator, any other `\r` to the text.
 */
const splitLines = (content: string): Array<Line> => {
  const lines: Array<Line> = []
  let start = 0
  while (start < content.length) {
    const newline = content.indexOf("\n", start)
    if (newline === -1) {
      lines.push({ text: content.slice(start), eol: "" })
      break
    }
    const crlf = newline > start && content[newline - 1] === "\r"
    lines.push({ text: content.slice(start, crlf ? newline - 1 : newline), eol: crlf ? "\r\n" : "\n" })
    start = newline + 1
  }
  return lines
}

const joinLines = (lines: ReadonlyArray<Line>): string => lines.map((line) => line.text + line.eol).join("")

const isBegin = (line: Line): boolean => line.text.trim().startsWith(beginMarker)
const isEnd = (line: Line): boolean => line.text.trim().startsWith(endMarker)

const declaredLineCount = (line: Line): number => {
  const match = /^\((\d+) lines?\)/.exec(line.text.trim().slice(beginMarker.length).trim())
  return match === null ? 0 : Number(match[1])
}

/** Renders the block's lines, markers included, without terminators. Empty when the config has no entries. */
export const renderBlockLines = (config: HostsConfig): ReadonlyArray<string> => {
  if (config.entries.length === 0) return []
  const count = config.entries.length
  return [
    `${beginMarker} (${count} ${count === 1 ? "line" : "lines"}) ${beginNotice}`,
    ...config.entries.map((entry) => `${entry.address} ${entry.names.join(" ")}`),
    endMarker
  ]
}

interface Region {
  readonly start: number
  /** Inclusive. */
  readonly end: number
  readonly kind: "block" | "torn-block" | "stray-end"
}

/**
 * Finds every managed region. A begin marker closed by an end marker (before any other begin marker) is a block.
 * A begin marker without one is a torn block: only the entry lines its marker declared are taken as ours, never
 * more, so hand-written lines after it survive. An end marker with no begin is stray and taken alone.
 */
const findRegions = (lines: ReadonlyArray<Line>): Array<Region> => {
  const regions: Array<Region> = []
  let index = 0
  while (index < lines.length) {
    const line = lines[index]!
    if (isBegin(line)) {
      let next = index + 1
      while (next < lines.length && !isBegin(lines[next]!) && !isEnd(lines[next]!)) next++
      if (next < lines.length && isEnd(lines[next]!)) {
        regions.push({ start: index, end: next, kind: "block" })
        index = next + 1
      } else {
        const end = Math.min(index + declaredLineCount(line), next - 1)
        regions.push({ start: index, end, kind: "torn-block" })
        index = end + 1
      }
    } else if (isEnd(line)) {
      regions.push({ start: index, end: index, kind: "stray-end" })
      index++
    } else {
      index++
    }
  }
  return regions
}

const describeRepairs = (regions: ReadonlyArray<Region>): Array<string> => {
  const repairs: Array<string> = []
  const blocks = regions.filter((region) => region.kind !== "stray-end")
  if (blocks.length > 1) {
    const at = blocks.map((region) => region.start + 1).join(", ")
    repairs.push(`found ${blocks.length} managed blocks (at lines ${at}); kept one, at the place of the first`)
  }
  for (const region of regions) {
    if (region.kind === "torn-block") {
      const taken = region.end - region.start
      repairs.push(
        `the managed block at line ${region.start + 1} had no end marker; removed its begin marker and the ` +
          `${taken} entry ${taken === 1 ? "line" : "lines"} it declared`
      )
    } else if (region.kind === "stray-end") {
      repairs.push(`removed an end marker without a begin marker at line ${region.start + 1}`)
    }
  }
  return repairs
}

const majorityEol = (eols: ReadonlyArray<Eol>): "\n" | "\r\n" => {
  const crlf = eols.filter((eol) => eol === "\r\n").length
  const lf = eols.filter((eol) => eol === "\n").length
  return crlf > lf ? "\r\n" : "\n"
}

interface ManagedName {
  readonly address: string
  readonly canonical: string
  readonly family: AddressFamily
}

const managedNames = (entries: ReadonlyArray<HostsEntry>): Map<string, Array<ManagedName>> => {
  const names = new Map<string, Array<ManagedName>>()
  for (const entry of entries) {
    const family = addressFamily(entry.address)
    if (family === undefined) continue
    const managed = { address: entry.address, canonical: canonicalAddress(entry.address), family }
    for (const name of entry.names) {
      const known = names.get(hostnameKey(name)) ?? []
      if (!known.some((other) => other.canonical === managed.canonical)) known.push(managed)
      names.set(hostnameKey(name), known)
    }
  }
  return names
}

const handListedNames = (
  lines: ReadonlyArray<{ readonly text: string; readonly managed: boolean }>,
  entries: ReadonlyArray<HostsEntry>
): Array<HandListedName> => {
  const managed = managedNames(entries)
  if (managed.size === 0) return []
  const blockStart = lines.findIndex((line) => line.managed)
  const warnings: Array<HandListedName> = []
  lines.forEach((line, index) => {
    if (line.managed) return
    const [address, ...names] = lineFields(line.text)
    const family = address === undefined ? undefined : addressFamily(address)
    if (address === undefined || family === undefined) return
    const canonical = canonicalAddress(address)
    for (const name of names) {
      const known = managed.get(hostnameKey(name))
      if (known === undefined) continue
      const sameFamily = known.filter((other) => other.family === family)
      const relation = sameFamily.some((other) => other.canonical === canonical)
        ? "same-address"
        : sameFamily.length > 0
        ? "conflicting-address"
        : "other-family"
      const listedBeforeBlock = index < blockStart
      const where = `line ${index + 1} lists ${name} as ${address} outside the managed block`
      const managedAddresses = known.map((other) => other.address)
      const consequence = relation === "same-address"
        ? "which is the address the block sets too"
        : relation === "other-family"
        ? `in addition to the managed ${managedAddresses.join(", ")}`
        : listedBeforeBlock
        ? `and, being first, shadows the managed ${sameFamily.map((o) => o.address).join(", ")}`
        : `but the managed ${sameFamily.map((o) => o.address).join(", ")} comes first`
      warnings.push({
        name,
        line: index + 1,
        address,
        managedAddresses,
        relation,
        listedBeforeBlock,
        message: `${where}, ${consequence}`
      })
    }
  })
  return warnings
}

/** A line of the result whose terminator may still be "the block's", decided once every other one is known. */
interface PlannedLine {
  readonly text: string
  readonly managed: boolean
  readonly eol: Eol | "block"
}

/**
 * Puts exactly one managed block for `config` into `existing`, or none when the config is empty.
 *
 * Lines outside the managed block keep their bytes, with one exception made so that whether the file ends with a
 * newline is preserved: appending a block to a file without a final newline terminates its last line and leaves
 * the block unterminated, and removing such a block takes that terminator away again. Adding and then removing a
 * block therefore gives back the original file. The block goes where the first existing block was, else at the
 * end, and uses the terminator most lines outside it use (CRLF files stay CRLF).
 */
export const mergeManagedBlock = (existing: string, config: HostsConfig): MergeResult => {
  const lines = splitLines(existing)
  const regions = findRegions(lines)
  const removed = new Set<number>()
  for (const region of regions) {
    for (let index = region.start; index <= region.end; index++) removed.add(index)
  }
  const firstBlock = regions.find((region) => region.kind !== "stray-end")
  const insertAt = firstBlock?.start ?? lines.length
  const block = renderBlockLines(config).map((text) => ({ text, eol: "" as Eol, managed: true }))

  const merged: Array<Line & { readonly managed: boolean }> = []
  lines.forEach((line, index) => {
    if (index === insertAt) merged.push(...block)
    if (!removed.has(index)) merged.push({ ...line, managed: false })
  })
  if (insertAt === lines.length) merged.push(...block)

  const endsWithoutNewline = lines.length > 0 && lines[lines.length - 1]!.eol === ""
  const planned = merged.map((line, index): PlannedLine => {
    if (index === merged.length - 1 && endsWithoutNewline) {
      // Taking the terminator of a blank line would delete the line, so that one keeps it.
      return { ...line, eol: line.managed || line.text !== "" ? "" : line.eol }
    }
    if (line.managed) return { ...line, eol: "block" }
    // A line that gains a terminator because the block now follows it. A trailing `\r` would merge with a `\n`
    // into CRLF and be lost on the way back, so such a line is terminated with CRLF whatever the block uses.
    if (line.eol === "") return { ...line, eol: line.text.endsWith("\r") ? "\r\n" : "block" }
    return line
  })
  // Decided on the result's own outside lines, so that the next run decides the same way; a file whose only
  // terminated lines were the old block's keeps the old block's terminator.
  const outsideEols = planned.flatMap((line) => line.managed || line.eol === "block" ? [] : [line.eol])
  const eol = majorityEol(
    outsideEols.some((e) => e !== "") ? outsideEols : lines.map((line) => line.eol)
  )
  const terminated = planned.map((line): Line & { readonly managed: boolean } => ({
    ...line,
    eol: line.eol === "block" ? eol : line.eol
  }))

  const content = joinLines(terminated)
  return {
    content,
    changed: content !== existing,
    repairs: describeRepairs(regions),
    warnings: handListedNames(terminated, config.entries)
  }
}

/**
 * The entries of the first well-formed managed block in `content`, or undefined when there is none. Lines are
 * read as written, without validation: this reports what a file holds, not what it should.
 */
export const readManagedBlock = (content: string): HostsConfig | undefined => {
  const lines = splitLines(content)
  const block = findRegions(lines).find((region) => region.kind === "block")
  if (block === undefined) return undefined
  const entries = lines.slice(block.start + 1, block.end).flatMap((line) => {
    const [address, ...names] = lineFields(line.text)
    return address === undefined ? [] : [{ address, names }]
  })
  return { entries }
}
