#!/usr/bin/env node
// The `tcr-assistant` command of the packed package (`npm pack`, then `npm install -g ./tcr-assistant-*.tgz`), also
// as `kubectl-tcr_assistant`: the CLI's own launcher, from the bundled @tcr-assistant/cli, which runs its compiled
// dist/ there (the package ships no TypeScript sources).
import "../node_modules/@tcr-assistant/cli/bin/tcr-assistant.js"
