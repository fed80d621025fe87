// The status report: per-ImagePullSecret counts and failing targets, and each node's hosts verdict.
import { expectedHostsConfigHash, hostsAnnotations } from "@tcr-assistant/hosts-updater"
import { describe, expect, test } from "vitest"
import { installedByLabel, installedByValue, type ObservedImagePullSecret } from "../src/addon-record.ts"
import { convergence, describeStatus, statusReport } from "../src/addon-status.ts"

const hosts = "10.0.0.5 demo.tencentcloudcr.com\n"
const currentHash = expectedHostsConfigHash({ hosts })!

const ips = (name: string, status: unknown, generation = 2): ObservedImagePullSecret => ({
  metadata: { name, generation, labels: { [installedByLabel]: installedByValue } },
  spec: { namespaces: "*", serviceAccounts: "*", docker: { server: name } },
  status
})

const node = (name: string, annotations: Record<string, string> = {}) => ({ metadata: { name, annotations } })

describe("statusReport", () => {
  const report = statusReport({
    imagePullSecrets: [
      ips("demo.tencentcloudcr.com", {
        observedGeneration: 2,
        secretsDesired: 3,
        secretsSuccess: 2,
        serviceAccountsDesired: 4,
        serviceAccountsSuccess: 3,
        targets: [
          { kind: "Secret", namespace: "team-a", name: "tcr.ipsdemo.tencentcloudcr.com", state: "Conflict", reason: "SecretNotOwned", message: "exists and is not managed by tcr-assistant" },
          { kind: "ServiceAccount", namespace: "team-b", name: "default", state: "Pending" }
        ],
        conditions: [{ type: "Ready", status: "False", reason: "TargetsFailing", message: "1 target failing", lastTransitionTime: "2026-01-01T00:00:00Z" }],
        podsMissingSecret: { count: 3, pods: [{ namespace: "team-a", name: "bare" }, { namespace: "team-a", name: "web-1" }] }
      }),
      ips("demo-vpc.tencentcloudcr.com", { observedGeneration: 1 }),
      { metadata: { name: "users-own" }, spec: {} }
    ],
    workloads: [
      { kind: "Deployment", name: "tcr-assistant-controller-manager", object: { spec: { replicas: 2 }, status: { readyReplicas: 1 } } },
      { kind: "DaemonSet", name: "hosts-updater", object: undefined }
    ],
    updaterConfig: { hosts },
    nodes: [
      node("node-c"),
      node("node-b", { [hostsAnnotations.configHash]: "sha256:old", [hostsAnnotations.entries]: "1" }),
      node("node-a", { [hostsAnnotations.configHash]: currentHash, [hostsAnnotations.appliedAt]: "2026-01-01T00:00:00Z" }),
      node("node-d", { [hostsAnnotations.configHash]: currentHash, [hostsAnnotations.error]: "permission denied" })
    ]
  })

  test("counts and failing targets per ImagePullSecret of ours; others listed apart", () => {
    expect(report.imagePullSecrets.map((entry) => [entry.name, entry.ready, entry.observed])).toEqual([
      ["demo-vpc.tencentcloudcr.com", "Unknown", false],
      ["demo.tencentcloudcr.com", "False", true]
    ])
    const demo = report.imagePullSecrets[1]!
    expect(demo.secrets).toEqual({ ready: 2, desired: 3 })
    expect(demo.serviceAccountEntries).toEqual({ ready: 3, desired: 4 })
    expect(demo.failingTargets.map((target) => target.namespace)).toEqual(["team-a"])
    expect(demo.pendingTargets).toBe(1)
    expect(report.otherImagePullSecrets).toEqual(["users-own"])
  })

  test("says which Pods were admitted without the Secret, only when some were", () => {
    const text = describeStatus(report).join("\n")
    expect(text).toContain("3 Pods admitted without the Secret (recreate them; each has a MissingPullSecret Event): team-a/bare, team-a/web-1 and 1 more")
    expect(report.imagePullSecrets[0]!.podsMissingSecret).toBeUndefined()
  })

  test("each node is up to date, stale, failing or not reporting", () => {
    expect(report.hosts.nodes.map((entry) => [entry.name, entry.state])).toEqual([
      ["node-a", "UpToDate"],
      ["node-b", "Stale"],
      ["node-c", "NotReporting"],
      ["node-d", "Failing"]
    ])
    expect(report.hosts.upToDate).toBe(1)
    expect(report.hosts.entries).toBe(1)
    expect(report.workloads).toEqual([
      { kind: "Deployment", name: "tcr-assistant-controller-manager", exists: true, ready: 1, desired: 2 },
      { kind: "DaemonSet", name: "hosts-updater", exists: false, ready: 0, desired: 0 }
    ])
  })

  test("the text names failing targets and nodes", () => {
    const text = describeStatus(report).join("\n")
    expect(text).toContain("demo.tencentcloudcr.com: NotReady (TargetsFailing); Secrets 2/3, ServiceAccounts 3/4")
    expect(text).toContain("Conflict: Secret team-a/tcr.ipsdemo.tencentcloudcr.com SecretNotOwned")
    expect(text).toContain("1 of 3 reporting nodes applied the current config (4 nodes in the cluster)")
    expect(text).toContain("node-d: failing: permission denied")
  })

  test("an empty cluster is not installed; a missing updater-config expects the empty config", () => {
    const empty = statusReport({ imagePullSecrets: [], workloads: [], updaterConfig: undefined, nodes: [node("n", { [hostsAnnotations.configHash]: expectedHostsConfigHash({})! })] })
    expect(empty.installed).toBe(false)
    expect(empty.hosts.nodes[0]!.state).toBe("UpToDate")
  })

  test("an invalid hosts value is reported, not thrown", () => {
    const invalid = statusReport({ imagePullSecrets: [], workloads: [], updaterConfig: { hosts: "not-an-ip name\n" }, nodes: [] })
    expect(invalid.hosts.invalid).toContain("line 1")
  })
})

