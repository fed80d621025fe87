// Targets of the distribution: a namespace's pull Secret, and a ServiceAccount's imagePullSecrets entry, each for
// one ImagePullSecret. A target is identified by a string key, the unit of work of the queue.

export type TargetKey =
  | { readonly kind: "Secret"; readonly ips: string; readonly namespace: string }
  | { readonly kind: "ServiceAccount"; readonly ips: string; readonly namespace: string; readonly serviceAccount: string }
  | { readonly kind: "ImagePullSecret"; readonly ips: string }

// Object names never contain "|" (DNS-1123), so it separates the parts unambiguously.
export const encodeTargetKey = (key: TargetKey): string => {
  switch (key.kind) {
    case "Secret":
      return `S|${key.ips}|${key.namespace}`
    case "ServiceAccount":
      return `A|${key.ips}|${key.namespace}|${key.serviceAccount}`
    case "ImagePullSecret":
      return `C|${key.ips}`
  }
}

export const decodeTargetKey = (text: string): TargetKey => {
  const [tag, ips = "", namespace = "", serviceAccount = ""] = text.split("|")
  switch (tag) {
    case "S":
      return { kind: "Secret", ips, namespace }
    case "A":
      return { kind: "ServiceAccount", ips, namespace, serviceAccount }
    case "C":
      return { kind: "ImagePullSecret", ips }
    default:
      throw new Error(`not a target key: ${text}`)
  }
}
