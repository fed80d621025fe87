// Start-up failures of the control plane, with stand-in binaries so no real component runs.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, assert, describe, it } from "vitest"
import { ControlPlaneError, startControlPlane } from "../src/control-plane.ts"

const scratchDirs: Array<string> = []
afterEach(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const script = (dir: string, name: string, body: string) => {
  const path = join(dir, name)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, 0o755)
  return path
}

describe("startControlPlane", () => {
  it("fails with the end of the component's log and cleans up its run directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "testkit-failing-"))
    scratchDirs.push(dir)
    const runs = join(dir, "runs")
    mkdirSync(runs)
    const never = script(dir, "never-started", "echo should not run; exit 1")
    const error = await startControlPlane({
      parentDir: runs,
      binaries: {
        etcd: script(dir, "etcd", "echo 'line one'; echo 'fatal: the disk is on fire' >&2; exit 3"),
        kubeApiServer: never,
        kubeControllerManager: never
      }
    }).catch((cause: unknown) => cause)
    assert.instanceOf(error, ControlPlaneError)
    const message = (error as Error).message
    assert.match(message, /^etcd exited \(exit code 3\) before answering \/health/)
    assert.match(message, /line one\nfatal: the disk is on fire/)
    assert.deepStrictEqual(readdirSync(runs), [])
  })
})
