// Writes the generated manifests into the repository (npm run manifests).
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { renderManifestFiles } from "./manifests.ts"

const root = join(import.meta.dirname, "..", "..", "..", "manifests")
for (const [path, content] of renderManifestFiles()) {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), content)
  console.log(`wrote manifests/${path}`)
}
