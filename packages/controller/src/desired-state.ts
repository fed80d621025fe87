// What each target should be, as pure functions of a small read-only view of the cluster: the desire for a
// namespace's Secret and for a ServiceAccount's entry, the plan (the one next request) of any target, and the counts
// an ImagePullSecret's status reports. No I/O and no state here.
import { managedSecretName, namespaceSelected, serviceAccountSelected } from "@tcr-assistant/api"
import type { Distribution, RegistryCredentials } from "./distribution.ts"
import {
  type ObservedImagePullSecret,
  type ObservedSecret,
  type ObservedServiceAccount,
  ownerAnnotation,
  type Plan,
  planImagePullSecret,
  planSecret,
  planServiceAccount,
  type SecretDesire,
  type ServiceAccountDesire
} from "./plan.ts"
import type { TargetKey } from "./target.ts"

/** What desired state reads: the caches (with our own writes), the minted credentials and the Secrets' progress. */
export interface ClusterView {
  readonly distributionOf: (ips: string) => Distribution | undefined
  readonly namespace: (name: string) => NamespaceView | undefined
  readonly namespaces: () => Iterable<NamespaceView>
  readonly serviceAccountsIn: (namespace: string) => Iterable<string>
  readonly namespacesWithServiceAccounts: () => Iterable<string>
  /** By `namespace/name`, as last written or read by us if the cache is behind. */
  readonly serviceAccount: (key: string) => ObservedServiceAccount | undefined
  /** By `namespace/name`, as last written or read by us if the cache is behind. */
  readonly secret: (key: string) => ObservedSecret | undefined
  /** Every Secret we manage, as the cache has them. */
  readonly managedSecrets: () => Iterable<ObservedSecret>
  readonly imagePullSecret: (name: string) => ObservedImagePullSecret | undefined
  /** The credentials to distribute, once there are any (a TCR source waits for its first token). */
  readonly credentialsOf: (distribution: Distribution) => RegistryCredentials | undefined
  /** Whether the namespace's Secret of this ImagePullSecret is in place: its ServiceAccounts wait for it. */
  readonly secretReady: (ips: string, namespace: string) => boolean
}

export interface NamespaceView {
  readonly metadata: { readonly name: string; readonly deletionTimestamp?: string; readonly labels?: Readonly<Record<string, string>> }
  readonly status?: { readonly phase?: string }
}

export const isTerminating = (namespace: NamespaceView) =>
  namespace.metadata.deletionTimestamp !== undefined || namespace.status?.phase === "Terminating"

const invalidSpec = {
  _tag: "Skip",
  reason: "InvalidSpec",
  message: "the ImagePullSecret spec is invalid; existing objects are left as they are"
} as const

const namespaceIsSelected = (distribution: Distribution, namespace: NamespaceView) =>
  namespaceSelected(distribution.selection, namespace.metadata)

/** A ServiceAccount the cache does not hold (yet) is selected by its name alone. */
const serviceAccountIsSelected = (view: ClusterView, distribution: Distribution, ns: string, sa: string) =>
  serviceAccountSelected(distribution.selection, view.serviceAccount(`${ns}/${sa}`)?.metadata ?? { name: sa })

const terminating = (ns: string) => ({ _tag: "Skip", reason: "NamespaceTerminating", message: `namespace ${ns} is being deleted` }) as const

export const secretDesire = (view: ClusterView, ips: string, ns: string): SecretDesire => {
  const distribution = view.distributionOf(ips)
  const namespace = view.namespace(ns)
  const name = managedSecretName(ips)
  if (distribution !== undefined && distribution.violations.length > 0 && !distribution.deleting) return invalidSpec
  if (distribution === undefined || distribution.deleting || namespace === undefined || !namespaceIsSelected(distribution, namespace)) {
    return { _tag: "Absent", namespace: ns, name, ips }
  }
  const credentials = view.credentialsOf(distribution)
  if (credentials === undefined) {
    // No token yet (or it cannot be had): leave whatever is there as it is rather than remove working credentials.
    return distribution.source._tag === "SecretRef"
      ? { _tag: "Skip", reason: "CredentialSourcePending", message: "waiting for usable credentials from the source Secret" }
      : { _tag: "Skip", reason: "TokenPending", message: "waiting for a registry token from the TCR instance" }
  }
  if (isTerminating(namespace)) return terminating(ns)
  return { _tag: "Present", namespace: ns, name, credentials, owner: distribution.owner }
}

