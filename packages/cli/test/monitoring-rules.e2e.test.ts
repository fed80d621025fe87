// The PrometheusRule's alerts, run by Prometheus's own rule engine (`promtool test rules`, kit-built) against
// synthetic series: each fires on the failure it names, after its `for` duration, and stays quiet on a healthy
// install; the dashboard's queries are PromQL Prometheus accepts. (In the e2e project because the first run builds
// promtool.)
import { checkRules, testRules } from "@tcr-assistant/testkit/promtool"
import { expect, test } from "vitest"
import { stringify } from "yaml"
import {
  alertRules,
  controllerMetricsService,
  dashboardJson,
  dashboardPanels,
  hostsUpdaterMetricsService,
  ruleGroups
} from "../src/monitoring-manifests.ts"

const controller = { job: controllerMetricsService, instance: "10.0.0.1:8443", namespace: "tcr-assistant-system" }
const agent = (node: string, ip: string) => ({ job: hostsUpdaterMetricsService, instance: `${ip}:8443`, node, namespace: "tcr-assistant-system" })

const selector = (labels: Readonly<Record<string, string>>) =>
  `{${Object.entries(labels).map(([name, value]) => `${name}="${value}"`).join(",")}}`

interface Series {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** promtool's expanding notation, one value per minute: "1x10 0x20". */
  readonly values: string
}

interface Expectation {
  readonly alert: string
  readonly at: string
  /** Labels and description of every alert expected to fire then; none: quiet. */
  readonly firing: ReadonlyArray<{ readonly labels: Readonly<Record<string, string>>; readonly description: string }>
}

const summaryOf = (alert: string) => alertRules.find((rule) => rule.alert === alert)!.annotations.summary
const severityOf = (alert: string) => alertRules.find((rule) => rule.alert === alert)!.labels.severity

const unitTest = (name: string, series: ReadonlyArray<Series>, expectations: ReadonlyArray<Expectation>) => ({
  name,
  interval: "1m",
  input_series: series.map((entry) => ({ series: `${entry.name}${selector(entry.labels)}`, values: entry.values })),
  alert_rule_test: expectations.map((expectation) => ({
    eval_time: expectation.at,
    alertname: expectation.alert,
    exp_alerts: expectation.firing.map((firing) => ({
      exp_labels: { severity: severityOf(expectation.alert), ...firing.labels },
      exp_annotations: {
        summary: summaryOf(expectation.alert),
        description: firing.description,
        runbook_url: `https://github.com/tcr-assistant/tcr-assistant#${expectation.alert.toLowerCase()}`
      }
    }))
  }))
})

/** A timestamp gauge that tracks time: `offset` seconds from promtool's clock (which starts at 0). */
const clockValues = (offset: number, minutes: number, step = 60) => `${offset}+${step}x${minutes}`

