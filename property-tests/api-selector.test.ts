// Properties of the namespaces/serviceAccounts selector and of the dockerconfigjson payload.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import {
  formatSelector,
  isDns1123Label,
  parseSelector,
  renderDockerConfigJson,
  selectorMatches
} from "@tcr-assistant/api"

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/)
const padding = fc.constantFrom("", " ", "  ", "\t")

describe("selector", () => {
  test.prop([fc.constantFrom("", "*", " * ", "  ", ",", " , "), label])(
    "'*', empty and blank selectors match every name",
    (raw, name) => {
      expect(selectorMatches(parseSelector(raw), name)).toBe(true)
    }
  )

  test.prop([fc.uniqueArray(label, { minLength: 1, maxLength: 6 }), padding, label])(
    "a list matches exactly its names, whitespace around names tolerated",
    (names, pad, probe) => {
      const raw = names.map((name) => `${pad}${name}${pad}`).join(",")
      const selector = parseSelector(raw)
      expect(selectorMatches(selector, probe)).toBe(names.includes(probe))
      for (const name of names) expect(selectorMatches(selector, name)).toBe(true)
    }
  )

  test.prop([fc.uniqueArray(label, { minLength: 1, maxLength: 6 })])(
    "formatting and parsing again selects the same names",
    (names) => {
      const selector = parseSelector(names.join(","))
      const again = parseSelector(formatSelector(selector))
      for (const name of names) expect(selectorMatches(again, name)).toBe(true)
      expect(formatSelector(again)).toBe(formatSelector(selector))
    }
  )

  test.prop([label])("generated labels are valid namespace names", (name) => {
    expect(isDns1123Label(name)).toBe(true)
  })
})

describe("dockerconfigjson", () => {
  const host = fc.stringMatching(/^[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}(:[1-9][0-9]{0,3})?$/)
  test.prop([host, fc.string({ minLength: 1 }), fc.string({ minLength: 1 })])(
    "auths[server] carries the user, the password and base64(user:password)",
    (server, username, password) => {
      const parsed = JSON.parse(renderDockerConfigJson({ server, username, password }))
      expect(Object.keys(parsed.auths)).toEqual([server])
      const entry = parsed.auths[server]
      expect(entry.username).toBe(username)
      expect(entry.password).toBe(password)
      expect(Buffer.from(entry.auth, "base64").toString("utf8")).toBe(`${username}:${password}`)
    }
  )
})
