// The pure rules about Pods admitted without our pull Secret: what of a Pod the controller keeps, whether an
// ImagePullSecret wants a Pod to carry its Secret and it does not, what the user should do about it, which such Pods
// the controller may delete, and the index that keeps these answers per ImagePullSecret as Pods and specs change.
import type { KubeObject } from "@tcr-assistant/kube"
import { namesOnly, type PodContext, type SelectingDistribution, wantedPullSecrets } from "./pod-mutation.ts"

export interface PodOwner {
  readonly apiVersion?: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
}

interface ContainerStatus {
  readonly state?: { readonly waiting?: { readonly reason?: string } }
}

/**
 * A Pod as the controller holds it: the Kubernetes shape, reduced to what the rules below read (see slimPod).
 * At ten thousand namespaces Pods outnumber every other kind the controller watches.
 */
export type Pod = KubeObject & {
  readonly spec?: {
    readonly serviceAccountName?: string
    readonly imagePullSecrets?: ReadonlyArray<{ readonly name?: string }>
  }
  readonly status?: {
    readonly phase?: string
    readonly initContainerStatuses?: ReadonlyArray<ContainerStatus>
    readonly containerStatuses?: ReadonlyArray<ContainerStatus>
  }
}

const mirrorAnnotation = "kubernetes.io/config.mirror"
/** The Deployment controller names a ReplicaSet `<deployment>-<pod-template-hash>` and labels its Pods with the hash. */
const templateHashLabel = "pod-template-hash"

const waitingOnly = (statuses: ReadonlyArray<ContainerStatus> | undefined): ReadonlyArray<ContainerStatus> | undefined => {
  const reasons = (statuses ?? []).flatMap((status) => {
    const reason = status.state?.waiting?.reason
    return reason === undefined ? [] : [{ state: { waiting: { reason } } }]
  })
  return reasons.length === 0 ? undefined : reasons
}

/**
 * The Pod informer's projection: namespace, name, uid, resourceVersion, deletion, the mirror-pod annotation and the
 * template-hash label, the controller owner reference, serviceAccountName, imagePullSecrets names, phase and the
 * containers' waiting reasons. Everything else (the containers, volumes, conditions, managedFields) is dropped.
 */
export const slimPod = (pod: Pod): Pod => {
  const { metadata, spec, status } = pod
  const owner = controllerOwner(pod)
  const mirror = metadata.annotations?.[mirrorAnnotation]
  const hash = metadata.labels?.[templateHashLabel]
  const initContainerStatuses = waitingOnly(status?.initContainerStatuses)
  const containerStatuses = waitingOnly(status?.containerStatuses)
  return {
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      uid: metadata.uid,
      resourceVersion: metadata.resourceVersion,
      ...(metadata.deletionTimestamp !== undefined ? { deletionTimestamp: metadata.deletionTimestamp } : {}),
      ...(mirror !== undefined ? { annotations: { [mirrorAnnotation]: mirror } } : {}),
      ...(hash !== undefined ? { labels: { [templateHashLabel]: hash } } : {}),
      ...(owner !== undefined ? { ownerReferences: [slimOwner(owner)] } : {})
    },
    spec: {
      ...(spec?.serviceAccountName !== undefined ? { serviceAccountName: spec.serviceAccountName } : {}),
      ...(spec?.imagePullSecrets !== undefined ? { imagePullSecrets: spec.imagePullSecrets.map((entry) => ({ name: entry.name })) } : {})
    },
    status: {
      ...(status?.phase !== undefined ? { phase: status.phase } : {}),
      ...(initContainerStatuses !== undefined ? { initContainerStatuses } : {}),
      ...(containerStatuses !== undefined ? { containerStatuses } : {})
    }
  }
}

const finished = (pod: Pod) => pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed"

/** Whether the Pod's own list names the Secret. */
export const carriesPullSecret = (pod: Pod, secretName: string): boolean =>
  (pod.spec?.imagePullSecrets ?? []).some((entry) => entry.name === secretName)

/**
 * The Pod should carry the ImagePullSecret's Secret (its namespace and ServiceAccount are selected, exactly as the
 * Pod mutation selects) and does not. Finished, terminating and mirror Pods never count: the first two pull nothing
 * more, and a mirror Pod may not reference Secrets at all.
 */
export const missesPullSecret = (
  distribution: SelectingDistribution,
  pod: Pod,
  excludedNamespace?: string,
  context: PodContext = namesOnly
): boolean => {
  const namespace = pod.metadata.namespace ?? ""
  if (namespace === excludedNamespace || finished(pod) || pod.metadata.deletionTimestamp !== undefined) return false
  if (pod.metadata.annotations?.[mirrorAnnotation] !== undefined) return false
  const serviceAccount = pod.spec?.serviceAccountName || "default"
  return wantedPullSecrets([distribution], context.namespace(namespace), context.serviceAccount(namespace, serviceAccount)).length > 0 &&
    !carriesPullSecret(pod, distribution.secretName)
}