const tests = [
  unitTest("a target that stops answering for 10 minutes", [
    { name: "up", labels: controller, values: "1x5 0x20" }
  ], [
    { alert: "TcrAssistantTargetDown", at: "10m", firing: [] },
    {
      alert: "TcrAssistantTargetDown",
      at: "17m",
      firing: [{ labels: controller, description: `${controller.job} at ${controller.instance} has not answered a scrape for 10 minutes.` }]
    }
  ]),
  unitTest("no leader among the replicas for a minute", [
    { name: "tcr_assistant_leader", labels: controller, values: "1x5 0x10" },
    { name: "tcr_assistant_leader", labels: { ...controller, instance: "10.0.0.2:8443" }, values: "0x15" }
  ], [
    { alert: "TcrAssistantNoLeader", at: "5m", firing: [] },
    {
      alert: "TcrAssistantNoLeader",
      at: "8m",
      firing: [{ labels: {}, description: "No controller-manager replica has held the leader Lease for a minute: pull Secrets are not being distributed." }]
    }
  ]),
  unitTest("a minted token whose renewals fail runs out; a renewed one does not alert", [
    // Expires at 40 min; never renewed.
    { name: "tcr_assistant_registry_token_expiry_timestamp_seconds", labels: { ...controller, imagepullsecret: "stuck", source: "minted" }, values: "2400x40" },
    // Renewed every 48 minutes of an hour-long life: always at least 12 minutes left.
    { name: "tcr_assistant_registry_token_expiry_timestamp_seconds", labels: { ...controller, imagepullsecret: "fine", source: "minted" }, values: "3600x47 6480x40" }
  ], [
    { alert: "TcrAssistantMintedTokenNotRenewed", at: "30m", firing: [] },
    {
      alert: "TcrAssistantMintedTokenNotRenewed",
      at: "36m",
      firing: [{
        labels: { ...controller, imagepullsecret: "stuck", source: "minted" },
        description: "The token minted for ImagePullSecret stuck expires in less than 5 minutes; renewals have failed."
      }]
    },
    // An hour-long minted token is always within 7 days of its expiry: that alert is for tokens kept in Secrets.
    { alert: "TcrAssistantRegistryTokenExpiring", at: "36m", firing: [] }
  ]),
  unitTest("a long-term token in a source Secret alerts 7 days before it expires, and stops once rotated", [
    // Expires 7 days and 30 minutes after the start (so within 7 days from minute 30); rotated after an hour to a
    // token that expires in a year.
    { name: "tcr_assistant_registry_token_expiry_timestamp_seconds", labels: { ...controller, imagepullsecret: "installed", source: "secret" }, values: `${7 * 86400 + 1800}x60 ${365 * 86400}x45` },
    // Far from expiry the whole time.
    { name: "tcr_assistant_registry_token_expiry_timestamp_seconds", labels: { ...controller, imagepullsecret: "fresh", source: "secret" }, values: `${300 * 86400}x105` }
  ], [
    { alert: "TcrAssistantRegistryTokenExpiring", at: "35m", firing: [] },
    {
      alert: "TcrAssistantRegistryTokenExpiring",
      at: "45m",
      firing: [{
        labels: { ...controller, imagepullsecret: "installed", source: "secret" },
        description: "The token ImagePullSecret installed distributes from its source Secret expires in less than 7 days: rotate it (tcr-assistant rotate-token for install's token) or renew the Secret."
      }]
    },
    { alert: "TcrAssistantRegistryTokenExpiring", at: "100m", firing: [] },
    { alert: "TcrAssistantMintedTokenNotRenewed", at: "45m", firing: [] }
  ]),
  unitTest("a watch that hears nothing for 15 minutes, while the other keeps hearing", [
    // The last event stays at 0 while time goes on; the other informer's timestamp follows the clock.
    { name: "tcr_assistant_watch_last_event_timestamp_seconds", labels: { ...controller, informer: "secrets" }, values: "0x30" },
    { name: "tcr_assistant_watch_last_event_timestamp_seconds", labels: { ...controller, informer: "namespaces" }, values: clockValues(0, 30) }
  ], [
    { alert: "TcrAssistantWatchStale", at: "18m", firing: [] },
    {
      alert: "TcrAssistantWatchStale",
      at: "21m",
      firing: [{
        labels: { ...controller, informer: "secrets" },
        description: `The secrets informer of ${controller.instance} has heard nothing from the apiserver for over 15 minutes.`
      }]
    }
  ]),
  unitTest("a node whose agent stays unready, and nodes holding different configs", [
    { name: "tcr_assistant_hosts_updater_ready", labels: agent("node-a", "10.1.0.1"), values: "1x30" },
    { name: "tcr_assistant_hosts_updater_ready", labels: agent("node-b", "10.1.0.2"), values: "1x2 0x28" },
    { name: "tcr_assistant_hosts_updater_config_valid", labels: agent("node-a", "10.1.0.1"), values: "1x30" },
    { name: "tcr_assistant_hosts_updater_applied_config_info", labels: { ...agent("node-a", "10.1.0.1"), hash: "sha256:new" }, values: "1x30" },
    { name: "tcr_assistant_hosts_updater_applied_config_info", labels: { ...agent("node-b", "10.1.0.2"), hash: "sha256:old" }, values: "1x30" }
  ], [
    { alert: "TcrAssistantHostsConfigNotApplied", at: "8m", firing: [] },
    {
      alert: "TcrAssistantHostsConfigNotApplied",
      at: "14m",
      firing: [{
        labels: agent("node-b", "10.1.0.2"),
        description: "hosts-updater on node-b has not applied the updater-config ConfigMap for 10 minutes (unready, or the config is invalid)."
      }]
    },
    {
      alert: "TcrAssistantHostsConfigDiffers",
      at: "14m",
      firing: [{ labels: {}, description: "The nodes' hosts files have held 2 different configs for 10 minutes: some nodes do not follow the ConfigMap." }]
    }
  ]),
  unitTest("webhook errors for 5 minutes; allowed and denied reviews are no errors", [
    { name: "tcr_assistant_webhook_requests_total", labels: { ...controller, webhook: "validate-imagepullsecret", operation: "CREATE", result: "denied" }, values: "0+10x30" },
    { name: "tcr_assistant_webhook_requests_total", labels: { ...controller, webhook: "validate-imagepullsecret", operation: "CREATE", result: "error" }, values: "0x10 0+3x20" }
  ], [
    { alert: "TcrAssistantWebhookErrors", at: "10m", firing: [] },
    {
      alert: "TcrAssistantWebhookErrors",
      at: "20m",
      firing: [{ labels: { webhook: "validate-imagepullsecret" }, description: "The validate-imagepullsecret webhook answered errors for 5 minutes." }]
    }
  ]),
  unitTest("targets failing for 15 minutes", [
    { name: "tcr_assistant_failing_targets", labels: { ...controller, imagepullsecret: "sample" }, values: "0x5 3x30" }
  ], [
    { alert: "TcrAssistantTargetsFailing", at: "15m", firing: [] },
    {
      alert: "TcrAssistantTargetsFailing",
      at: "22m",
      firing: [{ labels: { imagepullsecret: "sample" }, description: "ImagePullSecret sample has had 3 failing targets for 15 minutes." }]
    }
  ]),
  unitTest("a healthy install raises nothing", [
    { name: "up", labels: controller, values: "1x30" },
    { name: "up", labels: agent("node-a", "10.1.0.1"), values: "1x30" },
    { name: "tcr_assistant_leader", labels: controller, values: "1x30" },
    { name: "tcr_assistant_watch_last_event_timestamp_seconds", labels: { ...controller, informer: "secrets" }, values: clockValues(0, 30) },
    { name: "tcr_assistant_hosts_updater_ready", labels: agent("node-a", "10.1.0.1"), values: "1x30" },
    { name: "tcr_assistant_hosts_updater_config_valid", labels: agent("node-a", "10.1.0.1"), values: "1x30" },
    { name: "tcr_assistant_hosts_updater_applied_config_info", labels: { ...agent("node-a", "10.1.0.1"), hash: "sha256:new" }, values: "1x30" },
    { name: "tcr_assistant_failing_targets", labels: { ...controller, imagepullsecret: "sample" }, values: "0x30" }
  ], alertRules.map((rule) => ({ alert: rule.alert, at: "30m", firing: [] })))
]

test("promtool accepts the rules: syntax, PromQL and templates", async () => {
  const result = await checkRules(stringify(ruleGroups))
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: "" })
})

test("each alert fires on its failure after its duration, and a healthy install raises none", async () => {
  const result = await testRules(
    { "rules.yaml": stringify(ruleGroups), "tests.yaml": stringify({ rule_files: ["rules.yaml"], evaluation_interval: "1m", tests }) },
    "tests.yaml"
  )
  expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: expect.stringContaining("SUCCESS") })
  // Every alert of the rule file is exercised by a test that expects it to fire.
  const fired = new Set(tests.flatMap((entry) => entry.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname)))
  expect([...fired].sort()).toEqual(alertRules.map((rule) => rule.alert).sort())
})

test("every query of the Grafana dashboard is PromQL that Prometheus accepts", async () => {
  const queries = dashboardPanels.flatMap((panel) => panel.targets.map((target) => target.expr))
  const asRecordingRules = { groups: [{ name: "dashboard", rules: queries.map((expr, index) => ({ record: `dashboard:query_${index}`, expr })) }] }
  const result = await checkRules(stringify(asRecordingRules))
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: "" })
  expect(JSON.parse(dashboardJson()).panels).toHaveLength(dashboardPanels.length)
})
