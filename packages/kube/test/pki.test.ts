// Checks certificates from pki.ts with Node's own X.509 parser: chains verify, names and usages are as asked.
import { assert, describe, it } from "@effect/vitest"
import { createPrivateKey, createPublicKey, createSign, createVerify, webcrypto, X509Certificate } from "node:crypto"
import "reflect-metadata"
import * as x509 from "@peculiar/x509"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import {
  certificateNotAfter,
  createCertificateAuthority,
  createSigningKeyPair,
  issueCertificate
} from "../src/pki.ts"

const dayMillis = 24 * 60 * 60 * 1000

const rsaCertificateAuthority = async () => {
  const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 }
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    { name: "CN=rsa-ca", keys, signingAlgorithm: algorithm, extensions: [new x509.BasicConstraintsExtension(true)] },
    crypto
  )
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey))
  const keyPem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ type: "pkcs1", format: "pem" })
  return { certPem: certificate.toString("pem"), keyPem: keyPem.toString() }
}

// Node reports the extended key usage OIDs as `keyUsage`.
const extendedKeyUsages = (certificate: X509Certificate) => certificate.keyUsage ?? []

describe("createCertificateAuthority", () => {
  it.effect("creates a self-signed CA whose key matches its certificate, valid from Effect's Clock", () =>
    Effect.gen(function*() {
      const now = Date.UTC(2031, 4, 6, 7, 8, 9, 500)
      yield* TestClock.setTime(now)
      const ca = yield* createCertificateAuthority({ commonName: "test-ca", validityDays: 10 })
      const certificate = new X509Certificate(ca.certPem)
      assert.isTrue(certificate.ca)
      assert.isTrue(certificate.checkIssued(certificate))
      assert.isTrue(certificate.verify(certificate.publicKey))
      assert.isTrue(certificate.checkPrivateKey(createPrivateKey(ca.keyPem)))
      assert.strictEqual(certificate.subject, "CN=test-ca")
      assert.strictEqual(certificate.validToDate.getTime(), ca.notAfter.getTime())
      // X.509 times have second precision: notAfter is cut to the second, notBefore allows for clock skew.
      assert.strictEqual(ca.notAfter.getTime(), Math.floor((now + 10 * dayMillis) / 1000) * 1000)
      assert.isTrue(certificate.validFromDate.getTime() <= now && certificate.validFromDate.getTime() > now - dayMillis)
      assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/)
    }))

  it.effect("rejects a non-positive validity", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(createCertificateAuthority({ commonName: "ca", validityDays: 0 }))
      assert.strictEqual(error._tag, "PkiError")
      assert.match(error.message, /validityDays/)
    }))
})

