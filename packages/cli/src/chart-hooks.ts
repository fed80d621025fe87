// Owns the chart's hook objects, which only Helm runs (they are in no manifest): a ServiceAccount with its ClusterRole
// (from helm-hook.ts's declared permissions) and two Jobs running the add-on's image. `upgrade-crd` runs before
// install and upgrade, since Helm never updates a CRD of crds/ that exists; `delete-image-pull-secrets` runs before
// uninstall, while the controller still runs, because Helm deletes kinds it does not know after the Deployment.
// Every hook object lives in the release's namespace (the add-on's does not exist yet before install) and is
// deleted by Helm once the hooks succeed; a failed Job stays, with its logs printed by helm, until the next try.
import { rulesFor } from "@tcr-assistant/kube/rbac"
import { helmHookPermissions } from "./helm-hook.ts"
import { image } from "./manifests.ts"

/** Template markers, expanded by chart.ts (see its scalar and optionalBlock). */
const scalar = (expr: string) => `__HELM_SCALAR(${expr})__`
const optionalBlock = (expr: string) => `__HELM_WITH(${expr})__`

export const helmHookName = "tcr-assistant-helm-hook"
const labels = { "app.kubernetes.io/name": "tcr-assistant", "app.kubernetes.io/component": "helm-hook" }
const releaseNamespace = scalar(".Release.Namespace | quote")
const allEvents = "pre-install,pre-upgrade,pre-delete"

const hookAnnotations = (events: string, weight: number, job: boolean) => ({
  "helm.sh/hook": events,
  "helm.sh/hook-weight": String(weight),
  "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
  ...(job ? { "helm.sh/hook-output-log-policy": "hook-failed" } : {})
})

/** The Jobs' identity and permissions, created first (weight -10) for every event that runs a Job. */
export const hookRbacObjects = (): ReadonlyArray<unknown> => [
  {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: helmHookName, namespace: releaseNamespace, labels, annotations: hookAnnotations(allEvents, -10, false) }
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: helmHookName, labels, annotations: hookAnnotations(allEvents, -10, false) },
    rules: rulesFor(helmHookPermissions, "cluster")
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: helmHookName, labels, annotations: hookAnnotations(allEvents, -10, false) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: helmHookName },
    subjects: [{ kind: "ServiceAccount", name: helmHookName, namespace: releaseNamespace }]
  }
]

/** The image's user, as the controller runs; the pod meets the restricted Pod Security level in any namespace. */
const nonRootUser = 1000

/**
 * A Job running `helm-hook <args>`: one retry for a transient failure, and a deadline below helm's default hook
 * timeout (5 minutes) so that a stuck run fails with its logs instead of helm's bare timeout.
 */
const hookJob = (name: string, events: string, args: ReadonlyArray<string>) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name, namespace: releaseNamespace, labels, annotations: hookAnnotations(events, 0, true) },
  spec: {
    backoffLimit: 1,
    activeDeadlineSeconds: 240,
    template: {
      metadata: { labels },
      spec: {
        serviceAccountName: helmHookName,
        restartPolicy: "Never",
        securityContext: {
          runAsNonRoot: true,
          runAsUser: nonRootUser,
          runAsGroup: nonRootUser,
          seccompProfile: { type: "RuntimeDefault" }
        },
        imagePullSecrets: optionalBlock(".Values.imagePullSecrets"),
        containers: [
          {
            name: "helm-hook",
            image,
            imagePullPolicy: scalar(".Values.image.pullPolicy"),
            args: ["helm-hook", ...args],
            resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } }
          }
        ]
      }
    }
  }
})

export const upgradeCrdJob = () => hookJob("tcr-assistant-upgrade-crd", "pre-install,pre-upgrade", ["upgrade-crd"])

/** Reads `$names`, the release's ImagePullSecret names joined and quoted by `releaseImagePullSecretNames`. */
export const deleteImagePullSecretsJob = () =>
  hookJob("tcr-assistant-delete-image-pull-secrets", "pre-delete", [
    "delete-image-pull-secrets",
    "--names",
    scalar("$names"),
    // The add-on's namespace, where the controller's Lease is (chart.ts turns the default into the value).
    "--namespace=tcr-assistant-system"
  ])

/** Template text setting `$names` to the release's ImagePullSecret names (both forms), comma-joined and quoted. */
export const releaseImagePullSecretNames = `{{- $list := list }}
{{- range .Values.global.imagePullSecretsCrs }}{{- $list = append $list .name }}{{- end }}
{{- range .Values.imagePullSecretCrs }}{{- $list = append $list .name }}{{- end }}
{{- $names := join "," $list | quote }}
`
