// Writes the generated manifests and the Helm chart into the repository (npm run manifests).
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { renderChartFiles } from "./chart.ts"
import { renderManifestFiles } from "./manifests.ts"

const root = join(import.meta.dirname, "..", "..", "..", "manifests")
for (const [path, content] of renderManifestFiles()) {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), content)
  console.log(`wrote manifests/${path}`)
}

const chartRoot = join(import.meta.dirname, "..", "..", "..", "charts", "tcr-assistant")
for (const [path, content] of renderChartFiles()) {
  mkdirSync(dirname(join(chartRoot, path)), { recursive: true })
  writeFileSync(join(chartRoot, path), content)
  console.log(`wrote charts/tcr-assistant/${path}`)
}
