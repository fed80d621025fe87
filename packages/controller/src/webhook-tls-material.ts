// What the webhook's TLS Secret holds and what it needs, decided from the certificates alone: the stored CA, serving
// certificate and previous CA read from the Secret's data, the plan (keep, renew the serving certificate, or start a
// new CA), and the material a replica serves, with the CA bundle the apiserver should trust. No I/O here.
import { createPrivateKey, X509Certificate } from "node:crypto"
import { isIP } from "node:net"
import type { TlsMaterial } from "./webhook.ts"

export interface WebhookCertificates extends TlsMaterial {
  readonly caPem: string
  /** What the apiserver should trust: the current CA, plus the previous one while it is still valid. */
  readonly caBundlePem: string
  readonly notAfter: Date
}

export interface SecretObject {
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly resourceVersion?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly [key: string]: unknown
  }
  readonly type?: string
  readonly data?: Readonly<Record<string, string>>
  readonly [key: string]: unknown
}

export const fromBase64 = (value: string | undefined) => (value === undefined ? "" : Buffer.from(value, "base64").toString("utf8"))
export const toBase64 = (value: string) => Buffer.from(value, "utf8").toString("base64")

/** The material as found in the Secret. */
export interface StoredTls {
  readonly ca?: X509Certificate | undefined
  readonly caPem: string
  readonly caKeyPem: string
  readonly previousCaPem: string
  readonly cert?: X509Certificate | undefined
  readonly certPem: string
  readonly keyPem: string
}

const parseCertificate = (pem: string): X509Certificate | undefined => {
  if (pem === "") return undefined
  try {
    return new X509Certificate(pem)
  } catch {
    return undefined
  }
}

export const readStoredTls = (secret: SecretObject | undefined): StoredTls => {
  const data = secret?.data ?? {}
  const caPem = fromBase64(data["ca.crt"])
  const certPem = fromBase64(data["tls.crt"])
  return {
    ca: parseCertificate(caPem),
    caPem,
    caKeyPem: fromBase64(data["ca.key"]),
    previousCaPem: fromBase64(data["ca-previous.crt"]),
    cert: parseCertificate(certPem),
    certPem,
    keyPem: fromBase64(data["tls.key"])
  }
}

const keyMatches = (certificate: X509Certificate, keyPem: string) => {
  try {
    return keyPem !== "" && certificate.checkPrivateKey(createPrivateKey(keyPem))
  } catch {
    return false
  }
}

const covers = (certificate: X509Certificate, host: string) =>
  isIP(host) !== 0 ? certificate.checkIP(host) !== undefined : certificate.checkHost(host) !== undefined

/** What the stored material needs, decided from the certificates alone. */
export type TlsPlan = "Keep" | "NewServingCertificate" | "NewAuthority"

export const planTls = (stored: StoredTls, hosts: ReadonlyArray<string>, renewBeforeMillis: number, now: number): TlsPlan => {
  const { ca, cert } = stored
  if (ca === undefined || !ca.ca || !keyMatches(ca, stored.caKeyPem)) return "NewAuthority"
  if (ca.validToDate.getTime() - now < renewBeforeMillis) return "NewAuthority"
  if (cert === undefined || !keyMatches(cert, stored.keyPem)) return "NewServingCertificate"
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return "NewServingCertificate"
  if (cert.validToDate.getTime() - now < renewBeforeMillis) return "NewServingCertificate"
  if (cert.validFromDate.getTime() > now) return "NewServingCertificate"
  if (!hosts.every((host) => covers(cert, host))) return "NewServingCertificate"
  return "Keep"
}

const bundle = (caPem: string, previousCaPem: string, now: number) => {
  const previous = parseCertificate(previousCaPem)
  const keepPrevious = previous !== undefined && previous.validToDate.getTime() > now && previousCaPem.trim() !== caPem.trim()
  return keepPrevious ? `${caPem.trimEnd()}\n${previousCaPem.trimEnd()}\n` : caPem
}

export const materialOf = (stored: StoredTls, now: number): WebhookCertificates => ({
  certPem: stored.certPem,
  keyPem: stored.keyPem,
  caPem: stored.caPem,
  caBundlePem: bundle(stored.caPem, stored.previousCaPem, now),
  notAfter: stored.cert?.validToDate ?? new Date(0)
})