describe("the installation's credential", () => {
  const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
  const secret = (annotations: Record<string, string>, username = "100012345678") => ({
    metadata: { name: "tcr-assistant-registry-credential", annotations },
    type: "kubernetes.io/basic-auth",
    data: { username: base64(username), password: base64("the-token-VALUE") }
  })
  const input = { imagePullSecrets: [ips("demo.tencentcloudcr.com", {})], workloads: [], updaterConfig: undefined, nodes: [] }
  const origin = {
    "tcr.tencentcloudcr.com/region": "ap-guangzhou",
    "tcr.tencentcloudcr.com/instance-id": "tcr-abc",
    "tcr.tencentcloudcr.com/cluster-id": "cls-one"
  }

  test("a token: its ID and expiry, from the credential Secret; never its value", () => {
    const report = statusReport({
      ...input,
      credentialSecret: secret({ ...origin, "tcr.tencentcloudcr.com/token-id": "tok-1", "tcr.tencentcloudcr.com/token-expires-at": "2036-01-01T00:00:00.000Z" })
    })
    expect(report.installation).toEqual({
      instanceId: "tcr-abc",
      region: "ap-guangzhou",
      clusterId: "cls-one",
      tokenId: "tok-1",
      tokenExpiresAt: "2036-01-01T00:00:00.000Z",
      credentialSecret: "tcr-assistant-system/tcr-assistant-registry-credential",
      username: undefined
    })
    const text = describeStatus(report).join("\n")
    expect(text).toContain("TCR instance tcr-abc (ap-guangzhou), token tok-1 (expires 2036-01-01T00:00:00.000Z), cluster cls-one")
    expect(JSON.stringify(report)).not.toContain("the-token-VALUE")
  })

  test("the user's own credential is named by its user", () => {
    const report = statusReport({ ...input, credentialSecret: secret(origin, "robot$ci") })
    expect(describeStatus(report).join("\n")).toContain("your own credential, user robot$ci")
  })
})

describe("convergence", () => {
  const ready = (name: string) =>
    ips(name, {
      observedGeneration: 2,
      secretsDesired: 1,
      secretsSuccess: 1,
      conditions: [{ type: "Ready", status: "True", reason: "Synced", message: "ok", lastTransitionTime: "2026-01-01T00:00:00Z" }]
    })
  const upToDate = node("node-a", { [hostsAnnotations.configHash]: currentHash })
  const input = { workloads: [], updaterConfig: { hosts }, nodes: [upToDate] }

  test("done when every named ImagePullSecret is Ready and every reporting node is up to date", () => {
    expect(convergence(statusReport({ ...input, imagePullSecrets: [ready("a.example.com")] }), ["a.example.com"])).toEqual({ done: true })
  })

  test("otherwise says what is missing", () => {
    const report = statusReport({
      ...input,
      imagePullSecrets: [ips("a.example.com", { observedGeneration: 1 })],
      nodes: [upToDate, node("node-b", { [hostsAnnotations.configHash]: "sha256:old" }), node("node-c")],
      workloads: [{ kind: "DaemonSet", name: "hosts-updater", object: { status: { desiredNumberScheduled: 3 } } }]
    })
    const state = convergence(report, ["a.example.com", "b.example.com"])
    expect(state.done).toBe(false)
    expect(!state.done && state.detail).toBe(
      "ImagePullSecret a.example.com is not Ready (Secrets 0/0, ServiceAccounts 0/0); ImagePullSecret b.example.com does not exist; node(s) node-b have not applied the current hosts config; 2 of 3 hosts-updater nodes have reported"
    )
  })
})
