// Properties of spec validation: valid specs pass, and every injected fault is reported at its field path.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { isRegistryServer, validateImagePullSecret, validateSpec } from "@tcr-assistant/api"

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/)
const host = fc.stringMatching(/^[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}(:[1-9][0-9]{0,3})?$/)
const selector = fc.oneof(fc.constant("*"), fc.constant(""), fc.uniqueArray(label, { minLength: 1, maxLength: 4 }).map((n) => n.join(", ")))
const validSpec = fc.record({
  namespaces: selector,
  serviceAccounts: selector,
  docker: fc.record({ server: host, username: fc.string({ minLength: 1 }), password: fc.string({ minLength: 1 }) })
})

type Fault = { readonly path: string; readonly apply: (spec: any) => void }
const faults: ReadonlyArray<Fault> = [
  { path: "spec.docker.server", apply: (s) => { s.docker.server = `https://${s.docker.server}` } },
  { path: "spec.docker.server", apply: (s) => { s.docker.server = `${s.docker.server}/path` } },
  { path: "spec.docker.server", apply: (s) => { s.docker.server = "" } },
  { path: "spec.docker.username", apply: (s) => { s.docker.username = "" } },
  { path: "spec.docker.password", apply: (s) => { s.docker.password = "" } },
  { path: "spec.docker.password", apply: (s) => { delete s.docker.password } },
  { path: "spec.namespaces", apply: (s) => { s.namespaces = "good,Not_Valid" } },
  { path: "spec.serviceAccounts", apply: (s) => { s.serviceAccounts = "-bad" } },
  { path: "spec.docker", apply: (s) => { delete s.docker } }
]

describe("spec validation", () => {
  test.prop([validSpec])("a well-formed spec is valid", (spec) => {
    expect(validateSpec(spec)).toMatchObject({ _tag: "Valid" })
  })

  test.prop([validSpec, fc.subarray([...faults.keys()], { minLength: 1 })])(
    "every fault is reported at once with its field path",
    (spec, picked) => {
      const copy = structuredClone(spec)
      // Removing docker makes the docker.* faults moot: apply it last so the others still get a target.
      const ordered = [...picked].sort((a, b) => (faults[a]!.path === "spec.docker" ? 1 : 0) - (faults[b]!.path === "spec.docker" ? 1 : 0))
      for (const index of ordered) {
        if (copy.docker === undefined) break
        faults[index]!.apply(copy)
      }
      const result = validateSpec(copy)
      expect(result._tag).toBe("Invalid")
      if (result._tag !== "Invalid") return
      const paths = new Set(result.violations.map((v) => v.path))
      const expected = new Set(
        ordered.slice(0, copy.docker === undefined ? ordered.findIndex((i) => faults[i]!.path === "spec.docker") + 1 : ordered.length)
          .map((i) => faults[i]!.path)
      )
      if (copy.docker === undefined) {
        expect(paths).toContain("spec.docker")
      } else {
        expect(paths).toEqual(expected)
      }
    }
  )

  test.prop([validSpec, fc.string({ minLength: 1 }), fc.string({ minLength: 1 })])(
    "violation messages never depend on the password (so they cannot reveal it)",
    (spec, password, other) => {
      const broken = (secret: string) => ({ ...spec, docker: { ...spec.docker, server: "https://bad/", password: secret, username: "" } })
      const messages = (secret: string) => {
        const result = validateSpec(broken(secret))
        return result._tag === "Invalid" ? result.violations : []
      }
      expect(messages(password)).toEqual(messages(other))
      expect(messages(password).length).toBeGreaterThan(0)
    }
  )

  test.prop([fc.string()])("the server check agrees with its RE2-compatible pattern", (server) => {
    const result = validateSpec({ docker: { server, username: "u", password: "p" } })
    expect(result._tag === "Valid").toBe(isRegistryServer(server))
  })
})

describe("object validation", () => {
  test("a name too long for its Secret name is refused", () => {
    const violations = validateImagePullSecret({
      metadata: { name: "a".repeat(247) },
      spec: { docker: { server: "r.example.com", username: "u", password: "p" } }
    })
    expect(violations.map((v) => v.path)).toEqual(["metadata.name"])
  })
})

describe("credential sources", () => {
  const tcr = fc.record({
    region: fc.constantFrom("ap-guangzhou", "ap-shanghai", "na-siliconvalley"),
    instanceId: fc.stringMatching(/^tcr-[a-z0-9]{4,10}$/),
    credentialsSecretRef: fc.record({ name: label }, { requiredKeys: ["name"] })
  })

  test.prop([tcr, selector])("a spec naming a TCR instance instead of docker credentials is valid", (source, namespaces) => {
    expect(validateSpec({ namespaces, tcr: source })).toMatchObject({ _tag: "Valid" })
  })

  test.prop([validSpec, tcr])("docker and tcr together are refused at spec.tcr", (spec, source) => {
    const result = validateSpec({ ...spec, tcr: source })
    expect(result._tag === "Invalid" && result.violations.map((v) => v.path)).toEqual(["spec.tcr"])
  })

  test.prop([tcr, fc.constantFrom("tcr_bad", "TCR-1", "abc", "")])("a malformed instance ID is reported at its path", (source, instanceId) => {
    const result = validateSpec({ tcr: { ...source, instanceId } })
    expect(result._tag === "Invalid" && result.violations.map((v) => v.path)).toEqual(["spec.tcr.instanceId"])
  })
})
