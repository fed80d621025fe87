// The Kubernetes permissions the controller-manager needs, declared beside the code that uses them; the manifests'
// ClusterRole and the Role in the add-on's namespace are generated from this list (packages/cli/src/manifests.ts).
// A new watch or write adds its line here, or the generated RBAC (and the e2e tests on it) will not allow it.
import { group, plural } from "@tcr-assistant/api"
import { defaultLeaseName } from "@tcr-assistant/kube/leader-election"
import { eventPermissions, leaderElectionPermissions, metricsAuthPermissions } from "@tcr-assistant/kube/permissions"
import { permission, type Permission } from "@tcr-assistant/kube/rbac"
import { mutatingWebhookConfigurationName, webhookConfigurationName, webhookSecretName } from "./webhook-tls.ts"

export const controllerPermissions: ReadonlyArray<Permission> = [
  permission(group, plural, ["get", "list", "watch", "patch"], "cluster-cache informs on ImagePullSecrets; executor reads them fresh and edits the finalizer"),
  permission(group, `${plural}/status`, ["patch"], "status-writer replaces the status"),
  permission("", "namespaces", ["get", "list", "watch"], "cluster-cache informs on namespaces; main checks the add-on's namespace once"),
  permission("", "serviceaccounts", ["get", "list", "watch", "patch"], "executor adds and removes our imagePullSecrets entry with JSON patches"),
  permission("", "secrets", ["get", "list", "watch", "create", "patch", "delete"], "the distributed pull Secrets, TCR API keys (get), the webhook Secret (create)"),
  permission("", "pods", ["list", "watch", "delete"], "stuck-pods informs on Pods admitted without our Secret; delete only acts with --delete-stuck-pods (RBAC is static, the flag an argument)"),
  ...eventPermissions,
  permission("admissionregistration.k8s.io", "validatingwebhookconfigurations", ["get", "list", "watch", "update"], "webhook-tls watches it and writes the CA bundle", {
    resourceNames: [webhookConfigurationName]
  }),
  permission("admissionregistration.k8s.io", "mutatingwebhookconfigurations", ["get", "list", "watch", "update"], "webhook-tls watches it and writes the CA bundle", {
    resourceNames: [mutatingWebhookConfigurationName]
  }),
  ...metricsAuthPermissions,
  ...leaderElectionPermissions(defaultLeaseName),
  permission("", "secrets", ["update"], "webhook-tls renews the serving certificate in place", {
    scope: "addon-namespace",
    resourceNames: [webhookSecretName]
  })
]
