// The pure install plan: what install decides from the instance, its links, domains and tokens, and the cluster's CRs.
import { fc, test as propertyTest } from "@fast-check/vitest"
import { hostsConfigFromData } from "@tcr-assistant/hosts-updater"
import type { CustomDomain, LongTermToken, TcrInstance, VpcDnsStatus, VpcLink } from "@tcr-assistant/tcr"
import { Redacted, Result } from "effect"
import { describe, expect, test } from "vitest"
import {
  type InstallOptions,
  type InstallPlan,
  type InstallRefusal,
  parseDomainSelection,
  type PlanInput,
  planInstall,
  selectorProblems
} from "../src/addon-plan.ts"
import type { ObservedCredentialSecret } from "../src/addon-credential.ts"
import { installedByLabel, installedByValue, type ObservedImagePullSecret, recordAnnotations } from "../src/addon-record.ts"

const instance: TcrInstance = {
  id: "tcr-abc12345",
  name: "demo",
  status: "Running",
  region: "ap-guangzhou",
  publicDomain: "demo.tencentcloudcr.com",
  registryType: "standard",
  internalEndpoint: undefined,
  createdAt: undefined
}

const link = (vpcId: string, accessIp: string, status = "Running"): VpcLink => ({
  vpcId,
  subnetId: `subnet-${vpcId}`,
  status,
  accessIp,
  running: status === "Running"
})

const custom = (domain: string, status = "SUCCESS"): CustomDomain => ({ instanceId: instance.id, domain, certId: "cert", status })

const options = (overrides: Partial<InstallOptions> = {}): InstallOptions => ({
  region: "ap-guangzhou",
  instanceId: instance.id,
  clusterId: "cls-one",
  namespaces: "*",
  serviceAccounts: "*",
  description: undefined,
  privateResolution: "off",
  vpcId: undefined,
  domains: { default: true, private: true, custom: [] },
  ...overrides
})

const now = new Date("2026-01-01T00:00:00Z")

const input = (overrides: Partial<PlanInput> = {}): PlanInput => ({
  options: options(),
  instance,
  vpcLinks: [link("vpc-1", "10.0.0.5")],
  customDomains: [],
  tokens: undefined,
  existing: [],
  now,
  ...overrides
})

const ours = (
  name: string,
  record: { tokenId?: string; instanceId?: string; namespaces?: string; kind?: string; deleting?: boolean } = {}
): ObservedImagePullSecret => ({
  metadata: {
    name,
    labels: { [installedByLabel]: installedByValue },
    annotations: {
      [recordAnnotations.region]: "ap-guangzhou",
      [recordAnnotations.instanceId]: record.instanceId ?? instance.id,
      [recordAnnotations.tokenId]: record.tokenId ?? "tok-1",
      [recordAnnotations.clusterId]: "cls-one",
      [recordAnnotations.domainKind]: record.kind ?? (name.includes("-vpc") ? "private" : "default")
    },
    ...(record.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {})
  },
  spec: {
    namespaces: record.namespaces ?? "*",
    serviceAccounts: "*",
    docker: { server: name, username: "100012345678", password: "the-token" }
  }
})

/** One of our CRs as install writes them now: a reference to the credential Secret, no credential of its own. */
const referencing = (name: string, record: { instanceId?: string } = {}): ObservedImagePullSecret => {
  const legacy = ours(name, record)
  const { [recordAnnotations.tokenId]: _, ...annotations } = legacy.metadata.annotations!
  return {
    metadata: { ...legacy.metadata, annotations },
    spec: {
      namespaces: "*",
      serviceAccounts: "*",
      secretRef: { name: "tcr-assistant-registry-credential", namespace: "tcr-assistant-system", server: name }
    }
  }
}

const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** install's credential Secret holding a token (or, with tokenId undefined, the user's own credential). */
const credentialSecret = (
  record: { tokenId?: string | undefined; instanceId?: string; username?: string; password?: string } = {}
): ObservedCredentialSecret => {
  const tokenId = "tokenId" in record ? record.tokenId : "tok-1"
  return {
    metadata: {
      name: "tcr-assistant-registry-credential",
      annotations: {
        [recordAnnotations.region]: "ap-guangzhou",
        [recordAnnotations.instanceId]: record.instanceId ?? instance.id,
        [recordAnnotations.clusterId]: "cls-one",
        ...(tokenId === undefined ? {} : { [recordAnnotations.tokenId]: tokenId })
      }
    },
    type: "kubernetes.io/basic-auth",
    data: { username: base64(record.username ?? "100012345678"), password: base64(record.password ?? "the-token") }
  }
}

