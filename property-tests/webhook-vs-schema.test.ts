// The validating webhook and the API package's validation agree on every object: the webhook allows exactly what
// validateImagePullSecret accepts, and denies with exactly its violations (every field path, one message), never
// echoing the password.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { formatViolations, validateImagePullSecret } from "@tcr-assistant/api"
import { reviewAdmission } from "@tcr-assistant/controller/webhook"

// Values mix well-formed and broken ones so both verdicts are frequent.
const selector = fc.oneof(
  fc.constantFrom("*", "", "default", "a,b", " kube-system , default ", "Bad_Name", "ok,-bad", "x".repeat(70)),
  fc.array(fc.constantFrom("a", "b-1", "UPPER", "dot.ted", "", "  "), { maxLength: 4 }).map((names) => names.join(","))
)
const server = fc.constantFrom(
  "example.tencentcloudcr.com",
  "reg.example.com:5000",
  "10.0.0.1",
  "https://reg.example.com",
  "reg.example.com/path",
  "",
  "bad host",
  "reg:99999"
)
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constant(""))
const scalar = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null))
const maybe = <A>(arbitrary: fc.Arbitrary<A>) => fc.option(arbitrary, { nil: undefined })

const docker = fc.record(
  { server: fc.oneof(server, scalar), username: fc.oneof(text, scalar), password: fc.oneof(text, fc.string({ minLength: 8 }), scalar) },
  { requiredKeys: [] }
)
const spec = fc.record(
  { namespaces: fc.oneof(selector, scalar), serviceAccounts: fc.oneof(selector, scalar), docker: fc.oneof(docker, scalar) },
  { requiredKeys: [] }
)
const name = fc.oneof(fc.constantFrom("sample", "a", "n".repeat(246), "n".repeat(247)), fc.string({ maxLength: 5 }))
const anyObject = fc.record({
  apiVersion: fc.constant("tcr.tencentcloudcr.com/v1"),
  kind: fc.constant("ImagePullSecret"),
  metadata: fc.record({ name }),
  spec: maybe(fc.oneof(spec, scalar))
})
// Random objects are mostly invalid; well-formed ones keep the "allowed" verdict frequent too.
const wellFormed = fc.record({
  apiVersion: fc.constant("tcr.tencentcloudcr.com/v1"),
  kind: fc.constant("ImagePullSecret"),
  metadata: fc.record({ name: fc.constantFrom("sample", "team-a") }),
  spec: fc.record({
    namespaces: fc.constantFrom("*", "", "default,kube-system"),
    serviceAccounts: fc.constantFrom("*", "default"),
    docker: fc.record({ server: fc.constantFrom("example.tencentcloudcr.com", "10.0.0.1:5000"), username: fc.string({ minLength: 1 }), password: fc.string({ minLength: 1 }) })
  })
})
const imagePullSecret = fc.oneof(wellFormed, anyObject)

const admissionReview = (operation: string, object: unknown, oldObject?: unknown) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "7d3c5e0c-1f7e-4d5e-9c2b-000000000001",
    kind: { group: "tcr.tencentcloudcr.com", version: "v1", kind: "ImagePullSecret" },
    operation,
    object,
    ...(oldObject !== undefined ? { oldObject } : {})
  }
})

const passwordOf = (object: any): string | undefined => {
  const password = object?.spec?.docker?.password
  return typeof password === "string" || typeof password === "number" || typeof password === "boolean"
    ? String(password)
    : undefined
}

const checkAgreement = (object: unknown, body: any) => {
  const violations = validateImagePullSecret(object)
  expect(body.response.uid).toBe("7d3c5e0c-1f7e-4d5e-9c2b-000000000001")
  expect(body.response.allowed).toBe(violations.length === 0)
  if (violations.length === 0) return
  const message: string = body.response.status.message
  expect(body.response.status.code).toBe(422)
  // The message is the violations' own text, except that a password that happens to occur in it is masked.
  const password = passwordOf(object)
  const mask = (text: string) => (password !== undefined && password.length >= 3 ? text.split(password).join("[redacted]") : text)
  expect(message).toBe(mask(formatViolations(violations)))
  if (password !== undefined && password.length >= 3) expect(message).not.toContain(password)
  for (const violation of violations) expect(message).toContain(mask(`${violation.path}: ${violation.message}`))
}

describe("webhook vs validateImagePullSecret", () => {
  test.prop([imagePullSecret])("CREATE: the webhook allows exactly the valid objects and reports every violation", (object) => {
    const outcome = reviewAdmission(admissionReview("CREATE", object))
    expect(outcome.httpStatus).toBe(200)
    expect(outcome.result).toBe(validateImagePullSecret(object).length === 0 ? "allowed" : "denied")
    checkAgreement(object, outcome.body)
  })

  test.prop([imagePullSecret, imagePullSecret])("UPDATE that changes the spec is judged like a CREATE", (previous, object) => {
    fc.pre(JSON.stringify(previous.spec) !== JSON.stringify(object.spec))
    const outcome = reviewAdmission(admissionReview("UPDATE", object, previous))
    checkAgreement(object, outcome.body)
  })

  test.prop([imagePullSecret, fc.dictionary(fc.constantFrom("a", "b"), fc.string())])(
    "UPDATE that leaves spec and name alone (finalizers, labels) is allowed, so old objects can be cleaned up",
    (object, labels) => {
      const updated = { ...object, metadata: { ...object.metadata, labels, finalizers: ["tcr.tencentcloudcr.com/cleanup"] } }
      const outcome = reviewAdmission(admissionReview("UPDATE", updated, object))
      expect(outcome.result).toBe("allowed")
    }
  )

  test.prop([imagePullSecret, fc.string({ minLength: 3, maxLength: 20 })])(
    "a denial never contains the password",
    (object, password) => {
      const withPassword = { ...object, spec: { namespaces: "Bad_Name", docker: { server: "", username: "", password } } }
      const outcome = reviewAdmission(admissionReview("CREATE", withPassword)) as any
      expect(outcome.body.response.allowed).toBe(false)
      expect(outcome.body.response.status.message).not.toContain(password)
    }
  )
})
