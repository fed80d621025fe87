// Properties of the pure hosts-file merge: idempotence, preservation of the user's lines, exactly one block that
// reflects the config, parse/render round trip, CRLF files and a missing final newline.
import { fc, it } from "@fast-check/vitest"
import { assert, describe } from "vitest"
import { Result } from "effect"
import { beginMarker, endMarker, mergeManagedBlock, readManagedBlock, renderBlockLines } from "@tcr-assistant/hosts-updater/hosts-block"
import { parseHostsConfig, type HostsConfig } from "@tcr-assistant/hosts-updater/hosts-config"

const empty: HostsConfig = { entries: [] }

// Configs: names drawn from a small pool so that they collide with hand-written lines and with each other.
const namePool = ["reg.example.com", "reg-vpc.example.com", "a.b", "x1", "mirror.internal", "REG.Example.com"]
const hostname = fc.oneof(fc.constantFrom(...namePool), fc.domain())
const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom("10.0.0.1", "::1", "0:0:0:0:0:0:0:1"))
const entry = fc.record({ address, names: fc.array(hostname, { minLength: 1, maxLength: 4 }) })

const configText = (config: HostsConfig): string =>
  config.entries.map((e) => `${e.address} ${e.names.join(" ")}`).join("\n")

/** Only configs the parser accepts (no name with two addresses of one family) can reach the merge. */
const validConfig = fc
  .array(entry, { maxLength: 6 })
  .map((entries): HostsConfig => ({ entries }))
  .filter((config) => Result.isSuccess(parseHostsConfig(configText(config))))
const nonEmptyConfig = validConfig.filter((config) => config.entries.length > 0)

// Hosts files: lines of any bytes (read as latin1) except the newline, among them hand-written entries that list
// managed names, comments, blank lines, stray carriage returns and tabs.
const lineChar = fc.constantFrom(" ", "\t", "\r", "#", "a", "Z", "0", "9", ".", ":", "-", "_", "\u0000", "\u00e9", "\u00ff")
const isMarker = (text: string): boolean => {
  const trimmed = text.trim()
  return trimmed.startsWith(beginMarker) || trimmed.startsWith(endMarker)
}
const userText = fc
  .oneof(
    fc.string({ unit: lineChar, maxLength: 30 }),
    fc.constant(""),
    fc.tuple(address, fc.array(hostname, { minLength: 1, maxLength: 3 })).map(([a, names]) => `${a}\t${names.join(" ")}`),
    fc.string({ maxLength: 20 }).map((text) => `# ${text.replaceAll("\n", " ")}`)
  )
  .filter((text) => !isMarker(text))
const eolOf = fc.constantFrom("\n", "\r\n")

interface UserLine {
  readonly text: string
  readonly eol: string
}
const userLines = fc.array(fc.record({ text: userText, eol: eolOf }), { maxLength: 12 })

/** A file from lines; `finalNewline: false` drops the last terminator. */
const fileOf = (lines: ReadonlyArray<UserLine>, finalNewline: boolean): string =>
  lines.map((line, index) => line.text + (index === lines.length - 1 && !finalNewline ? "" : line.eol)).join("")

const userFile = fc
  .tuple(userLines, fc.boolean())
  .map(([lines, finalNewline]) => fileOf(lines, finalNewline))

// Files that also carry leftovers of earlier runs: well-formed old blocks, torn begin markers with any declared
// count, stray end markers.
const junk = fc.oneof(
  validConfig.map((config) => renderBlockLines(config)),
  fc.nat({ max: 5 }).map((count) => [`${beginMarker} (${count} lines)`]),
  fc.constant([beginMarker]),
  fc.constant([`  ${endMarker}  `])
)
const messyFile = fc
  .tuple(fc.array(fc.oneof(userText.map((text) => [text]), junk), { maxLength: 10 }), eolOf, fc.boolean())
  .map(([chunks, eol, finalNewline]) => fileOf(chunks.flat().map((text) => ({ text, eol })), finalNewline))

const anyFile = fc.oneof(userFile, messyFile)

const dominantEol = (file: string): string => {
  const crlf = file.split("\r\n").length - 1
  const lf = file.split("\n").length - 1 - crlf
  return crlf > lf ? "\r\n" : "\n"
}

const countMarkers = (content: string) => {
  const lines = content.split("\n").map((line) => line.trim())
  return {
    begins: lines.filter((line) => line.startsWith(beginMarker)).length,
    ends: lines.filter((line) => line.startsWith(endMarker)).length,
    beginAt: lines.findIndex((line) => line.startsWith(beginMarker)),
    endAt: lines.findIndex((line) => line.startsWith(endMarker))
  }
}

