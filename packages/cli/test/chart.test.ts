// The committed chart under charts/tcr-assistant/ is exactly what the code generates (npm run manifests), and its
// templates only use values that values.yaml defines.
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { expect, test } from "vitest"
import { parse } from "yaml"
import { renderChartFiles } from "../src/chart.ts"
import { chartValues } from "../src/chart-values.ts"

const root = join(import.meta.dirname, "..", "..", "..", "charts", "tcr-assistant")

const filesUnder = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? filesUnder(path) : [relative(root, path)]
  })

test("every chart file is committed as the code generates it", () => {
  for (const [path, content] of renderChartFiles()) {
    let committed: string
    try {
      committed = readFileSync(join(root, path), "utf8")
    } catch {
      throw new Error(`charts/tcr-assistant/${path} is missing: run npm run manifests`)
    }
    expect(committed, `charts/tcr-assistant/${path} is stale: run npm run manifests`).toBe(content)
  }
})

test("no file under charts/tcr-assistant/ is left over from an older version of the code", () => {
  const generated = new Set(renderChartFiles().keys())
  expect(filesUnder(root).filter((path) => !generated.has(path))).toEqual([])
})

test("every .Values path a template reads is defined in values.yaml", () => {
  const values = parse(readFileSync(join(root, "values.yaml"), "utf8"))
  expect(values).toEqual(chartValues())
  const used = new Set<string>()
  for (const [path, content] of renderChartFiles()) {
    if (!path.startsWith("templates/")) continue
    for (const match of content.matchAll(/\.Values((?:\.\w+)+)/g)) used.add(match[1]!.slice(1))
  }
  expect(used.size).toBeGreaterThan(5)
  for (const path of used) {
    const value = path.split(".").reduce<any>((node, key) => node?.[key], values)
    expect(value, `.Values.${path}`).toBeDefined()
  }
})
