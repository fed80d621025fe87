// Owns installing the add-on on the kit's real node the way users install it: the image built from the Dockerfile
// imported into the node's containerd (the node reaches no public registry), then `kubectl apply --server-side -k
// manifests/` unchanged. The node has a pod network and finds the apiserver at the `kubernetes` Service's IP, and the
// apiserver reaches webhook endpoints and kubelets through its egress into the node, so no overlay is needed.
import { join } from "node:path"
import { type AddonImage, buildAddonImage } from "./addon-image.ts"
import { repositoryRoot } from "./image-app.ts"
import type { ControlPlane } from "./control-plane.ts"
import { keepingRunLogs, keepRunLogText } from "./log-lines.ts"
import type { RealNode } from "./node.ts"
import { kubectl } from "./processes.ts"

export const addonNamespace = "tcr-assistant-system"
export const controllerDeployment = "tcr-assistant-controller-manager"
export const hostsUpdaterDaemonSet = "hosts-updater"
export const manifestsDir = join(repositoryRoot, "manifests")

export interface InstalledAddon {
  readonly image: AddonImage
}

export class AddonInstallError extends Error {
  override readonly name = "AddonInstallError"
}

/** Builds (or reuses) the image and imports it into the node, where the manifests' `tcr-assistant:0.1.0` finds it. */
export const importAddonImage = async (node: RealNode): Promise<AddonImage> => {
  const image = await buildAddonImage()
  const imported = node.importImage(image.ociArchive)
  if (!imported.includes(image.reference)) {
    throw new AddonInstallError(`the node imported ${imported.join(", ") || "nothing"}, not ${image.reference}`)
  }
  return image
}

/**
 * Imports the image, applies manifests/ and waits until the controller Deployment and the hosts-updater DaemonSet
 * have rolled out.
 */
export const installAddonOnNode = async (plane: ControlPlane, node: RealNode): Promise<InstalledAddon> => {
  const image = await importAddonImage(node)
  const applied = await kubectl(plane.kubeconfigPath, ["apply", "--server-side", "-k", manifestsDir])
  if (applied.status !== 0) throw new AddonInstallError(`kubectl apply -k manifests/ failed: ${applied.stderr.trim()}`)
  for (const workload of [`deployment/${controllerDeployment}`, `daemonset/${hostsUpdaterDaemonSet}`]) {
    const rollout = await kubectl(plane.kubeconfigPath, ["rollout", "status", "-n", addonNamespace, workload,
      "--timeout=300s"])
    if (rollout.status !== 0) {
      const pods = await kubectl(plane.kubeconfigPath, ["get", "pods", "-n", addonNamespace, "-o", "wide"])
      const events = await kubectl(plane.kubeconfigPath, ["get", "events", "-n", addonNamespace])
      throw new AddonInstallError(`${workload} did not roll out: ${rollout.stderr.trim()}\n${pods.stdout}\n` +
        `${events.stdout}\n--- kubelet ---\n${node.kubeletLog().split("\n").slice(-20).join("\n")}`)
    }
  }
  return { image }
}

interface PodList {
  readonly items: ReadonlyArray<{
    readonly metadata: { readonly name: string }
    readonly spec: { readonly containers: ReadonlyArray<{ readonly name: string }> }
    readonly status?: { readonly containerStatuses?: ReadonlyArray<{ readonly name: string; readonly restartCount?: number }> }
  }>
}

/**
 * Keeps what every container of the add-on's pods logged (and, after a restart, what the previous one logged) for
 * the e2e run's last check that every line is a log record. Call it before the control plane stops.
 */
export const keepAddonPodLogs = async (plane: ControlPlane) => {
  if (!keepingRunLogs()) return
  const listed = await kubectl(plane.kubeconfigPath, ["get", "pods", "-n", addonNamespace, "-o", "json"])
  if (listed.status !== 0) throw new AddonInstallError(`kubectl get pods -n ${addonNamespace} failed: ${listed.stderr.trim()}`)
  for (const pod of (JSON.parse(listed.stdout) as PodList).items) {
    for (const container of pod.spec.containers) {
      const restarts = pod.status?.containerStatuses?.find((status) => status.name === container.name)?.restartCount ?? 0
      for (const previous of restarts > 0 ? [false, true] : [false]) {
        const logs = await kubectl(plane.kubeconfigPath, [
          "logs", "-n", addonNamespace, pod.metadata.name, "-c", container.name, ...(previous ? ["--previous"] : [])
        ])
        // A container that never started has no log to keep.
        if (logs.status === 0) keepRunLogText(logs.stdout, `pod-${pod.metadata.name}-${container.name}${previous ? "-previous" : ""}`)
      }
    }
  }
}
