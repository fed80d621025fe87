// The syntax of one hosts-file line: its fields, and what counts as a valid address or hostname in it.
import { isIPv4, isIPv6 } from "node:net"

export type AddressFamily = "ipv4" | "ipv6"

/**
 * The whitespace-separated fields of a line, without its `#` comment. Whitespace is what the C library's hosts
 * parser treats as such, so a stray `\r` never ends up inside a field.
 */
export const lineFields = (text: string): ReadonlyArray<string> => {
  const hash = text.indexOf("#")
  const body = hash === -1 ? text : text.slice(0, hash)
  return body.split(/[ \t\r\n\f\v]+/).filter((field) => field.length > 0)
}

/** The family of an address as a hosts file may contain it, or undefined when it is not one. */
export const addressFamily = (text: string): AddressFamily | undefined => {
  if (isIPv4(text)) return "ipv4"
  // The C library's address parser rejects zone indexes (`fe80::1%eth0`), so such a line would be ignored.
  if (!text.includes("%") && isIPv6(text)) return "ipv6"
  return undefined
}

/** Why `text` is not an address a hosts file can hold; undefined when it is one. */
export const addressProblem = (text: string): string | undefined => {
  if (addressFamily(text) !== undefined) return undefined
  if (text.includes("%") && isIPv6(text)) {
    return `"${text}" carries a zone index (%...), which hosts files do not support`
  }
  if (/^\d+(\.\d+){3}$/.test(text)) {
    return `"${text}" is not a valid IPv4 address (each part is 0-255, written without leading zeros)`
  }
  return `"${text}" is not an IPv4 or IPv6 address`
}

/**
 * One spelling per address, so that `::1` and `0:0:0:0:0:0:0:1` compare equal. Only meaningful for text that
 * `addressFamily` accepts; IPv4 needs no work since leading zeros are already rejected.
 */
export const canonicalAddress = (address: string): string => {
  if (addressFamily(address) !== "ipv6") return address
  const bracketed = new URL(`http://[${address}]/`).hostname
  return bracketed.slice(1, -1)
}

const labelPattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i

/**
 * Why `name` is not a hostname (RFC 1123: dot-separated labels of letters, digits and inner hyphens, at most 63
 * characters each and 253 in all, last label not numeric); undefined when it is one.
 */
export const hostnameProblem = (name: string): string | undefined => {
  const quoted = `hostname "${name}"`
  if (name.length > 253) return `${quoted} is longer than 253 characters`
  const bad = /[^a-z0-9.-]/i.exec(name)
  if (bad !== null) {
    return `${quoted} contains ${JSON.stringify(bad[0])}; only letters, digits, hyphens and dots are allowed`
  }
  if (name.endsWith(".")) return `${quoted} ends with a dot; write the name without it`
  const labels = name.split(".")
  if (labels.some((label) => label.length === 0)) return `${quoted} has an empty label`
  if (labels.some((label) => label.length > 63)) return `${quoted} has a label longer than 63 characters`
  if (labels.some((label) => !labelPattern.test(label))) {
    return `${quoted} has a label that starts or ends with a hyphen`
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) {
    return `${quoted} ends with a numeric label, so it would be read as an address`
  }
  return undefined
}

/** Hostnames compare without regard to case. */
export const hostnameKey = (name: string): string => name.toLowerCase()
