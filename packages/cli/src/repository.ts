// The clone this package's sources run from (`npm start`, `npm run bundle`, `npm run package`): its root holds the
// local cache (.cache/), the manifests and the dist/ the single executable is written to.
import { join } from "node:path"

export const repositoryRoot = join(import.meta.dirname, "..", "..", "..")
