// How expected errors read: what went wrong and what to do next, with the exit code the kind of failure calls for.
import { KubeRejected, KubeUnavailable } from "@tcr-assistant/kube"
import { TcrAuthError, TcrNotFoundError, TcrRateLimitedError } from "@tcr-assistant/tcr"
import { Runtime } from "effect"
import { expect, test } from "vitest"
import { exitFailure, exitUsage, kubeFailure, tcrFailure, toCommandFailed, usageFailure } from "../src/addon-failure.ts"

test("a namespace still terminating is explained as such, not as missing rights", () => {
  const terminating = new KubeRejected({
    status: 403,
    reason: "Forbidden",
    message: "apply ConfigMap tcr-assistant-system/updater-config: unable to create new content in namespace tcr-assistant-system because it is being terminated",
    causes: ["NamespaceTerminating"]
  })
  expect(kubeFailure(terminating).hint).toContain("still being deleted")
  expect(kubeFailure(new KubeRejected({ status: 403, reason: "Forbidden", message: "forbidden", causes: [] })).hint).toContain("cluster-admin")
  expect(kubeFailure(new KubeUnavailable({ message: "connect ECONNREFUSED" })).hint).toContain("--kubeconfig")
})

test("an unreachable webhook points at the controller and --webhook-url", () => {
  const failed = kubeFailure(new KubeUnavailable({
    status: 500,
    message: 'apply ImagePullSecret x: Internal error occurred: failed calling webhook "vimagepullsecret.tcr.tencentcloudcr.com": connection refused'
  }))
  expect(failed.message).toContain("validating webhook did not answer")
  expect(failed.hint).toContain("--webhook-url")
})

test("TCR failures say what to check", () => {
  const common = { action: "DescribeInstances", code: "X", message: "TCR DescribeInstances in ap-guangzhou: X" }
  expect(tcrFailure(new TcrAuthError(common)).hint).toContain("TENCENTCLOUD_SECRET_ID")
  expect(tcrFailure(new TcrNotFoundError({ ...common, region: "ap-guangzhou" })).hint).toContain("--instance-id and --region")
  expect(tcrFailure(new TcrRateLimitedError(common)).hint).toContain("nothing was changed")
})

test("failures carry exit code 1, usage errors 2, and are not logged again by the runtime", () => {
  const failed = toCommandFailed(new KubeUnavailable({ message: "down" }))
  expect(Runtime.getErrorExitCode(failed)).toBe(exitFailure)
  expect(Runtime.getErrorExitCode(usageFailure("--region must not be empty"))).toBe(exitUsage)
  expect((failed as unknown as Record<string, unknown>)[Runtime.errorReported]).toBe(false)
})
