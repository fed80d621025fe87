// Properties of decoding a credential source Secret (spec.secretRef): well-formed Secrets give back their
// credentials, and every malformed one is Invalid with a message that quotes no value read from the Secret.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { decodeSourceSecret, dockerConfigJsonType, dockerConfigSecretData, type SourceSecret, validateSpec } from "@tcr-assistant/api"

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const host = fc.stringMatching(/^[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}(:[1-9][0-9]{0,3})?$/)
// Values carry a marker no message contains, so that "the value appears in the message" cannot happen by chance.
const value = (marker: string) => fc.string({ minLength: 1, maxLength: 40 }).map((s) => `${marker}#${s}`)
const credentials = fc.record({ server: host, username: value("u"), password: value("p") })

const dockerConfigSecret = (c: { server: string; username: string; password: string }): SourceSecret => ({
  type: dockerConfigJsonType,
  data: dockerConfigSecretData(c)
})
const keysSecret = (c: { server: string; username: string; password: string }): SourceSecret => ({
  type: "Opaque",
  data: { server: b64(c.server), username: b64(c.username), password: b64(c.password) }
})

type Fault = (c: { server: string; username: string; password: string }) => { secret: SourceSecret; server?: string }
const faults: ReadonlyArray<[string, Fault]> = [
  ["no .dockerconfigjson", () => ({ secret: { type: dockerConfigJsonType, data: {} } })],
  ["not base64", (c) => ({ secret: { type: dockerConfigJsonType, data: { ".dockerconfigjson": `*${c.password}` } } })],
  ["not JSON", (c) => ({ secret: { type: dockerConfigJsonType, data: { ".dockerconfigjson": b64(`{"auths":${c.password}`) } } })],
  ["no auths", (c) => ({ secret: { type: dockerConfigJsonType, data: { ".dockerconfigjson": b64(JSON.stringify({ a: c.password })) } } })],
  ["other server", (c) => ({ secret: dockerConfigSecret(c), server: `x${c.server}` })],
  ["two entries, no server", (c) => ({
    secret: {
      type: dockerConfigJsonType,
      data: { ".dockerconfigjson": b64(JSON.stringify({ auths: { [c.server]: c, [`x${c.server}`]: c } })) }
    }
  })],
  ["auth without colon", (c) => ({
    secret: { type: dockerConfigJsonType, data: { ".dockerconfigjson": b64(JSON.stringify({ auths: { [c.server]: { auth: b64(c.password.replaceAll(":", "")) } } })) } }
  })],
  ["entry not an object", (c) => ({
    secret: { type: dockerConfigJsonType, data: { ".dockerconfigjson": b64(JSON.stringify({ auths: { [c.server]: c.password } })) } }
  })],
  ["empty password", (c) => ({ secret: dockerConfigSecret({ ...c, password: "" }) })],
  ["no password key", (c) => ({ secret: { data: { server: b64(c.server), username: b64(c.username) } } })],
  ["no server", (c) => ({ secret: { data: { username: b64(c.username), password: b64(c.password) } } })],
  ["server not a host", (c) => ({ secret: { data: { server: b64(`https://${c.password}`), username: b64(c.username), password: b64(c.password) } } })],
  ["password not base64", (c) => ({ secret: { data: { server: b64(c.server), username: b64(c.username), password: `!${c.password}` } } })],
  ["password not UTF-8", (c) => ({ secret: { data: { server: b64(c.server), username: b64(c.username), password: Buffer.from([0xff, 0xfe, ...Buffer.from(c.password)]).toString("base64") } } })]
]

describe("source Secret decoding", () => {
  test.prop([credentials, fc.boolean()])("a dockerconfigjson Secret gives its entry's credentials", (c, named) => {
    expect(decodeSourceSecret(dockerConfigSecret(c), named ? c.server : undefined)).toEqual({ _tag: "Credentials", credentials: c })
  })

  test.prop([credentials])("an entry with only auth gives the credentials it encodes", (c) => {
    const username = c.username.replaceAll(":", "")
    const document = { auths: { [c.server]: { auth: b64(`${username}:${c.password}`) } } }
    const secret = { type: dockerConfigJsonType, data: { ".dockerconfigjson": b64(JSON.stringify(document)) } }
    expect(decodeSourceSecret(secret, c.server)).toEqual({ _tag: "Credentials", credentials: { ...c, username } })
  })

  test.prop([credentials, fc.boolean()])("a username/password Secret gives its keys, the spec's server first", (c, named) => {
    const server = named ? `spec.${c.server}` : undefined
    expect(decodeSourceSecret(keysSecret(c), server)).toEqual({
      _tag: "Credentials",
      credentials: { ...c, server: server ?? c.server }
    })
  })

  test.prop([credentials, fc.constantFrom(...faults)])("a malformed Secret is Invalid and quotes no value", (c, [, fault]) => {
    const { secret, server } = fault(c)
    const result = decodeSourceSecret(secret, server)
    expect(result._tag).toBe("Invalid")
    const message = result._tag === "Invalid" ? result.message : ""
    expect(message.length).toBeGreaterThan(0)
    for (const leaked of [c.username, c.password, ...Object.values(secret.data ?? {})]) {
      if (leaked.length > 0) expect(message).not.toContain(leaked)
    }
  })
})

describe("spec.secretRef validation", () => {
  const docker = { server: "r.example.com", username: "u", password: "p" }
  const tcr = { region: "ap-guangzhou", instanceId: "tcr-abc", credentialsSecretRef: { name: "keys" } }
  const pathsOf = (spec: unknown) => {
    const result = validateSpec(spec)
    return result._tag === "Valid" ? [] : result.violations.map((v) => v.path)
  }

  test.prop([fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/), fc.option(host, { nil: undefined })])(
    "a reference alone is a valid source",
    (name, server) => {
      expect(validateSpec({ secretRef: { name, ...(server === undefined ? {} : { server }) } })).toMatchObject({ _tag: "Valid" })
    }
  )

  test.prop([fc.subarray(["docker", "tcr"] as const, { minLength: 1 })])("with another source it is refused at spec.secretRef or spec.tcr", (others) => {
    const spec = { secretRef: { name: "pull" }, ...(others.includes("docker") ? { docker } : {}), ...(others.includes("tcr") ? { tcr } : {}) }
    const paths = pathsOf(spec)
    expect(paths.length).toBeGreaterThan(0)
    expect(paths.every((path) => path === "spec.secretRef" || path === "spec.tcr")).toBe(true)
  })

  test("bad names and servers are reported at their field paths", () => {
    expect(pathsOf({ secretRef: { name: "Not_A_Name" } })).toEqual(["spec.secretRef.name"])
    expect(pathsOf({ secretRef: { name: "pull", namespace: "-bad" } })).toEqual(["spec.secretRef.namespace"])
    expect(pathsOf({ secretRef: { name: "pull", server: "https://x" } })).toEqual(["spec.secretRef.server"])
    expect(pathsOf({})).toEqual(["spec.docker"])
  })
})
