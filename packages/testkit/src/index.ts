// The test kit's public API: a local Kubernetes control plane and helpers to install manifests into it.
export {
  type ControlPlane,
  ControlPlaneError,
  type ControlPlaneOptions,
  type ControlPlaneProcessIds,
  defaultControllers,
  workloadControllers,
  startControlPlane
} from "./control-plane.ts"
export {
  binaryCacheDir,
  kitCacheDir,
  type ControlPlaneBinaries,
  ControlPlaneBinariesError,
  controlPlaneVersions,
  type ControlPlaneVersions,
  resolveControlPlaneBinaries,
  type ResolveBinariesOptions
} from "./control-plane-binaries.ts"
export { applyManifestFile, crdManifestPath, waitForCustomResourceDefinition } from "./apply-manifests.ts"
export { eventually } from "./eventually.ts"
export {
  type Fault,
  type FaultHandle,
  makeMemoryCluster,
  type MemoryCluster,
  type MemoryClusterOptions,
  type MemoryResponse,
  type RequestInfo,
  type Timing,
  type WatchInfo
} from "./memory-cluster.ts"
export { applyJsonPatch, applyMergePatch } from "./memory-cluster-patch.ts"
export * from "./tcr-double.ts"
export { freePort, kubectl, type KubectlResult } from "./processes.ts"
export { kubeletSysctls, NodeError, type NodeOptions, pauseImage, type RealNode, startNode } from "./node.ts"
export { defaultRegistryDomain, type Registry, RegistryError, type RegistryOptions, type RegistryUser,
  startRegistry } from "./registry.ts"
export { type BusyboxImage, type BusyboxImageOptions, writeBusyboxImage } from "./busybox-image.ts"
