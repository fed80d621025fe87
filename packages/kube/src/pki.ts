// Owns the small X.509 toolkit: self-signed certificate authorities, certificates issued by them for TLS servers
// or clients, and service-account signing keys, all as PEM strings.
//
// Every operation is an Effect (WebCrypto is asynchronous) that fails with `PkiError`. Keys are ECDSA P-256,
// which Go (kube-apiserver, etcd) and Node TLS both accept; a CA key given in PEM may also be RSA.
import "reflect-metadata"
import * as x509 from "@peculiar/x509"
import { createPrivateKey, createPublicKey, X509Certificate, webcrypto } from "node:crypto"
import { isIP } from "node:net"
import { Clock, Effect, Schema } from "effect"

// Node's WebCrypto, typed as the WebCrypto that @peculiar/x509 declares (the DOM library is not loaded here).
type WebCrypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>
type WebCryptoKey = Awaited<ReturnType<WebCrypto["subtle"]["generateKey"]>> extends infer K
  ? K extends { readonly privateKey: infer P } ? P : never
  : never
const crypto = webcrypto as unknown as WebCrypto

const ecdsaP256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const

// Certificates start slightly in the past so a peer with a clock a little behind still accepts them.
const clockSkewMillis = 5 * 60 * 1000
const dayMillis = 24 * 60 * 60 * 1000

export class PkiError extends Schema.TaggedError<PkiError>()("PkiError", {
  operation: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A certificate and its private key, both PEM (the key in PKCS#8), with the certificate's expiry. */
export interface IssuedCertificate {
  readonly certPem: string
  readonly keyPem: string
  readonly notAfter: Date
}

/** A certificate authority is an issued certificate allowed to sign others. */
export type CertificateAuthority = IssuedCertificate

export interface CertificateAuthorityOptions {
  readonly commonName: string
  readonly validityDays: number
}

export type CertificateUsage = "server" | "client"

export interface CertificateOptions {
  readonly commonName: string
  /** Subject O= values; Kubernetes reads them as the groups of a client certificate user. */
  readonly organizations?: ReadonlyArray<string>
  readonly dnsNames?: ReadonlyArray<string>
  readonly ipAddresses?: ReadonlyArray<string>
  readonly usage: CertificateUsage
  readonly validityDays: number
}

export interface SigningKeyPair {
  readonly privateKeyPem: string
  readonly publicKeyPem: string
}

const attempt = <A>(operation: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (cause) =>
      new PkiError({ operation, message: cause instanceof Error ? cause.message : String(cause), cause })
  })

const invalid = (operation: string, message: string) => Effect.fail(new PkiError({ operation, message }))

const checkValidity = (operation: string, commonName: string, validityDays: number) => {
  if (commonName.trim() === "") return invalid(operation, "commonName must not be empty")
  if (!(Number.isFinite(validityDays) && validityDays > 0)) {
    return invalid(operation, `validityDays must be a positive number, got ${validityDays}`)
  }
  return Effect.void
}

/** From a little before `now` (Effect's Clock, read by the caller), for `validityDays`. */
const validityPeriod = (now: number, validityDays: number) => {
  // X.509 times have second precision; truncate so the returned notAfter equals the encoded one.
  const notAfter = new Date(Math.floor((now + validityDays * dayMillis) / 1000) * 1000)
  return { notBefore: new Date(now - clockSkewMillis), notAfter }
}

// A positive 128-bit serial number (RFC 5280 allows up to 20 octets; the top bit must be clear).
const randomSerialNumber = () => {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16))
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return Buffer.from(bytes).toString("hex")
}

const subjectName = (commonName: string, organizations: ReadonlyArray<string>): x509.JsonName => [
  { CN: [commonName] },
  ...organizations.map((organization) => ({ O: [organization] }))
]

const generateKeyPair = () => crypto.subtle.generateKey(ecdsaP256, true, ["sign", "verify"])

const privateKeyToPem = async (key: WebCryptoKey) =>
  x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY")