/** The reasons a kubelet gives a container that cannot pull its image. */
export const pullFailureReasons: ReadonlySet<string> = new Set(["ErrImagePull", "ImagePullBackOff"])

export const failsToPull = (pod: Pod): boolean =>
  [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].some((status) =>
    pullFailureReasons.has(status.state?.waiting?.reason ?? "")
  )

/** The owner reference with controller: true (KubeObject's type leaves that field out). */
export const controllerOwner = (pod: Pod): PodOwner | undefined =>
  (pod.metadata.ownerReferences as ReadonlyArray<PodOwner> | undefined)?.find((reference) => reference.controller === true)

const slimOwner = (owner: PodOwner): PodOwner => ({ kind: owner.kind, name: owner.name, uid: owner.uid, controller: true })

/** The workload `kubectl rollout restart` takes for the Pod's owner, if it has one that command knows. */
export const rolloutTarget = (pod: Pod): string | undefined => {
  const owner = controllerOwner(pod)
  if (owner === undefined) return undefined
  const hash = pod.metadata.labels?.[templateHashLabel]
  if (owner.kind === "ReplicaSet" && hash !== undefined && owner.name.endsWith(`-${hash}`)) {
    return `deployment/${owner.name.slice(0, -hash.length - 1)}`
  }
  if (owner.kind === "StatefulSet" || owner.kind === "DaemonSet") return `${owner.kind.toLowerCase()}/${owner.name}`
  return undefined
}

/** What the user should do, in one sentence with the command; Pod names and Secret names only. */
export const fixMessage = (pod: Pod, secretName: string): string => {
  const namespace = pod.metadata.namespace ?? ""
  const cause = `Pod was admitted without the pull Secret ${secretName} in spec.imagePullSecrets (created before the ` +
    `add-on was installed, or while its webhook was unreachable), and a Pod's imagePullSecrets cannot change`
  const target = rolloutTarget(pod)
  if (target !== undefined) return `${cause}: recreate its Pods with kubectl rollout restart ${target} -n ${namespace}`
  const owner = controllerOwner(pod)
  if (owner !== undefined) {
    return `${cause}: delete it (kubectl delete pod ${pod.metadata.name} -n ${namespace}) and its ${owner.kind} ${owner.name} recreates it with the Secret`
  }
  return `${cause}: delete and recreate it (kubectl get pod ${pod.metadata.name} -n ${namespace} -o yaml > pod.yaml; kubectl replace --force -f pod.yaml)`
}

/**
 * The Pod may be deleted so that its controller recreates it with the Secret: it is failing to pull, a controller
 * owns it (a bare Pod would be gone for good), and its replacement will get the Secret even if the webhook is still
 * unreachable, because its ServiceAccount already references it and the Pod names no pull Secrets of its own (the
 * ServiceAccount admission plugin copies the ServiceAccount's list only into a Pod that has none). Without that last
 * condition, a webhook outage would turn the deletion into a loop.
 */
export const deletable = (pod: Pod, serviceAccountReferences: (secretName: string) => boolean, secretName: string): boolean =>
  failsToPull(pod) && controllerOwner(pod) !== undefined && pod.metadata.deletionTimestamp === undefined &&
  (pod.spec?.imagePullSecrets ?? []).length === 0 && serviceAccountReferences(secretName)

export interface MissingPodExample {
  readonly namespace: string
  readonly name: string
}

export interface PodsMissingSecret {
  readonly count: number
  /** The first Pods by namespace and name, at most the index's bound. */
  readonly pods: ReadonlyArray<MissingPodExample>
}

const podKey = (pod: Pod) => `${pod.metadata.namespace ?? ""}/${pod.metadata.name}`

const byNamespaceAndName = (a: Pod, b: Pod) =>
  (a.metadata.namespace ?? "").localeCompare(b.metadata.namespace ?? "") || a.metadata.name.localeCompare(b.metadata.name)

/** A Pod newly found missing an ImagePullSecret's Secret: worth its one Event. */
export interface NewlyMissing {
  readonly imagePullSecret: string
  readonly secretName: string
  readonly pod: Pod
}

export interface MissingPullSecretIndex {
  /**
   * A Pod changed or appeared: the ImagePullSecrets whose count changed, the (Pod, ImagePullSecret) pairs new, and
   * every ImagePullSecret whose Secret the Pod now misses.
   */
  readonly podChanged: (pod: Pod) => {
    readonly changed: ReadonlyArray<string>
    readonly reported: ReadonlyArray<NewlyMissing>
    readonly missingFrom: ReadonlyArray<{ readonly name: string; readonly secretName: string }>
  }
  readonly podDeleted: (pod: Pod) => ReadonlyArray<string>
  /** The ImagePullSecret's spec changed, appeared or went (distribution undefined): recount it over every Pod. */
  readonly imagePullSecretChanged: (name: string, distribution: SelectingDistribution | undefined) => ReadonlyArray<NewlyMissing>
  readonly of: (name: string) => PodsMissingSecret
  /** The Pods currently missing the ImagePullSecret's Secret. */
  readonly podsOf: (name: string) => Iterable<Pod>
}