describe("mergeManagedBlock", () => {
  it.prop([anyFile, validConfig])("is idempotent", (file, config) => {
    const once = mergeManagedBlock(file, config)
    const twice = mergeManagedBlock(once.content, config)
    assert.strictEqual(twice.content, once.content)
    assert.isFalse(twice.changed)
    assert.deepStrictEqual(twice.repairs, [])
    assert.deepStrictEqual(twice.warnings, once.warnings)
  })

  it.prop([userFile, validConfig])(
    "keeps every line of a file without a block, appending the block after them",
    (file, config) => {
      const merged = mergeManagedBlock(file, config).content
      if (config.entries.length === 0) {
        assert.strictEqual(merged, file)
        return
      }
      const missingFinalNewline = file.length > 0 && !file.endsWith("\n")
      // A last line ending in a bare CR is terminated with CRLF so that the CR stays part of its text.
      const lastLineEol = missingFinalNewline && file.endsWith("\r") ? "\r\n" : undefined
      const eol = dominantEol(file + (lastLineEol ?? ""))
      const expected = file + (missingFinalNewline ? lastLineEol ?? eol : "") + renderBlockLines(config).join(eol) +
        (missingFinalNewline ? "" : eol)
      assert.strictEqual(merged, expected)
    }
  )

  it.prop([userFile, validConfig, validConfig])(
    "gives back the exact original file once the block is removed, whatever configs came between",
    (file, first, second) => {
      const withFirst = mergeManagedBlock(file, first).content
      const withSecond = mergeManagedBlock(withFirst, second).content
      assert.strictEqual(mergeManagedBlock(withSecond, empty).content, file)
    }
  )

  it.prop([fc.array(fc.oneof(userText.map((text) => ({ text, user: true })), validConfig.map((config) => ({
    text: renderBlockLines(config).join("\n"),
    user: false
  }))), { maxLength: 10 }), nonEmptyConfig])(
    "keeps the user's lines, in order, around old blocks it replaces",
    (chunks, config) => {
      const file = chunks.filter((chunk) => chunk.text !== "" || chunk.user).map((chunk) => chunk.text + "\n").join("")
      const userTexts = chunks.filter((chunk) => chunk.user).map((chunk) => chunk.text)
      const merged = mergeManagedBlock(file, config).content
      const { beginAt, endAt } = countMarkers(merged)
      const lines = merged.split("\n").slice(0, -1)
      const outside = [...lines.slice(0, beginAt), ...lines.slice(endAt + 1)]
      assert.deepStrictEqual(outside, userTexts)
    }
  )

  it.prop([anyFile, validConfig])("leaves exactly one block, or none for the empty config", (file, config) => {
    const { begins, ends, beginAt, endAt } = countMarkers(mergeManagedBlock(file, config).content)
    const expected = config.entries.length === 0 ? 0 : 1
    assert.strictEqual(begins, expected)
    assert.strictEqual(ends, expected)
    assert.isTrue(beginAt <= endAt)
  })

  it.prop([anyFile, validConfig])("writes a block that reflects exactly the config", (file, config) => {
    const merged = mergeManagedBlock(file, config).content
    assert.deepStrictEqual(readManagedBlock(merged), config.entries.length === 0 ? undefined : config)
  })

  it.prop([anyFile, nonEmptyConfig])(
    "keeps CRLF files CRLF",
    (file, config) => {
      const crlfFile = file.replaceAll("\r\n", "\n").replaceAll("\n", "\r\n")
      const merged = mergeManagedBlock(crlfFile, config).content
      // A file with no terminated line has no convention yet; the block then uses LF.
      if (crlfFile.includes("\r\n")) assert.notMatch(merged, /(^|[^\r])\n/)
    }
  )

  it.prop([userFile, validConfig])("keeps the final newline as it was", (file, config) => {
    const merged = mergeManagedBlock(file, config).content
    if (merged.length > 0) assert.strictEqual(merged.endsWith("\n"), file.length === 0 || file.endsWith("\n"))
  })

  it.prop([userFile, nonEmptyConfig])("reports every managed name the user lists by hand", (file, config) => {
    const { warnings } = mergeManagedBlock(file, config)
    const managed = new Set(config.entries.flatMap((entry) => entry.names.map((name) => name.toLowerCase())))
    const handListed = file.split("\n").flatMap((line, index) => {
      const [first, ...names] = line.replace(/#.*/, "").split(/[ \t\r]+/).filter((field) => field !== "")
      const isAddress = first !== undefined && Result.isSuccess(parseHostsConfig(`${first} x`))
      return isAddress ? names.filter((name) => managed.has(name.toLowerCase())).map((name) => `${index + 1} ${name}`) : []
    })
    assert.deepStrictEqual(warnings.map((w) => `${w.line} ${w.name}`), handListed)
  })
})

describe("parseHostsConfig and the block", () => {
  it.prop([validConfig])("parse of a rendered block gives back the config", (config) => {
    const body = renderBlockLines(config).slice(1, -1).join("\n")
    assert.deepStrictEqual(parseHostsConfig(body), Result.succeed(config))
  })

  it.prop([validConfig, fc.array(fc.constantFrom("", "# note", "  \t", "\r"), { maxLength: 4 })])(
    "parse ignores comments and blank lines, and render then parse is stable",
    (config, noise) => {
      const text = [...noise, ...config.entries.map((e) => `  ${e.address}\t${e.names.join("  ")} # c`), ...noise].join("\n")
      const parsed = parseHostsConfig(text)
      assert.deepStrictEqual(parsed, Result.succeed(config))
      const merged = mergeManagedBlock("", config).content
      assert.deepStrictEqual(readManagedBlock(merged), config.entries.length === 0 ? undefined : config)
    }
  )
})
