// Owns the optional monitoring objects for a Prometheus Operator cluster, a kustomize component under
// manifests/monitoring/: Services in front of both programs' secure /metrics, a ServiceMonitor that scrapes them with
// Prometheus's own ServiceAccount token, and a PrometheusRule whose alerts the README's runbook explains.
import { defaultWebhookNamespace } from "@tcr-assistant/controller/webhook-tls"

const namespace = defaultWebhookNamespace
const portName = "https-metrics"
const metricsPort = 8443
const monitoredLabel = "tcr.tencentcloudcr.com/metrics"

export const controllerMetricsService = "tcr-assistant-controller-manager-metrics"
export const hostsUpdaterMetricsService = "tcr-assistant-hosts-updater-metrics"

const labels = (component: string) => ({
  "app.kubernetes.io/name": "tcr-assistant",
  "app.kubernetes.io/component": component,
  [monitoredLabel]: "true"
})

const metricsService = (name: string, component: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace, labels: labels(component) },
  spec: {
    selector: { "app.kubernetes.io/name": "tcr-assistant", "app.kubernetes.io/component": component },
    ports: [{ name: portName, port: metricsPort, targetPort: portName, protocol: "TCP" }]
  }
})

const serviceMonitor = {
  apiVersion: "monitoring.coreos.com/v1",
  kind: "ServiceMonitor",
  metadata: { name: "tcr-assistant", namespace, labels: labels("monitoring") },
  spec: {
    selector: { matchLabels: { [monitoredLabel]: "true" } },
    namespaceSelector: { matchNames: [namespace] },
    endpoints: [{
      port: portName,
      scheme: "https",
      path: "/metrics",
      interval: "30s",
      // The programs check this token with a TokenReview and a SubjectAccessReview; the README's RBAC lets it in.
      bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
      // The serving certificate is self-signed at start, as kubebuilder's default is.
      tlsConfig: { insecureSkipVerify: true },
      relabelings: [{ sourceLabels: ["__meta_kubernetes_pod_node_name"], targetLabel: "node" }]
    }]
  }
}

const jobs = `${controllerMetricsService}|${hostsUpdaterMetricsService}`

export interface AlertRule {
  readonly alert: string
  readonly expr: string
  readonly for: string
  readonly labels: { readonly severity: "warning" | "critical" }
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string }
}

const runbook = (alert: string) => `https://github.com/tcr-assistant/tcr-assistant#${alert.toLowerCase()}`

const alert = (name: string, expr: string, duration: string, severity: "warning" | "critical", summary: string, description: string): AlertRule => ({
  alert: name,
  expr,
  for: duration,
  labels: { severity },
  annotations: { summary, description, runbook_url: runbook(name) }
})

/** The alerts, in the order the runbook lists them. */
export const alertRules: ReadonlyArray<AlertRule> = [
  alert(
    "TcrAssistantTargetDown",
    `up{job=~"${jobs}"} == 0`,
    "10m",
    "warning",
    "Prometheus cannot scrape tcr-assistant",
    "{{ $labels.job }} at {{ $labels.instance }} has not answered a scrape for 10 minutes."
  ),
  alert(
    "TcrAssistantNoLeader",
    `(sum(tcr_assistant_leader{job="${controllerMetricsService}"}) or vector(0)) < 1`,
    "1m",
    "critical",
    "No tcr-assistant controller leads",
    "No controller-manager replica has held the leader Lease for a minute: pull Secrets are not being distributed."
  ),
  alert(
    "TcrAssistantRegistryTokenExpiring",
    "tcr_assistant_registry_token_expiry_timestamp_seconds - time() < 300",
    "0m",
    "critical",
    "A registry token is about to expire without a renewal",
    "The token minted for ImagePullSecret {{ $labels.imagepullsecret }} expires in less than 5 minutes; renewals have failed."
  ),
  alert(
    "TcrAssistantWatchStale",
    `time() - tcr_assistant_watch_last_event_timestamp_seconds{job=~"${jobs}"} > 900`,
    "5m",
    "warning",
    "A tcr-assistant watch has gone silent",
    "The {{ $labels.informer }} informer of {{ $labels.instance }} has heard nothing from the apiserver for over 15 minutes."
  ),
  alert(
    "TcrAssistantHostsConfigNotApplied",
    `tcr_assistant_hosts_updater_ready{job="${hostsUpdaterMetricsService}"} == 0 or tcr_assistant_hosts_updater_config_valid{job="${hostsUpdaterMetricsService}"} == 0`,
    "10m",
    "warning",
    "A node's hosts file does not follow the updater-config ConfigMap",
    "hosts-updater on {{ $labels.node }} has not applied the updater-config ConfigMap for 10 minutes (unready, or the config is invalid)."
  ),
  alert(
    "TcrAssistantHostsConfigDiffers",
    `count(count by (hash) (tcr_assistant_hosts_updater_applied_config_info{job="${hostsUpdaterMetricsService}"})) > 1`,
    "10m",
    "warning",
    "Nodes hold different hosts configs",
    "The nodes' hosts files have held {{ $value }} different configs for 10 minutes: some nodes do not follow the ConfigMap."
  ),
  alert(
    "TcrAssistantWebhookErrors",
    `sum by (webhook) (rate(tcr_assistant_webhook_requests_total{result="error",job="${controllerMetricsService}"}[5m])) > 0`,
    "5m",
    "warning",
    "The tcr-assistant webhook denies requests because of internal errors",
    "The {{ $labels.webhook }} webhook answered errors for 5 minutes."
  ),
  alert(
    "TcrAssistantTargetsFailing",
    "sum by (imagepullsecret) (tcr_assistant_failing_targets) > 0",
    "15m",
    "warning",
    "An ImagePullSecret cannot reach some of its targets",
    "ImagePullSecret {{ $labels.imagepullsecret }} has had {{ $value }} failing targets for 15 minutes."
  )
]

/** The rule groups, as a Prometheus rule file holds them (and the PrometheusRule's spec). */
export const ruleGroups = { groups: [{ name: "tcr-assistant", rules: alertRules }] }

const prometheusRule = {
  apiVersion: "monitoring.coreos.com/v1",
  kind: "PrometheusRule",
  metadata: { name: "tcr-assistant", namespace, labels: labels("monitoring") },
  spec: ruleGroups
}

/** Object files under manifests/monitoring/. */
export const monitoringObjectFiles = (): ReadonlyArray<{ readonly path: string; readonly objects: ReadonlyArray<unknown> }> => [
  {
    path: "monitoring/metrics-services.yaml",
    objects: [metricsService(controllerMetricsService, "controller-manager"), metricsService(hostsUpdaterMetricsService, "hosts-updater")]
  },
  { path: "monitoring/service-monitor.yaml", objects: [serviceMonitor] },
  { path: "monitoring/prometheus-rule.yaml", objects: [prometheusRule] }
]

/** manifests/monitoring/kustomization.yaml: an optional component (`components: [monitoring]` in an overlay). */
export const monitoringComponent = () => ({
  apiVersion: "kustomize.config.k8s.io/v1alpha1",
  kind: "Component",
  resources: monitoringObjectFiles().map(({ path }) => path.replace(/^monitoring\//, ""))
})