/**
 * Which Pods miss which ImagePullSecret's Secret, kept current from Pod and ImagePullSecret changes. Each (Pod uid,
 * ImagePullSecret) pair is reported once while it stays missing, however often the informers deliver the Pod again
 * (resyncs, status updates); a Pod that gets fixed or goes and comes back missing is reported again.
 */
export const makeMissingPullSecretIndex = (options: {
  readonly distributions: () => Iterable<SelectingDistribution & { readonly name: string }>
  readonly pods: () => Iterable<Pod>
  readonly maxExamples: number
  readonly excludedNamespace?: string | undefined
  /** Labels of the Pods' namespaces and ServiceAccounts, for label selectors and the opt-out label; names only if unset. */
  readonly context?: PodContext | undefined
}): MissingPullSecretIndex => {
  /** ImagePullSecret name -> Pod key -> the Pod. */
  const missing = new Map<string, Map<string, Pod>>()
  /** ImagePullSecret name -> Pod key -> the uid reported. */
  const reportedUid = new Map<string, Map<string, string>>()

  const entries = (name: string) => {
    let pods = missing.get(name)
    if (pods === undefined) missing.set(name, (pods = new Map()))
    return pods
  }

  /** Records the Pod as missing; the pair is new when this uid of the Pod was not reported for it yet. */
  const markMissing = (distribution: { readonly name: string; readonly secretName: string }, pod: Pod): NewlyMissing | undefined => {
    const key = podKey(pod)
    entries(distribution.name).set(key, pod)
    let reported = reportedUid.get(distribution.name)
    if (reported === undefined) reportedUid.set(distribution.name, (reported = new Map()))
    const uid = pod.metadata.uid ?? ""
    if (reported.get(key) === uid) return undefined
    reported.set(key, uid)
    return { imagePullSecret: distribution.name, secretName: distribution.secretName, pod }
  }

  const unmark = (name: string, key: string): boolean => {
    const pods = missing.get(name)
    reportedUid.get(name)?.delete(key)
    if (pods?.delete(key) !== true) return false
    if (pods.size === 0) missing.delete(name)
    return true
  }

  const podChanged = (pod: Pod) => {
    const changed: Array<string> = []
    const reported: Array<NewlyMissing> = []
    const missingFrom: Array<{ readonly name: string; readonly secretName: string }> = []
    const key = podKey(pod)
    for (const distribution of options.distributions()) {
      if (missesPullSecret(distribution, pod, options.excludedNamespace, options.context)) {
        missingFrom.push({ name: distribution.name, secretName: distribution.secretName })
        const had = missing.get(distribution.name)?.has(key) === true
        const fresh = markMissing(distribution, pod)
        if (fresh !== undefined) reported.push(fresh)
        if (!had) changed.push(distribution.name)
      } else if (unmark(distribution.name, key)) {
        changed.push(distribution.name)
      }
    }
    return { changed, reported, missingFrom }
  }

  const podDeleted = (pod: Pod) => {
    const key = podKey(pod)
    return [...missing.keys()].filter((name) => unmark(name, key))
  }

  const imagePullSecretChanged = (name: string, distribution: SelectingDistribution | undefined) => {
    const before = missing.get(name) ?? new Map<string, Pod>()
    missing.delete(name)
    const reported: Array<NewlyMissing> = []
    if (distribution !== undefined) {
      for (const pod of options.pods()) {
        if (!missesPullSecret(distribution, pod, options.excludedNamespace, options.context)) continue
        const fresh = markMissing({ name, secretName: distribution.secretName }, pod)
        if (fresh !== undefined) reported.push(fresh)
      }
    }
    // Pods no longer counted are reported again if they come back missing.
    const now = missing.get(name)
    for (const key of before.keys()) if (now?.has(key) !== true) reportedUid.get(name)?.delete(key)
    if (distribution === undefined) reportedUid.delete(name)
    return reported
  }

  const of = (name: string): PodsMissingSecret => {
    const pods = [...(missing.get(name)?.values() ?? [])]
    // A full sort only of what is listed would need a heap; the counts that matter here are small.
    pods.sort(byNamespaceAndName)
    return {
      count: pods.length,
      pods: pods.slice(0, options.maxExamples).map((pod) => ({ namespace: pod.metadata.namespace ?? "", name: pod.metadata.name }))
    }
  }

  return { podChanged, podDeleted, imagePullSecretChanged, of, podsOf: (name) => missing.get(name)?.values() ?? [] }
}
