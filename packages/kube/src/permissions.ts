// The permissions the kube package's features need, for the programs that use them to declare as their own: leader
// election, Events, and the authenticated /metrics endpoint.
import { permission, type Permission } from "./rbac.ts"

/** leader-election.ts: create the Lease once, then read and renew only ours. */
export const leaderElectionPermissions = (leaseName: string): ReadonlyArray<Permission> => [
  permission("coordination.k8s.io", "leases", ["create"], "leader election creates its Lease", { scope: "addon-namespace" }),
  permission("coordination.k8s.io", "leases", ["get", "update"], "leader election reads and renews its Lease", {
    scope: "addon-namespace",
    resourceNames: [leaseName]
  })
]

/** events.ts: Events about our objects; repeats patch the count. */
export const eventPermissions: ReadonlyArray<Permission> = [
  permission("", "events", ["create", "patch"], "EventRecorder creates Events and patches repeats")
]

/** metrics-server.ts: secure /metrics asks who a scraper is and whether it may get /metrics. */
export const metricsAuthPermissions: ReadonlyArray<Permission> = [
  permission("authentication.k8s.io", "tokenreviews", ["create"], "secure /metrics authenticates the scraper"),
  permission("authorization.k8s.io", "subjectaccessreviews", ["create"], "secure /metrics authorizes the scraper")
]
