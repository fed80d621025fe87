// Kubernetes name grammars (DNS-1123 labels and subdomains) and the registry server grammar, as pure predicates.

const dns1123LabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const dns1123SubdomainPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** A namespace name: a DNS-1123 label of at most 63 characters. */
export const isDns1123Label = (name: string): boolean => name.length <= 63 && dns1123LabelPattern.test(name)

/** A ServiceAccount or Secret name: a DNS-1123 subdomain of at most 253 characters. */
export const isDns1123Subdomain = (name: string): boolean =>
  name.length <= 253 && dns1123SubdomainPattern.test(name)

/**
 * A registry server as Docker keys it in `auths`: a host name or IPv4 address with an optional port, and no scheme,
 * path, user info or whitespace. Host labels may carry upper-case letters (Docker lower-cases them on lookup).
 * The same expression is published in the CRD, so it keeps to RE2 syntax.
 */
export const registryServerPattern =
  "^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$"

const registryServerRegExp = new RegExp(registryServerPattern)

export const isRegistryServer = (server: string): boolean =>
  server.length <= 253 && registryServerRegExp.test(server)

/** Why a server string is not a registry host, in words a user can act on. */
export const describeRegistryServerProblem = (server: string): string => {
  if (server.length === 0) return "must not be empty"
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) return "must be a host[:port] without a scheme (drop the \"https://\")"
  if (server.includes("/")) return "must be a host[:port] without a path"
  if (/\s/.test(server)) return "must not contain whitespace"
  if (server.length > 253) return "must be at most 253 characters"
  return "must be a registry host name or IPv4 address with an optional port (1-65535), e.g. example.tencentcloudcr.com"
}