export const serviceAccountDesire = (view: ClusterView, ips: string, ns: string, sa: string): ServiceAccountDesire => {
  const distribution = view.distributionOf(ips)
  const namespace = view.namespace(ns)
  const secretName = managedSecretName(ips)
  if (distribution !== undefined && distribution.violations.length > 0 && !distribution.deleting) return invalidSpec
  if (
    distribution === undefined || distribution.deleting || namespace === undefined ||
    !namespaceIsSelected(distribution, namespace) || !serviceAccountIsSelected(view, distribution, ns, sa)
  ) {
    return { _tag: "Absent", namespace: ns, serviceAccount: sa, secretName }
  }
  if (isTerminating(namespace)) return terminating(ns)
  return { _tag: "Present", namespace: ns, serviceAccount: sa, secretName, secretReady: view.secretReady(ips, ns) }
}

/** ServiceAccounts in a namespace that still carry the ImagePullSecret's entry. */
const serviceAccountsWithEntry = (view: ClusterView, ns: string, secretName: string): number => {
  let count = 0
  for (const sa of view.serviceAccountsIn(ns)) {
    if (view.serviceAccount(`${ns}/${sa}`)?.imagePullSecrets?.some((entry) => entry.name === secretName)) count++
  }
  return count
}

/** Objects of ours the ImagePullSecret still has in the cluster; its finalizer waits for zero. */
const remainingObjects = (view: ClusterView, ips: string): number => {
  const secretName = managedSecretName(ips)
  let count = 0
  for (const secret of view.managedSecrets()) if (secret.metadata.annotations?.[ownerAnnotation] === ips) count++
  for (const ns of view.namespacesWithServiceAccounts()) count += serviceAccountsWithEntry(view, ns, secretName)
  return count
}

/** The next step of one target, from what should be and what is. */
export const planTarget = (view: ClusterView, target: TargetKey): Plan => {
  switch (target.kind) {
    case "Secret": {
      const name = managedSecretName(target.ips)
      const desire = secretDesire(view, target.ips, target.namespace)
      if (desire._tag === "Absent" && serviceAccountsWithEntry(view, target.namespace, name) > 0) {
        return { _tag: "Wait", reason: "RemovingServiceAccountEntries", message: "ServiceAccount entries are removed before the Secret" }
      }
      return planSecret(desire, view.secret(`${target.namespace}/${name}`))
    }
    case "ServiceAccount":
      return planServiceAccount(
        serviceAccountDesire(view, target.ips, target.namespace, target.serviceAccount),
        view.serviceAccount(`${target.namespace}/${target.serviceAccount}`)
      )
    case "ImagePullSecret": {
      const observed = view.imagePullSecret(target.ips)
      const deleting = observed?.metadata.deletionTimestamp !== undefined
      return planImagePullSecret(observed, deleting ? remainingObjects(view, target.ips) : 0)
    }
  }
}

/** How many Secrets and ServiceAccount entries the ImagePullSecret asks for right now. */
export const desiredCounts = (view: ClusterView, distribution: Distribution) => {
  let secretsDesired = 0
  let serviceAccountsDesired = 0
  if (distribution.deleting || distribution.violations.length > 0) return { secretsDesired, serviceAccountsDesired }
  for (const ns of view.namespaces()) {
    const name = ns.metadata.name
    if (!namespaceIsSelected(distribution, ns) || isTerminating(ns)) continue
    secretsDesired++
    for (const sa of view.serviceAccountsIn(name)) {
      if (serviceAccountIsSelected(view, distribution, name, sa)) serviceAccountsDesired++
    }
  }
  return { secretsDesired, serviceAccountsDesired }
}
