// Summarises a V8 heap snapshot (as `npm run bench -- --heap-snapshot` writes) by what holds the memory: the
// self size of every object grouped by its constructor or kind, largest first. Prints figures only.
//
//   node packages/controller/bench/heap-summary.ts <file.heapsnapshot> [--top 30]
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" } } })
const file = positionals[0]
if (file === undefined) {
  console.error("usage: heap-summary.ts <file.heapsnapshot> [--top 30]")
  process.exit(2)
}

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: ReadonlyArray<string>; readonly node_types: ReadonlyArray<ReadonlyArray<string> | string> } }
  readonly nodes: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
}

const heap = JSON.parse(readFileSync(file, "utf8")) as Snapshot
const fields = heap.snapshot.meta.node_fields
const kinds = heap.snapshot.meta.node_types[0] as ReadonlyArray<string>
const width = fields.length
const at = (name: string) => fields.indexOf(name)
const [typeAt, nameAt, sizeAt] = [at("type"), at("name"), at("self_size")]

/** Objects by constructor name; strings, code, arrays and the rest by their kind. */
const groups = new Map<string, { count: number; bytes: number }>()
let total = 0
for (let i = 0; i < heap.nodes.length; i += width) {
  const kind = kinds[heap.nodes[i + typeAt]!]!
  const bytes = heap.nodes[i + sizeAt]!
  const group = kind === "object" || kind === "closure" ? `${kind} ${heap.strings[heap.nodes[i + nameAt]!]}` : kind
  const entry = groups.get(group) ?? { count: 0, bytes: 0 }
  entry.count++
  entry.bytes += bytes
  groups.set(group, entry)
  total += bytes
}
console.log(`${(total / 1024 / 1024).toFixed(1)} MiB in ${heap.nodes.length / width} heap objects`)
for (const [group, { count, bytes }] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))) {
  console.log(`${(bytes / 1024 / 1024).toFixed(2).padStart(8)} MiB ${String(count).padStart(9)}  ${group}`)
}