const token = (id: string, overrides: Partial<LongTermToken> = {}): LongTermToken => ({
  id,
  instanceId: instance.id,
  description: "TKE cluster (cls-one) dedicated access credential",
  enabled: true,
  createdAt: undefined,
  expiresAt: new Date("2030-01-01T00:00:00Z"),
  ...overrides
})

const planned = (planInput: PlanInput): InstallPlan => {
  const result = planInstall(planInput)
  if (Result.isFailure(result)) throw new Error(`refused: ${result.failure.message}`)
  return result.success
}

const refused = (planInput: PlanInput): InstallRefusal => {
  const result = planInstall(planInput)
  if (Result.isSuccess(result)) throw new Error("expected a refusal")
  return result.failure
}

describe("parseDomainSelection", () => {
  test("keywords and custom domain names", () => {
    expect(parseDomainSelection("default,private")).toEqual(Result.succeed({ default: true, private: true, custom: [] }))
    expect(parseDomainSelection(" private , custom ")).toEqual(Result.succeed({ default: false, private: true, custom: "all" }))
    expect(parseDomainSelection("default,Registry.Example.com")).toEqual(
      Result.succeed({ default: true, private: false, custom: ["registry.example.com"] })
    )
  })

  test("rejects empty selections and unknown words", () => {
    expect(Result.isFailure(parseDomainSelection(" , "))).toBe(true)
    const unknown = parseDomainSelection("default,public")
    expect(Result.isFailure(unknown) && unknown.failure).toContain('"public"')
  })
})

test("selectorProblems names the flag and the bad name", () => {
  expect(selectorProblems("*", "*")).toEqual([])
  expect(selectorProblems("a,b", "default,builder")).toEqual([])
  const problems = selectorProblems("Bad_NS", "ok")
  expect(problems).toHaveLength(1)
  expect(problems[0]).toMatch(/^--namespaces: "Bad_NS" is not a valid namespace name/)
})

describe("a first install", () => {
  test("creates a token with the seeds' description and one ImagePullSecret per domain", () => {
    const plan = planned(input())
    expect(plan.token).toEqual({
      action: "create",
      description: "TKE cluster (cls-one) dedicated access credential",
      reason: "no token recorded by an earlier install"
    })
    expect(plan.imagePullSecrets.map((entry) => [entry.name, entry.kind, entry.action])).toEqual([
      ["demo.tencentcloudcr.com", "default", "create"],
      ["demo-vpc.tencentcloudcr.com", "private", "create"]
    ])
    expect(plan.removeImagePullSecrets).toEqual([])
    expect(plan.privateResolution).toMatchObject({ enabled: false, mode: "off" })
    expect(plan.hosts).toBe("")
    expect(plan.replacedToken).toBeUndefined()
  })

  test("a description given replaces the default one", () => {
    const plan = planned(input({ options: options({ description: "pulls for prod" }) }))
    expect(plan.token).toMatchObject({ action: "create", description: "pulls for prod" })
  })

  test("private resolution maps every enabled domain to the running link's IP, in hosts syntax the agent accepts", () => {
    const plan = planned(input({
      options: options({ privateResolution: "on", domains: { default: true, private: true, custom: "all" } }),
      vpcLinks: [link("vpc-old", "10.9.9.9", "Failed"), link("vpc-1", "10.0.0.5")],
      customDomains: [custom("registry.example.com"), custom("pending.example.com", "CREATING")]
    }))
    expect(plan.privateResolution).toMatchObject({ enabled: true, vpcId: "vpc-1", accessIp: "10.0.0.5" })
    const parsed = hostsConfigFromData({ hosts: plan.hosts })
    expect(Result.isSuccess(parsed) && parsed.success.entries).toEqual([
      { address: "10.0.0.5", names: ["demo.tencentcloudcr.com"] },
      { address: "10.0.0.5", names: ["demo-vpc.tencentcloudcr.com"] },
      { address: "10.0.0.5", names: ["registry.example.com"] }
    ])
    expect(plan.imagePullSecrets.map((entry) => entry.name)).toEqual([
      "demo.tencentcloudcr.com",
      "demo-vpc.tencentcloudcr.com",
      "registry.example.com"
    ])
    expect(plan.notes).toEqual(["custom domain pending.example.com is skipped: its status is CREATING, not SUCCESS"])
  })
})

