// The Kubernetes permissions hosts-updater needs, declared beside its code; the manifests' hosts-updater ClusterRole
// and Role are generated from this list (packages/cli/src/manifests.ts).
import { eventPermissions, metricsAuthPermissions } from "@tcr-assistant/kube/permissions"
import { permission, type Permission } from "@tcr-assistant/kube/rbac"

export const hostsUpdaterPermissions: ReadonlyArray<Permission> = [
  permission("", "nodes", ["get", "patch"], "node-reporter records what the node applied in annotations on its own Node"),
  ...eventPermissions,
  ...metricsAuthPermissions,
  permission("", "configmaps", ["get", "list", "watch"], "hosts-agent informs on the namespace's ConfigMaps (keeps only updater-config)", {
    scope: "addon-namespace"
  })
]
