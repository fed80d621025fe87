// install refuses clusters older than Kubernetes 1.30, whose apiservers would drop the webhooks' matchConditions.
import { expect, test } from "vitest"
import { kubernetesVersionProblem } from "../src/addon-cluster.ts"

test("1.30 and later pass, providers' suffixes included; older versions are refused with the reason", () => {
  for (const version of [{ major: "1", minor: "30" }, { major: "1", minor: "34" }, { major: "1", minor: "31+" }, { major: "2", minor: "0" }]) {
    expect(kubernetesVersionProblem(version), JSON.stringify(version)).toBeUndefined()
  }
  expect(kubernetesVersionProblem({ major: "1", minor: "29+", gitVersion: "v1.29.4-eks-1" })).toBe(
    "the cluster runs Kubernetes v1.29.4-eks-1; tcr-assistant needs 1.30 or later (its webhooks use matchConditions)"
  )
  expect(kubernetesVersionProblem({ major: "1", minor: "27" })).toContain("Kubernetes 1.27;")
})

test("an unreadable version does not block an install", () => {
  expect(kubernetesVersionProblem({})).toBeUndefined()
  expect(kubernetesVersionProblem({ major: "", minor: "x" })).toBeUndefined()
})
