// Summarises a V8 sampling heap profile (as `npm run bench -- --alloc-profile` writes, collected objects included):
// the bytes allocated by each function itself, and by each function with everything it called, largest first.
// Prints figures only.
//
//   node packages/controller/bench/alloc-summary.ts <file.heapprofile> [--top 30]
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" } } })
const file = positionals[0]
if (file === undefined) {
  console.error("usage: alloc-summary.ts <file.heapprofile> [--top 30]")
  process.exit(2)
}

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<ProfileNode>
}

const { head } = JSON.parse(readFileSync(file, "utf8")) as { readonly head: ProfileNode }
const own = new Map<string, number>()
const withCallees = new Map<string, number>()
let total = 0

const frameName = ({ callFrame }: ProfileNode) =>
  `${callFrame.functionName || "(anonymous)"} ${callFrame.url.split("/").slice(-2).join("/") || "(native)"}:${callFrame.lineNumber + 1}`

/** Bytes under `node`; a function's inclusive figure counts each stack once, however deep it recurses. */
const visit = (node: ProfileNode, onStack: ReadonlySet<string>): number => {
  const name = frameName(node)
  own.set(name, (own.get(name) ?? 0) + node.selfSize)
  total += node.selfSize
  const inner = new Set(onStack).add(name)
  const bytes = node.children.reduce((sum, child) => sum + visit(child, inner), node.selfSize)
  if (!onStack.has(name)) withCallees.set(name, (withCallees.get(name) ?? 0) + bytes)
  return bytes
}
visit(head, new Set())

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1).padStart(8)
const top = Number(values.top)
const print = (title: string, figures: ReadonlyMap<string, number>) => {
  console.log(title)
  for (const [name, bytes] of [...figures].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${mib(bytes)} MiB ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${name}`)
  }
}
console.log(`${mib(total)} MiB allocated (sampled)`)
print("allocated by the function itself:", own)
print("allocated by the function and what it called:", withCallees)
