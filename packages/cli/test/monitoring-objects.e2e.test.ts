// The monitoring component against the real schemas: the Prometheus Operator's ServiceMonitor and PrometheusRule
// CRDs (from its pinned Go module) applied to the local control plane, and every object of manifests/monitoring/
// accepted by the apiserver's validation in a server-side dry run.
import { applyManifestFile } from "@tcr-assistant/testkit/apply-manifests"
import { monitoringCrdFiles } from "@tcr-assistant/testkit/monitoring-crds"
import { kubectl } from "@tcr-assistant/testkit/processes"
import { join } from "node:path"
import { beforeAll, expect, inject, test } from "vitest"

const component = join(import.meta.dirname, "..", "..", "..", "manifests", "monitoring")

beforeAll(async () => {
  const crds = await monitoringCrdFiles()
  await applyManifestFile(inject("kubeconfigPath"), crds.serviceMonitors)
  await applyManifestFile(inject("kubeconfigPath"), crds.prometheusRules)
  const namespace = await kubectl(inject("kubeconfigPath"), ["create", "namespace", "tcr-assistant-system"])
  expect(namespace.status === 0 || namespace.stderr.includes("AlreadyExists"), namespace.stderr).toBe(true)
})

test("the ServiceMonitor, PrometheusRule, metrics Services and dashboard pass the apiserver's validation", async () => {
  const result = await kubectl(inject("kubeconfigPath"), ["apply", "--server-side", "--dry-run=server", "-k", component])
  expect(result.status, result.stderr).toBe(0)
  for (const object of [
    "service/tcr-assistant-controller-manager-metrics",
    "service/tcr-assistant-hosts-updater-metrics",
    "configmap/tcr-assistant-grafana-dashboard",
    "servicemonitor.monitoring.coreos.com/tcr-assistant",
    "prometheusrule.monitoring.coreos.com/tcr-assistant"
  ]) expect(result.stdout).toContain(`${object} serverside-applied (server dry run)`)
})

test("a ServiceMonitor the schema forbids is refused, so the check above means something", async () => {
  const invalid = JSON.stringify({
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: { name: "invalid", namespace: "tcr-assistant-system" },
    spec: { selector: {}, endpoints: [{ port: "https-metrics", scheme: "gopher" }] }
  })
  const result = await kubectl(inject("kubeconfigPath"), ["apply", "--server-side", "--dry-run=server", "-f", "-"], invalid)
  expect(result.status).not.toBe(0)
  expect(result.stderr).toContain("scheme")
})
