// The committed manifests are exactly what the code generates (run `npm run manifests` after changing the schema).
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, test } from "vitest"
import { renderManifests } from "../src/manifests.ts"

const root = join(import.meta.dirname, "..", "..", "..", "manifests")

test("every generated manifest is committed and up to date", () => {
  for (const [path, content] of renderManifests()) {
    let committed: string
    try {
      committed = readFileSync(join(root, path), "utf8")
    } catch {
      throw new Error(`manifests/${path} is missing: run npm run manifests`)
    }
    expect(committed, `manifests/${path} is stale: run npm run manifests`).toBe(content)
  }
})