describe("refusals say why and what to do", () => {
  test("an instance that is not Running, with what to do for each state DescribeInstances reports", () => {
    const refusal = refused(input({ instance: { ...instance, status: "Isolate" } }))
    expect(refusal.reason).toBe("InstanceNotRunning")
    expect(refusal.message).toContain("is Isolate, not Running")
    expect(refusal.hint).toContain("renew it in the TCR console")
    expect(refused(input({ instance: { ...instance, status: "Deploying" } })).hint).toContain("still being created")
    expect(refused(input({ instance: { ...instance, status: "Deleting" } })).hint).toContain("choose another instance")
    expect(refused(input({ instance: { ...instance, status: "Unhealthy" } })).hint).toContain("Tencent Cloud support")
  })

  test("private resolution without a running VPC link lists the links and their states", () => {
    const refusal = refused(input({
      options: options({ privateResolution: "on" }),
      vpcLinks: [link("vpc-1", "10.0.0.5", "Creating")]
    }))
    expect(refusal.reason).toBe("NoRunningVpcLink")
    expect(refusal.message).toContain("vpc-1 10.0.0.5 Creating")
    expect(refusal.hint).toContain("--private-resolution off")
    expect(refused(input({ options: options({ privateResolution: "on" }), vpcLinks: [] })).message).toContain(
      "it has no VPC access link"
    )
  })

  test("without private resolution the links do not matter", () => {
    expect(planned(input({ vpcLinks: [] })).privateResolution).toMatchObject({ enabled: false })
  })

  test("several running links need --vpc-id, which then picks one", () => {
    const links = [link("vpc-1", "10.0.0.5"), link("vpc-2", "10.1.0.5")]
    for (const mode of ["on", "auto"] as const) {
      expect(refused(input({ options: options({ privateResolution: mode }), vpcLinks: links })).reason).toBe("AmbiguousVpcLink")
    }
    const plan = planned(input({ options: options({ privateResolution: "on", vpcId: "vpc-2" }), vpcLinks: links }))
    expect(plan.privateResolution).toMatchObject({ vpcId: "vpc-2", accessIp: "10.1.0.5" })
    expect(refused(input({ options: options({ privateResolution: "on", vpcId: "vpc-3" }), vpcLinks: links })).reason).toBe(
      "UnknownVpcLink"
    )
  })

  test("custom domains that are not bound", () => {
    const all = { default: true, private: false, custom: "all" as const }
    expect(refused(input({ options: options({ domains: all }) })).reason).toBe("NoCustomDomain")
    const named = { default: false, private: false, custom: ["other.example.com"] }
    const refusal = refused(input({ options: options({ domains: named }), customDomains: [custom("registry.example.com")] }))
    expect(refusal.reason).toBe("UnknownCustomDomain")
    expect(refusal.message).toContain("it has registry.example.com")
  })

  test("an ImagePullSecret of the same name that install did not create", () => {
    const foreign: ObservedImagePullSecret = { metadata: { name: "demo.tencentcloudcr.com" }, spec: {} }
    const refusal = refused(input({ existing: [foreign] }))
    expect(refusal.reason).toBe("NameTaken")
    expect(refusal.message).toContain("left untouched")
  })

  test("one of ours still being deleted", () => {
    expect(refused(input({ existing: [ours("demo.tencentcloudcr.com", { deleting: true })] })).reason).toBe("StillDeleting")
  })
})