// Imports a PEM private key (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY") for signing and
// returns the WebCrypto algorithm certificates signed with it use.
const importSigningKey = async (keyPem: string) => {
  const key = createPrivateKey(keyPem)
  const pkcs8 = key.export({ type: "pkcs8", format: "der" })
  switch (key.asymmetricKeyType) {
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve
      const namedCurve = curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : undefined
      if (namedCurve === undefined) throw new Error(`unsupported EC curve ${curve ?? "(unknown)"}`)
      const algorithm = { name: "ECDSA", namedCurve, hash: namedCurve === "P-256" ? "SHA-256" : "SHA-384" }
      return { algorithm, key: await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]) }
    }
    case "rsa": {
      const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
      return { algorithm, key: await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]) }
    }
    default:
      throw new Error(`unsupported CA key type ${key.asymmetricKeyType ?? "(unknown)"}`)
  }
}

/** Creates a self-signed certificate authority that may sign leaf certificates only (path length 0). */
export const createCertificateAuthority = Effect.fn("Pki.createCertificateAuthority")(function*(
  options: CertificateAuthorityOptions
) {
  const operation = "createCertificateAuthority"
  yield* checkValidity(operation, options.commonName, options.validityDays)
  const now = yield* Clock.currentTimeMillis
  return yield* attempt(operation, async () => {
    const keys = await generateKeyPair()
    const { notBefore, notAfter } = validityPeriod(now, options.validityDays)
    const certificate = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerialNumber(),
        name: subjectName(options.commonName, []),
        notBefore,
        notAfter,
        keys,
        signingAlgorithm: ecdsaP256,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
            true
          ),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto)
        ]
      },
      crypto
    )
    return { certPem: certificate.toString("pem"), keyPem: await privateKeyToPem(keys.privateKey), notAfter }
  })
})

/** Issues a leaf certificate signed by `ca`, for a TLS server (serverAuth) or client (clientAuth). */
export const issueCertificate = Effect.fn("Pki.issueCertificate")(function*(
  ca: Pick<CertificateAuthority, "certPem" | "keyPem">,
  options: CertificateOptions
) {
  const operation = "issueCertificate"
  yield* checkValidity(operation, options.commonName, options.validityDays)
  const badIp = (options.ipAddresses ?? []).find((address) => isIP(address) === 0)
  if (badIp !== undefined) return yield* invalid(operation, `not an IP address: ${badIp}`)
  const badDns = (options.dnsNames ?? []).find((name) => name.trim() === "" || /[\s/]/.test(name))
  if (badDns !== undefined) return yield* invalid(operation, `not a DNS name: ${JSON.stringify(badDns)}`)
  const now = yield* Clock.currentTimeMillis
  return yield* attempt(operation, async () => {
    const caCertificate = new x509.X509Certificate(ca.certPem)
    const signing = await importSigningKey(ca.keyPem)
    const keys = await generateKeyPair()
    const { notBefore, notAfter } = validityPeriod(now, options.validityDays)
    const alternativeNames: Array<x509.JsonGeneralName> = [
      ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value }))
    ]
    const extensions: Array<x509.Extension> = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [options.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      await x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey, false, crypto)
    ]
    if (alternativeNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(alternativeNames))
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerialNumber(),
        subject: subjectName(options.commonName, options.organizations ?? []),
        issuer: caCertificate.subject,
        notBefore,
        notAfter,
        publicKey: keys.publicKey,
        signingKey: signing.key,
        signingAlgorithm: signing.algorithm,
        extensions
      },
      crypto
    )
    return { certPem: certificate.toString("pem"), keyPem: await privateKeyToPem(keys.privateKey), notAfter }
  })
})

/** The expiry of a PEM certificate (the first one when given a bundle). */
export const certificateNotAfter = Effect.fn("Pki.certificateNotAfter")(function*(certPem: string) {
  return yield* Effect.try({
    try: () => new X509Certificate(certPem).validToDate,
    catch: (cause) =>
      new PkiError({
        operation: "certificateNotAfter",
        message: cause instanceof Error ? cause.message : String(cause),
        cause
      })
  })
})

/** Creates a key pair for signing tokens, such as kube-apiserver's service-account keys (ES256). */
export const createSigningKeyPair = Effect.fn("Pki.createSigningKeyPair")(function*() {
  return yield* attempt("createSigningKeyPair", async () => {
    const keys = await generateKeyPair()
    const privateKeyPem = await privateKeyToPem(keys.privateKey)
    const publicKeyPem = createPublicKey(privateKeyPem).export({ type: "spki", format: "pem" }).toString()
    return { privateKeyPem, publicKeyPem } satisfies SigningKeyPair
  })
})
