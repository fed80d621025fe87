// `tcr-assistant controller` against a cluster where the add-on is not installed: it says in one line what to do and
// exits 1, instead of dying inside leader election or the webhook's TLS with a stack trace.
import { spawnTied } from "@tcr-assistant/testkit/process-lifeline"
import { expect, inject, test } from "vitest"
import { mainPath } from "./install-e2e-support.ts"

const run = async (args: ReadonlyArray<string>) => {
  const tied = spawnTied(process.execPath, [mainPath, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } })
  let stdout = ""
  let stderr = ""
  tied.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  tied.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const { code } = await tied.exited
  return { code, stdout, stderr }
}

test("a missing add-on namespace ends the controller with one line saying what to do", async () => {
  const namespace = `not-installed-${process.pid.toString(36)}`
  const result = await run([
    "controller",
    "--kubeconfig",
    inject("kubeconfigPath"),
    "--namespace",
    namespace,
    "--health-port",
    "0",
    "--webhook-port",
    "0",
    "--log-format",
    "text"
  ])
  expect(result.code).toBe(1)
  const lines = result.stderr.trim().split("\n")
  expect(lines).toEqual([
    `error: namespace ${namespace} does not exist: install the add-on first (kubectl apply --server-side -k manifests/), or pass --namespace with the namespace it is installed in`
  ])
  expect(result.stdout + result.stderr).not.toMatch(/WebhookTlsError|\n\s+at /)
})