describe("running install again", () => {
  const installed = [referencing("demo.tencentcloudcr.com"), referencing("demo-vpc.tencentcloudcr.com")]
  const again = (overrides: Partial<PlanInput> = {}) =>
    planned(input({ existing: installed, credentialSecret: credentialSecret(), tokens: [token("tok-1")], ...overrides }))

  test("the same options reuse the token and change nothing", () => {
    const plan = again()
    expect(plan.token).toEqual({
      action: "reuse",
      tokenId: "tok-1",
      username: "100012345678",
      carrier: { _tag: "CredentialSecret" },
      newDescription: undefined
    })
    expect(plan.imagePullSecrets.map((entry) => entry.action)).toEqual(["unchanged", "unchanged"])
    expect(plan.credentialSecret).toEqual({ namespace: "tcr-assistant-system", name: "tcr-assistant-registry-credential", action: "unchanged" })
    expect(plan.replacedToken).toBeUndefined()
  })

  test("an install from before the credential Secret moves its token there, and its CRs to a reference", () => {
    const legacy = [ours("demo.tencentcloudcr.com"), ours("demo-vpc.tencentcloudcr.com")]
    const plan = planned(input({ existing: legacy, tokens: [token("tok-1")] }))
    expect(plan.token).toMatchObject({ action: "reuse", tokenId: "tok-1", carrier: { _tag: "ImagePullSecret", name: "demo.tencentcloudcr.com" } })
    expect(plan.credentialSecret.action).toBe("create")
    expect(plan.imagePullSecrets.map((entry) => entry.action)).toEqual(["update", "update"])
    expect(plan.replacedToken).toBeUndefined()
  })

  test("other namespaces update the ImagePullSecrets in place", () => {
    const plan = again({ options: options({ namespaces: "team-a,team-b" }) })
    expect(plan.token.action).toBe("reuse")
    expect(plan.imagePullSecrets.map((entry) => [entry.action, entry.namespaces])).toEqual([
      ["update", "team-a,team-b"],
      ["update", "team-a,team-b"]
    ])
    expect(plan.credentialSecret.action).toBe("unchanged")
  })

  test("a domain no longer enabled has its ImagePullSecret removed; others' are never removed", () => {
    const foreign: ObservedImagePullSecret = { metadata: { name: "someone-else" }, spec: {} }
    const plan = again({ existing: [...installed, foreign], options: options({ domains: { default: true, private: false, custom: [] } }) })
    expect(plan.imagePullSecrets.map((entry) => entry.name)).toEqual(["demo.tencentcloudcr.com"])
    expect(plan.removeImagePullSecrets).toEqual(["demo-vpc.tencentcloudcr.com"])
  })

  test("a disabled or expired token is replaced in the Secret, and revoked afterwards; a vanished one is just replaced", () => {
    const disabled = again({ tokens: [token("tok-1", { enabled: false })] })
    expect(disabled.token).toMatchObject({ action: "create", reason: "token tok-1 is disabled" })
    expect(disabled.replacedToken).toEqual({ tokenId: "tok-1", instanceId: instance.id, region: "ap-guangzhou" })
    expect(disabled.credentialSecret.action).toBe("update")
    // The CRs reference the Secret: a new token does not change them.
    expect(disabled.imagePullSecrets.map((entry) => entry.action)).toEqual(["unchanged", "unchanged"])

    const expired = again({ tokens: [token("tok-1", { expiresAt: new Date("2025-01-01") })] })
    expect(expired.token).toMatchObject({ action: "create", reason: "token tok-1 has expired" })

    const vanished = again({ tokens: [token("tok-2")] })
    expect(vanished.token).toMatchObject({ action: "create", reason: "token tok-1 no longer exists" })
    expect(vanished.replacedToken).toBeUndefined()
  })

  test("another instance gets a new token, and the old one is revoked afterwards", () => {
    const fromSecret = planned(input({
      existing: [referencing("old.tencentcloudcr.com", { instanceId: "tcr-old00000" })],
      credentialSecret: credentialSecret({ tokenId: "tok-old", instanceId: "tcr-old00000" })
    }))
    expect(fromSecret.token.action).toBe("create")
    expect(fromSecret.replacedToken).toEqual({ tokenId: "tok-old", instanceId: "tcr-old00000", region: "ap-guangzhou" })
    expect(fromSecret.removeImagePullSecrets).toEqual(["old.tencentcloudcr.com"])
    expect(fromSecret.credentialSecret.action).toBe("update")

    const legacy = planned(input({ existing: [ours("old.tencentcloudcr.com", { instanceId: "tcr-old00000", tokenId: "tok-old" })] }))
    expect(legacy.replacedToken).toEqual({ tokenId: "tok-old", instanceId: "tcr-old00000", region: "ap-guangzhou" })
  })

  test("a new description is given to the reused token in place; left out, the default comes back", () => {
    const renamed = again({ options: options({ description: "new words" }) })
    expect(renamed.token).toMatchObject({ action: "reuse", tokenId: "tok-1", newDescription: "new words" })
    expect(renamed.imagePullSecrets.map((entry) => entry.action)).toEqual(["unchanged", "unchanged"])
    expect(renamed.credentialSecret.action).toBe("unchanged")
    const restored = again({ tokens: [token("tok-1", { description: "new words" })] })
    expect(restored.token).toMatchObject({ newDescription: "TKE cluster (cls-one) dedicated access credential" })
  })

  test("an unfinished rotation's old token stays while its new token is reused, and is revoked when install replaces it", () => {
    const rotating = credentialSecret()
    const pending = { ...rotating, metadata: { ...rotating.metadata, annotations: { ...rotating.metadata.annotations, "tcr.tencentcloudcr.com/previous-token-id": "tok-0" } } }
    const reused = again({ credentialSecret: pending })
    expect(reused.unfinishedRotation).toEqual({ tokenId: "tok-0", instanceId: instance.id, region: "ap-guangzhou", action: "keep" })
    const replaced = again({ credentialSecret: pending, tokens: [token("tok-1", { enabled: false })] })
    expect(replaced.unfinishedRotation).toMatchObject({ tokenId: "tok-0", action: "revoke" })
    expect(again().unfinishedRotation).toBeUndefined()
  })

  test("the user's own credential replaces our token in the Secret, which is revoked afterwards; given again, nothing changes", () => {
    const userCredential = { username: "robot$ci", password: Redacted.make("their-password") }
    const plan = again({ userCredential })
    expect(plan.token).toEqual({ action: "user", username: "robot$ci" })
    expect(plan.replacedToken).toEqual({ tokenId: "tok-1", instanceId: instance.id, region: "ap-guangzhou" })
    expect(plan.credentialSecret.action).toBe("update")
    expect(plan.imagePullSecrets.map((entry) => entry.action)).toEqual(["unchanged", "unchanged"])
    expect(JSON.stringify(plan)).not.toContain("their-password")

    const holding = credentialSecret({ tokenId: undefined, username: "robot$ci", password: "their-password" })
    const same = planned(input({ existing: installed, credentialSecret: holding, userCredential }))
    expect(same.credentialSecret.action).toBe("unchanged")
    expect(same.imagePullSecrets.map((entry) => entry.action)).toEqual(["unchanged", "unchanged"])
    expect(same.replacedToken).toBeUndefined()
    const newPassword = planned(input({
      existing: installed,
      credentialSecret: holding,
      userCredential: { ...userCredential, password: Redacted.make("rotated") }
    }))
    expect(newPassword.credentialSecret.action).toBe("update")
    // Back to a token: a new one is created, as there is none recorded.
    expect(planned(input({ existing: installed, credentialSecret: holding })).token).toMatchObject({ action: "create" })
  })
})