describe("issueCertificate", () => {
  it.effect("issues a server certificate with SANs that chains to the CA", () =>
    Effect.gen(function*() {
      const ca = yield* createCertificateAuthority({ commonName: "test-ca", validityDays: 10 })
      const server = yield* issueCertificate(ca, {
        commonName: "kube-apiserver",
        dnsNames: ["localhost", "kubernetes.default.svc"],
        ipAddresses: ["127.0.0.1", "::1"],
        usage: "server",
        validityDays: 2
      })
      const caCertificate = new X509Certificate(ca.certPem)
      const certificate = new X509Certificate(server.certPem)
      assert.isFalse(certificate.ca)
      assert.isTrue(certificate.checkIssued(caCertificate))
      assert.isTrue(certificate.verify(caCertificate.publicKey))
      assert.isTrue(certificate.checkPrivateKey(createPrivateKey(server.keyPem)))
      assert.strictEqual(certificate.checkHost("localhost"), "localhost")
      assert.strictEqual(certificate.checkHost("kubernetes.default.svc"), "kubernetes.default.svc")
      assert.isUndefined(certificate.checkHost("example.com"))
      assert.strictEqual(certificate.checkIP("127.0.0.1"), "127.0.0.1")
      assert.strictEqual(certificate.checkIP("::1"), "::1")
      assert.isUndefined(certificate.checkIP("10.0.0.1"))
      assert.deepStrictEqual(extendedKeyUsages(certificate), ["1.3.6.1.5.5.7.3.1"])
      assert.isTrue(certificate.validToDate.getTime() < caCertificate.validToDate.getTime())
    }))

  it.effect("issues a client certificate carrying organizations as groups", () =>
    Effect.gen(function*() {
      const ca = yield* createCertificateAuthority({ commonName: "test-ca", validityDays: 10 })
      const client = yield* issueCertificate(ca, {
        commonName: "admin",
        organizations: ["system:masters", "team-a"],
        usage: "client",
        validityDays: 1
      })
      const certificate = new X509Certificate(client.certPem)
      assert.isTrue(certificate.verify(new X509Certificate(ca.certPem).publicKey))
      assert.strictEqual(certificate.subject, "CN=admin\nO=system:masters\nO=team-a")
      assert.deepStrictEqual(extendedKeyUsages(certificate), ["1.3.6.1.5.5.7.3.2"])
      assert.isUndefined(certificate.subjectAltName)
    }))

  it.effect("does not chain to an unrelated CA", () =>
    Effect.gen(function*() {
      const ca = yield* createCertificateAuthority({ commonName: "ca-one", validityDays: 1 })
      const other = yield* createCertificateAuthority({ commonName: "ca-two", validityDays: 1 })
      const leaf = yield* issueCertificate(ca, { commonName: "leaf", usage: "client", validityDays: 1 })
      const certificate = new X509Certificate(leaf.certPem)
      assert.isFalse(certificate.verify(new X509Certificate(other.certPem).publicKey))
      assert.isFalse(certificate.checkIssued(new X509Certificate(other.certPem)))
    }))

  it.effect("signs with an RSA CA key given in PKCS#1 PEM", () =>
    Effect.gen(function*() {
      // An RSA CA made elsewhere stands in for a CA the user brings.
      const { certPem, keyPem } = yield* Effect.promise(rsaCertificateAuthority)
      const leaf = yield* issueCertificate({ certPem, keyPem }, {
        commonName: "webhook",
        dnsNames: ["webhook.system.svc"],
        usage: "server",
        validityDays: 1
      })
      const certificate = new X509Certificate(leaf.certPem)
      assert.isTrue(certificate.verify(new X509Certificate(certPem).publicKey))
      assert.strictEqual(certificate.issuer, "CN=rsa-ca")
    }))

  it.effect("rejects an invalid IP address", () =>
    Effect.gen(function*() {
      const ca = yield* createCertificateAuthority({ commonName: "ca", validityDays: 1 })
      const error = yield* Effect.flip(
        issueCertificate(ca, { commonName: "x", ipAddresses: ["localhost"], usage: "server", validityDays: 1 })
      )
      assert.match(error.message, /not an IP address: localhost/)
    }))
})

describe("certificateNotAfter", () => {
  it.effect("reads the expiry that issueCertificate reported", () =>
    Effect.gen(function*() {
      const ca = yield* createCertificateAuthority({ commonName: "ca", validityDays: 3 })
      const leaf = yield* issueCertificate(ca, { commonName: "x", usage: "client", validityDays: 1 })
      assert.strictEqual((yield* certificateNotAfter(leaf.certPem)).getTime(), leaf.notAfter.getTime())
      assert.strictEqual((yield* certificateNotAfter(ca.certPem)).getTime(), ca.notAfter.getTime())
    }))

  it.effect("fails on text that is not a certificate", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(certificateNotAfter("not a certificate"))
      assert.strictEqual(error.operation, "certificateNotAfter")
    }))
})

describe("createSigningKeyPair", () => {
  it.effect("creates a key pair whose public half verifies the private half's signatures", () =>
    Effect.gen(function*() {
      const pair = yield* createSigningKeyPair()
      const signature = createSign("SHA256").update("token").sign(pair.privateKeyPem)
      assert.isTrue(createVerify("SHA256").update("token").verify(pair.publicKeyPem, signature))
      assert.strictEqual(createPublicKey(pair.publicKeyPem).asymmetricKeyType, "ec")
      assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/)
    }))
})
