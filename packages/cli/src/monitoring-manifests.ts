// Owns the optional monitoring objects for a Prometheus Operator cluster, a kustomize component under
// manifests/monitoring/: Services in front of both programs' secure /metrics, a ServiceMonitor that scrapes them with
// Prometheus's own ServiceAccount token, a PrometheusRule whose alerts the README's runbook explains, and a Grafana
// dashboard (a ConfigMap for Grafana's dashboard sidecar, and the JSON for importing by hand).
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
    `tcr_assistant_registry_token_expiry_timestamp_seconds{source="secret"} - time() < 7 * 86400`,
    "10m",
    "warning",
    "A registry token expires within 7 days",
    "The token ImagePullSecret {{ $labels.imagepullsecret }} distributes from its source Secret expires in less than 7 days: rotate it (tcr-assistant rotate-token for install's token) or renew the Secret."
  ),
  alert(
    "TcrAssistantMintedTokenNotRenewed",
    `tcr_assistant_registry_token_expiry_timestamp_seconds{source="minted"} - time() < 300`,
    "0m",
    "critical",
    "A minted registry token is about to expire without a renewal",
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

export interface DashboardPanel {
  readonly title: string
  readonly unit: string
  /** PromQL, with the legend of each series. */
  readonly targets: ReadonlyArray<{ readonly expr: string; readonly legendFormat: string }>
}

export const dashboardPanels: ReadonlyArray<DashboardPanel> = [
  { title: "Reconciles by result", unit: "ops", targets: [{ expr: "sum by (result) (rate(controller_runtime_reconcile_total[5m]))", legendFormat: "{{result}}" }] },
  {
    title: "Reconcile duration",
    unit: "s",
    targets: [0.5, 0.99].map((quantile) => ({
      expr: `histogram_quantile(${quantile}, sum by (le) (rate(controller_runtime_reconcile_time_seconds_bucket[5m])))`,
      legendFormat: `p${quantile * 100}`
    }))
  },
  {
    title: "Work queue",
    unit: "short",
    targets: [
      { expr: "sum(workqueue_depth)", legendFormat: "depth" },
      { expr: "sum(rate(workqueue_retries_total[5m]))", legendFormat: "retries/s" },
      { expr: "max(workqueue_longest_running_processor_seconds)", legendFormat: "longest running (s)" }
    ]
  },
  {
    title: "Secrets synced / desired",
    unit: "short",
    targets: [
      { expr: "sum by (imagepullsecret) (tcr_assistant_secrets_synced)", legendFormat: "{{imagepullsecret}} synced" },
      { expr: "sum by (imagepullsecret) (tcr_assistant_secrets_desired)", legendFormat: "{{imagepullsecret}} desired" }
    ]
  },
  { title: "Failing targets", unit: "short", targets: [{ expr: "sum by (imagepullsecret) (tcr_assistant_failing_targets)", legendFormat: "{{imagepullsecret}}" }] },
  { title: "Registry token time left", unit: "s", targets: [{ expr: "tcr_assistant_registry_token_expiry_timestamp_seconds - time()", legendFormat: "{{imagepullsecret}}" }] },
  { title: "Apiserver requests by code", unit: "reqps", targets: [{ expr: "sum by (code) (rate(tcr_assistant_apiserver_requests_total[5m]))", legendFormat: "{{code}}" }] },
  { title: "Watch silence", unit: "s", targets: [{ expr: "time() - tcr_assistant_watch_last_event_timestamp_seconds", legendFormat: "{{instance}} {{informer}}" }] },
  { title: "TCR API calls", unit: "reqps", targets: [{ expr: "sum by (action, result) (rate(tcr_assistant_tcr_api_requests_total[5m]))", legendFormat: "{{action}} {{result}}" }] },
  { title: "Webhook reviews", unit: "reqps", targets: [{ expr: "sum by (result) (rate(tcr_assistant_webhook_requests_total[5m]))", legendFormat: "{{result}}" }] },
  { title: "Nodes per hosts config", unit: "short", targets: [{ expr: "count by (hash) (tcr_assistant_hosts_updater_applied_config_info)", legendFormat: "{{hash}}" }] },
  { title: "Resident memory", unit: "bytes", targets: [{ expr: "process_resident_memory_bytes{job=~\"" + jobs + "\"}", legendFormat: "{{instance}}" }] },
  { title: "Event-loop lag", unit: "s", targets: [{ expr: "nodejs_eventloop_lag_seconds{job=~\"" + jobs + "\"}", legendFormat: "{{instance}}" }] }
]

/** The dashboard, in Grafana's JSON model: two panels a row, the Prometheus data source chosen by a variable. */
export const grafanaDashboard = () => ({
  uid: "tcr-assistant",
  title: "tcr-assistant",
  tags: ["tcr-assistant"],
  timezone: "browser",
  schemaVersion: 39,
  refresh: "30s",
  time: { from: "now-6h", to: "now" },
  templating: { list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Data source" }] },
  panels: dashboardPanels.map((panel, index) => ({
    id: index + 1,
    type: "timeseries",
    title: panel.title,
    datasource: { type: "prometheus", uid: "${datasource}" },
    gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
    fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
    targets: panel.targets.map((target, ref) => ({ refId: String.fromCharCode(65 + ref), expr: target.expr, legendFormat: target.legendFormat }))
  }))
})

export const dashboardJson = () => `${JSON.stringify(grafanaDashboard(), null, 2)}\n`

const dashboardConfigMap = () => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  // Grafana's sidecar (kube-prometheus-stack) loads ConfigMaps with this label.
  metadata: { name: "tcr-assistant-grafana-dashboard", namespace, labels: { ...labels("monitoring"), grafana_dashboard: "1" } },
  data: { "tcr-assistant.json": dashboardJson() }
})

/** Object files under manifests/monitoring/. */
export const monitoringObjectFiles = (): ReadonlyArray<{ readonly path: string; readonly objects: ReadonlyArray<unknown> }> => [
  {
    path: "monitoring/metrics-services.yaml",
    objects: [metricsService(controllerMetricsService, "controller-manager"), metricsService(hostsUpdaterMetricsService, "hosts-updater")]
  },
  { path: "monitoring/service-monitor.yaml", objects: [serviceMonitor] },
  { path: "monitoring/prometheus-rule.yaml", objects: [prometheusRule] },
  { path: "monitoring/grafana-dashboard.yaml", objects: [dashboardConfigMap()] }
]

/** manifests/monitoring/kustomization.yaml: an optional component (`components: [monitoring]` in an overlay). */
export const monitoringComponent = () => ({
  apiVersion: "kustomize.config.k8s.io/v1alpha1",
  kind: "Component",
  resources: monitoringObjectFiles().map(({ path }) => path.replace(/^monitoring\//, ""))
})