const dns = (vpcId: string, enabled: boolean): VpcDnsStatus => ({
  vpcId,
  region: "ap-guangzhou",
  status: enabled ? "ENABLED" : "DISABLED",
  enabled
})

describe("--private-resolution auto", () => {
  const auto = options({ privateResolution: "auto", domains: { default: true, private: true, custom: "all" } })
  const domainsOf = (plan: InstallPlan) => (plan.privateResolution.enabled ? plan.privateResolution.domains : [])

  test("writes hosts entries only for the domains TCR's private DNS does not resolve, saying why for each", () => {
    const plan = planned(input({
      options: auto,
      customDomains: [custom("registry.example.com")],
      privateDns: { _tag: "Answered", defaultDomain: dns("vpc-1", false), privateDomain: dns("vpc-1", true) }
    }))
    expect(domainsOf(plan).map((entry) => [entry.domain, entry.by])).toEqual([
      ["demo.tencentcloudcr.com", "hosts"],
      ["demo-vpc.tencentcloudcr.com", "tcr-dns"],
      ["registry.example.com", "hosts"]
    ])
    expect(domainsOf(plan)[0]!.reason).toBe("TCR's private DNS does not resolve it in vpc-1 (DISABLED)")
    expect(domainsOf(plan)[1]!.reason).toBe("TCR's private DNS resolves it in vpc-1 (ENABLED)")
    expect(domainsOf(plan)[2]!.reason).toBe("TCR's private DNS does not cover custom domains")
    expect(plan.hosts).toContain("10.0.0.5 demo.tencentcloudcr.com\n")
    expect(plan.hosts).not.toContain("demo-vpc")
  })

  test("when TCR resolves every domain, updater-config stays empty", () => {
    const plan = planned(input({
      options: options({ privateResolution: "auto" }),
      privateDns: { _tag: "Answered", defaultDomain: dns("vpc-1", true), privateDomain: dns("vpc-1", true) }
    }))
    expect(plan.privateResolution).toMatchObject({ enabled: true, entries: [] })
    expect(plan.hosts).toBe("")
  })

  test("an unknown DNS status (CAM denied the question) writes every entry, with the reason", () => {
    const plan = planned(input({
      options: options({ privateResolution: "auto" }),
      privateDns: { _tag: "Unknown", reason: "the key's CAM policy does not allow tcr:DescribeInternalEndpointDnsStatus" }
    }))
    expect(domainsOf(plan).map((entry) => entry.by)).toEqual(["hosts", "hosts"])
    expect(domainsOf(plan)[0]!.reason).toContain("is unknown: the key's CAM policy does not allow")
  })

  test("without a Running link it goes on without private resolution, and says why; on refuses", () => {
    const links = [link("vpc-1", "10.0.0.5", "Creating")]
    const plan = planned(input({ options: options({ privateResolution: "auto" }), vpcLinks: links }))
    expect(plan.privateResolution).toMatchObject({ enabled: false, mode: "auto" })
    expect(!plan.privateResolution.enabled && plan.privateResolution.reason).toContain("has no Running VPC access link (its links: vpc-1 10.0.0.5 Creating)")
    expect(refused(input({ options: options({ privateResolution: "on" }), vpcLinks: links })).reason).toBe("NoRunningVpcLink")
  })

  test("on writes every entry even where TCR's DNS resolves the domain, and says so", () => {
    const plan = planned(input({
      options: options({ privateResolution: "on" }),
      privateDns: { _tag: "Answered", defaultDomain: dns("vpc-1", true), privateDomain: dns("vpc-1", false) }
    }))
    expect(domainsOf(plan).map((entry) => entry.by)).toEqual(["hosts", "hosts"])
    expect(domainsOf(plan)[0]!.reason).toContain("--private-resolution on writes the entry anyway")
  })
})

