// Every manifest as one YAML stream, in the order `kubectl apply` needs them (what `tcr-assistant render` prints).
import { renderManifests } from "./manifests.ts"

export const renderAllManifests = (): string =>
  [...renderManifests().values()].map((content) => content.trimEnd()).join("\n---\n")
