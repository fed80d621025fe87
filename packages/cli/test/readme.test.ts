// The README is the product's manual; a merge that keeps two versions of a section leaves users reading both.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, test } from "vitest"

const readme = readFileSync(join(import.meta.dirname, "..", "..", "..", "README.md"), "utf8")

/** Markdown headings outside fenced code blocks (a `#` comment in a shell block is not a heading). */
const headings = (text: string): ReadonlyArray<string> => {
  let fenced = false
  const found: Array<string> = []
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced
    else if (!fenced && /^#{1,6} /.test(line)) found.push(line)
  }
  return found
}

test("every README heading appears once", () => {
  const seen = new Map<string, number>()
  for (const heading of headings(readme)) seen.set(heading, (seen.get(heading) ?? 0) + 1)
  expect([...seen].filter(([, count]) => count > 1).map(([heading]) => heading)).toEqual([])
})

test("every fenced block of the README is closed", () => {
  expect(readme.split("\n").filter((line) => line.startsWith("```")).length % 2).toBe(0)
})