const domainName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}\.example\.com$/)

propertyTest.prop({
  ourNames: fc.uniqueArray(domainName, { maxLength: 4 }),
  foreignNames: fc.uniqueArray(domainName, { maxLength: 3 }),
  customNames: fc.uniqueArray(domainName, { maxLength: 3 }),
  useDefault: fc.boolean(),
  usePrivate: fc.boolean(),
  allCustom: fc.boolean(),
  privateResolution: fc.constantFrom("on" as const, "off" as const)
})(
  "a plan never touches an ImagePullSecret install did not create, and writes and removes exactly ours",
  ({ ourNames, foreignNames, customNames, useDefault, usePrivate, allCustom, privateResolution }) => {
    const foreign = foreignNames.filter((name) => !ourNames.includes(name))
    const existing = [
      ...ourNames.map((name) => ours(name, { kind: "custom" })),
      ...foreign.map((name): ObservedImagePullSecret => ({ metadata: { name }, spec: {} }))
    ]
    const result = planInstall(input({
      existing,
      tokens: [token("tok-1")],
      customDomains: customNames.map((name) => custom(name)),
      options: options({ privateResolution, domains: { default: useDefault, private: usePrivate, custom: allCustom ? "all" : [] } })
    }))
    if (Result.isFailure(result)) {
      expect(["NameTaken", "NoDomain", "NoCustomDomain"]).toContain(result.failure.reason)
      return
    }
    const plan = result.success
    const written = plan.imagePullSecrets.map((entry) => entry.name)
    for (const name of foreign) {
      expect(written).not.toContain(name)
      expect(plan.removeImagePullSecrets).not.toContain(name)
    }
    expect(new Set([...written, ...plan.removeImagePullSecrets])).toEqual(new Set([...written, ...ourNames]))
    expect(plan.removeImagePullSecrets.filter((name) => written.includes(name))).toEqual([])
    const hostNames = plan.privateResolution.enabled ? plan.privateResolution.entries.flatMap((entry) => entry.names) : []
    expect(hostNames).toEqual(privateResolution === "on" ? written : [])
  }
)
