// What `install` will do, decided from what the cloud and the cluster hold: which domains get an ImagePullSecret,
// whether the token is reused or a new one is created, which VPC link's IP the hosts entries carry, and which of
// our CRs go away. Pure: every input is data, and a refusal says why and what to do about it.
import { isDns1123Subdomain, maxImagePullSecretNameLength, validateSpec } from "@tcr-assistant/api"
import {
  type CustomDomain,
  defaultDomainOf,
  type DnsStatusQuery,
  defaultTokenDescription,
  type LongTermToken,
  privateDomainOf,
  type TcrInstance,
  type VpcDnsStatus,
  type VpcLink
} from "@tcr-assistant/tcr"
import { Redacted, Result } from "effect"
import {
  credentialSecretName,
  credentialSecretNamespace,
  holdsCredential,
  type ObservedCredentialSecret,
  readCredentialRecord
} from "./addon-credential.ts"
import {
  type DomainKind,
  type InstallRecord,
  isInstalledByUs,
  type ObservedImagePullSecret,
  readInstallRecord
} from "./addon-record.ts"

/** Which of the instance's domains the cluster uses (`--domains`). */
export interface DomainSelection {
  readonly default: boolean
  readonly private: boolean
  /** "all": every custom domain bound to the instance; otherwise exactly these (possibly none). */
  readonly custom: "all" | ReadonlyArray<string>
}

export const defaultDomainSelection = "default,private"

/** `default`, `private`, `custom` (every bound custom domain) and custom domain names, comma-separated. */
export const parseDomainSelection = (raw: string): Result.Result<DomainSelection, string> => {
  const items = raw.split(",").map((item) => item.trim().toLowerCase()).filter((item) => item !== "")
  if (items.length === 0) {
    return Result.fail("--domains is empty: name at least one of default, private, custom or a custom domain")
  }
  let wantDefault = false
  let wantPrivate = false
  let allCustom = false
  const names: Array<string> = []
  const unknown: Array<string> = []
  for (const item of items) {
    if (item === "default") wantDefault = true
    else if (item === "private") wantPrivate = true
    else if (item === "custom") allCustom = true
    else if (item.includes(".") && isDns1123Subdomain(item)) names.push(item)
    else unknown.push(item)
  }
  if (unknown.length > 0) {
    return Result.fail(
      `--domains: ${unknown.map((item) => JSON.stringify(item)).join(", ")} ${unknown.length === 1 ? "is" : "are"} not default, private, custom or a domain name`
    )
  }
  return Result.succeed({ default: wantDefault, private: wantPrivate, custom: allCustom ? "all" : [...new Set(names)] })
}

/** Problems with `--namespaces` / `--service-accounts`, found before anything is read or written. */
export const selectorProblems = (namespaces: string, serviceAccounts: string): ReadonlyArray<string> => {
  const validation = validateSpec({
    namespaces,
    serviceAccounts,
    docker: { server: "registry.example.com", username: "user", password: "password" }
  })
  if (validation._tag === "Valid") return []
  return validation.violations.map((violation) => {
    const flag = violation.path === "spec.namespaces"
      ? "--namespaces"
      : violation.path === "spec.serviceAccounts"
      ? "--service-accounts"
      : violation.path
    return `${flag}: ${violation.message}`
  })
}

export interface InstallOptions {
  readonly region: string
  readonly instanceId: string
  readonly clusterId: string
  readonly namespaces: string
  readonly serviceAccounts: string
  /** The token's description; default `TKE cluster (<cluster id>) dedicated access credential`. */
  readonly description: string | undefined
  /**
   * auto: hosts entries for the domains TCR's private DNS does not already resolve in the cluster's VPC; on: for
   * every domain (needs a Running VPC link); off: none.
   */
  readonly privateResolution: PrivateResolutionMode
  /** The VPC whose access link the hosts entries use; needed only when several links are running. */
  readonly vpcId: string | undefined
  readonly domains: DomainSelection
}

export type PrivateResolutionMode = "auto" | "on" | "off"

/** A registry user name and password the user gave instead of a token install creates (`--username`). */
export interface UserCredential {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/** Where an earlier install keeps its token's value: the credential Secret, or (before it existed) a CR's spec. */
export type TokenCarrier =
  | { readonly _tag: "CredentialSecret" }
  | { readonly _tag: "ImagePullSecret"; readonly name: string }

/** The token an earlier install recorded, if any. */
export interface PreviousToken {
  readonly region: string
  readonly instanceId: string
  readonly tokenId: string
  readonly username: string
  /** Where its value is read from, to reuse it. */
  readonly carrier: TokenCarrier
}

/** What the cluster says about an earlier install: its CRs, and the token its credential Secret (or a CR) holds. */
export const previousInstall = (
  existing: ReadonlyArray<ObservedImagePullSecret>,
  credentialSecret: ObservedCredentialSecret | undefined
): {
  readonly records: ReadonlyArray<InstallRecord>
  readonly token: PreviousToken | undefined
} => {
  const records = existing.filter(isInstalledByUs).map(readInstallRecord)
  const secret = credentialSecret === undefined ? undefined : readCredentialRecord(credentialSecret)
  if (secret?.region !== undefined && secret.instanceId !== undefined && secret.tokenId !== undefined && secret.usable) {
    return {
      records,
      token: {
        region: secret.region,
        instanceId: secret.instanceId,
        tokenId: secret.tokenId,
        username: secret.username!,
        carrier: { _tag: "CredentialSecret" }
      }
    }
  }
  const carrier = records.find((record) =>
    record.region !== undefined && record.instanceId !== undefined && record.tokenId !== undefined &&
    record.username !== undefined && record.hasPassword
  )
  return {
    records,
    token: carrier === undefined ? undefined : {
      region: carrier.region!,
      instanceId: carrier.instanceId!,
      tokenId: carrier.tokenId!,
      username: carrier.username!,
      carrier: { _tag: "ImagePullSecret", name: carrier.name }
    }
  }
}

export interface PlanInput {
  readonly options: InstallOptions
  readonly instance: TcrInstance
  readonly vpcLinks: ReadonlyArray<VpcLink>
  /** The instance's custom domains; read only when the selection asks for custom domains. */
  readonly customDomains: ReadonlyArray<CustomDomain>
  /** The instance's long-term tokens; read only when a previous install recorded one on this instance. */
  readonly tokens: ReadonlyArray<LongTermToken> | undefined
  /** Every ImagePullSecret in the cluster. */
  readonly existing: ReadonlyArray<ObservedImagePullSecret>
  /** The credential Secret of an earlier install, if there is one. */
  readonly credentialSecret?: ObservedCredentialSecret | undefined
  readonly now: Date
  /** Given with `--username`: the CRs carry it, and no token is created. */
  readonly userCredential?: UserCredential | undefined
  /**
   * What DescribeInternalEndpointDnsStatus said for the chosen VPC link (see {@link dnsQueriesFor}), or why it could
   * not be asked; absent when private resolution is off or no link was chosen.
   */
  readonly privateDns?: PrivateDnsAnswer | undefined
}

/** TCR's private DNS for the chosen link: one status per standard domain asked, or the reason there is none. */
export type PrivateDnsAnswer =
  | { readonly _tag: "Answered"; readonly defaultDomain: VpcDnsStatus | undefined; readonly privateDomain: VpcDnsStatus | undefined }
  | { readonly _tag: "Unknown"; readonly reason: string }

export interface PlannedDomain {
  readonly domain: string
  readonly kind: DomainKind
}

export type TokenPlan =
  | {
    readonly action: "reuse"
    readonly tokenId: string
    readonly username: string
    /** Where the token's value is read from. */
    readonly carrier: TokenCarrier
    /** Set when the token's description differs from the wanted one: changed in place (ModifyInstanceToken). */
    readonly newDescription: string | undefined
  }
  | { readonly action: "create"; readonly description: string; readonly reason: string }
  /** The user's own registry credential (`--username`); no token is created or kept. */
  | { readonly action: "user"; readonly username: string }

export type ImagePullSecretAction = "create" | "update" | "unchanged"

export interface PlannedImagePullSecret {
  readonly name: string
  readonly action: ImagePullSecretAction
  readonly domain: string
  readonly kind: DomainKind
  readonly namespaces: string
  readonly serviceAccounts: string
}

export interface HostsEntry {
  readonly address: string
  readonly names: ReadonlyArray<string>
}

/** How one enabled domain is resolved on the nodes, and why. */
export interface DomainResolution {
  readonly domain: string
  /** hosts: an updater-config entry to the link's IP; tcr-dns: TCR's private DNS already answers with it. */
  readonly by: "hosts" | "tcr-dns"
  readonly reason: string
}

export type PrivateResolutionPlan =
  | {
    readonly enabled: false
    readonly mode: PrivateResolutionMode
    /** Why no domain is resolved privately by us. */
    readonly reason: string
  }
  | {
    readonly enabled: true
    readonly mode: PrivateResolutionMode
    readonly vpcId: string
    readonly accessIp: string
    readonly domains: ReadonlyArray<DomainResolution>
    /** The hosts entries (the domains resolved `by: "hosts"`); empty when TCR's DNS resolves them all. */
    readonly entries: ReadonlyArray<HostsEntry>
  }

export interface InstallPlan {
  readonly instance: { readonly id: string; readonly name: string; readonly region: string; readonly status: string }
  readonly clusterId: string
  readonly domains: ReadonlyArray<PlannedDomain>
  readonly token: TokenPlan
  /** The Secret that holds the credential, which every ImagePullSecret references. */
  readonly credentialSecret: { readonly namespace: string; readonly name: string; readonly action: ImagePullSecretAction }
  /** A token an earlier install created and this one replaces; revoked once the new one is in place. */
  readonly replacedToken: { readonly tokenId: string; readonly instanceId: string; readonly region: string } | undefined
  /**
   * The old token of a rotation that did not finish (rotate-token): kept on the Secret while the token it rotated to
   * stays (so that rotate-token can finish), revoked along with it when install replaces that token too.
   */
  readonly unfinishedRotation:
    | { readonly tokenId: string; readonly instanceId: string; readonly region: string; readonly action: "keep" | "revoke" }
    | undefined
  readonly imagePullSecrets: ReadonlyArray<PlannedImagePullSecret>
  /** Our CRs for domains no longer enabled. */
  readonly removeImagePullSecrets: ReadonlyArray<string>
  readonly privateResolution: PrivateResolutionPlan
  /** The `hosts` value of updater-config (empty when private resolution is off). */
  readonly hosts: string
  /** Things the user should know that do not stop the install. */
  readonly notes: ReadonlyArray<string>
}

/** Why install will not go ahead; `hint` says what to do instead. */
export interface InstallRefusal {
  readonly reason:
    | "InstanceNotRunning"
    | "NoRunningVpcLink"
    | "AmbiguousVpcLink"
    | "UnknownVpcLink"
    | "NoCustomDomain"
    | "UnknownCustomDomain"
    | "NoDomain"
    | "DomainNameTooLong"
    | "NameTaken"
    | "StillDeleting"
  readonly message: string
  readonly hint: string
}

const refuse = (reason: InstallRefusal["reason"], message: string, hint: string) =>
  Result.fail<InstallRefusal>({ reason, message, hint })

const describeLinks = (links: ReadonlyArray<VpcLink>) =>
  links.length === 0
    ? "it has no VPC access link"
    : `its links: ${links.map((link) => `${link.vpcId} ${link.accessIp || "(no IP)"} ${link.status || "(no status)"}`).join(", ")}`

const consoleLinkHint =
  "connect the cluster's VPC to the instance in the TCR console (Access Control > Private Network Access), wait until the link is Running and run install again, or install with --private-resolution off"

const planDomains = (
  input: PlanInput
): Result.Result<{ readonly domains: ReadonlyArray<PlannedDomain>; readonly notes: ReadonlyArray<string> }, InstallRefusal> => {
  const { instance, options } = input
  const selection = options.domains
  const domains: Array<PlannedDomain> = []
  const notes: Array<string> = []
  const instanceDomain = { name: instance.name, publicDomain: instance.publicDomain }
  if (selection.default) domains.push({ domain: defaultDomainOf(instanceDomain), kind: "default" })
  if (selection.private) domains.push({ domain: privateDomainOf(instanceDomain), kind: "private" })
  const bound = new Map(input.customDomains.map((custom) => [custom.domain.toLowerCase(), custom]))
  const usable = (custom: CustomDomain) => custom.status.toUpperCase() === "SUCCESS"
  if (selection.custom === "all") {
    if (input.customDomains.length === 0) {
      return refuse(
        "NoCustomDomain",
        `--domains asks for custom domains, but no custom domain is bound to TCR instance ${instance.id}`,
        "bind one in the TCR console (Domain Management), or leave custom out of --domains"
      )
    }
    for (const custom of input.customDomains) {
      if (usable(custom)) domains.push({ domain: custom.domain.toLowerCase(), kind: "custom" })
      else notes.push(`custom domain ${custom.domain} is skipped: its status is ${custom.status}, not SUCCESS`)
    }
  } else {
    for (const name of selection.custom) {
      const custom = bound.get(name)
      if (custom === undefined) {
        const known = input.customDomains.map((domain) => domain.domain).join(", ")
        return refuse(
          "UnknownCustomDomain",
          `${name} is not a custom domain of TCR instance ${instance.id} (${known === "" ? "it has none" : `it has ${known}`})`,
          "bind it in the TCR console (Domain Management) first, or correct --domains"
        )
      }
      if (!usable(custom)) {
        return refuse(
          "UnknownCustomDomain",
          `custom domain ${name} of TCR instance ${instance.id} is ${custom.status}, not SUCCESS`,
          "wait until its binding succeeds in the TCR console, or leave it out of --domains"
        )
      }
      domains.push({ domain: name, kind: "custom" })
    }
  }
  const unique = domains.filter((entry, index) => domains.findIndex((other) => other.domain === entry.domain) === index)
  if (unique.length === 0) {
    return refuse("NoDomain", "no domain is left to configure", "choose at least one domain with --domains")
  }
  const tooLong = unique.find((entry) => entry.domain.length > maxImagePullSecretNameLength)
  if (tooLong !== undefined) {
    return refuse(
      "DomainNameTooLong",
      `domain ${tooLong.domain} is longer than ${maxImagePullSecretNameLength} characters, too long to name its ImagePullSecret`,
      "leave it out of --domains"
    )
  }
  return Result.succeed({ domains: unique, notes })
}

/** The VPC link whose private IP the hosts entries carry, or why there is none to use. */
export type LinkChoice =
  | { readonly _tag: "Link"; readonly link: VpcLink }
  | { readonly _tag: "None"; readonly reason: string }

const usableLink = (link: VpcLink) => link.running && link.accessIp !== ""

/**
 * Picks the cluster's VPC link: the one `--vpc-id` names, else the only Running one. `on` refuses without one;
 * `auto` goes on without private resolution and says why. Several Running links with different IPs need --vpc-id.
 */
export const chooseVpcLink = (
  options: InstallOptions,
  instance: Pick<TcrInstance, "id">,
  vpcLinks: ReadonlyArray<VpcLink>
): Result.Result<LinkChoice, InstallRefusal> => {
  if (options.privateResolution === "off") {
    return Result.succeed({ _tag: "None", reason: "--private-resolution off: updater-config holds no entries" })
  }
  if (options.vpcId !== undefined) {
    const named = vpcLinks.find((candidate) => candidate.vpcId === options.vpcId)
    if (named === undefined) {
      return refuse(
        "UnknownVpcLink",
        `private resolution needs a VPC access link, and TCR instance ${instance.id} has none to ${options.vpcId} (${describeLinks(vpcLinks)})`,
        consoleLinkHint
      )
    }
    if (!usableLink(named)) {
      return refuse(
        "NoRunningVpcLink",
        `the VPC access link of TCR instance ${instance.id} to ${named.vpcId} is ${named.status || "in an unknown state"}, not Running`,
        consoleLinkHint
      )
    }
    return Result.succeed({ _tag: "Link", link: named })
  }
  const running = vpcLinks.filter(usableLink)
  if (running.length === 0) {
    if (options.privateResolution === "auto") {
      return Result.succeed({
        _tag: "None",
        reason: `TCR instance ${instance.id} has no Running VPC access link (${describeLinks(vpcLinks)}), so nodes resolve its domains through public DNS; connect the cluster's VPC in the TCR console (Access Control > Private Network Access) for private pulls`
      })
    }
    return refuse(
      "NoRunningVpcLink",
      `private resolution needs a Running VPC access link, and TCR instance ${instance.id} has none (${describeLinks(vpcLinks)})`,
      consoleLinkHint
    )
  }
  if (running.length > 1 && new Set(running.map((candidate) => candidate.accessIp)).size > 1) {
    return refuse(
      "AmbiguousVpcLink",
      `TCR instance ${instance.id} has ${running.length} Running VPC access links (${describeLinks(running)})`,
      "pass --vpc-id with the VPC of the cluster"
    )
  }
  return Result.succeed({ _tag: "Link", link: running[0]! })
}

/**
 * The DescribeInternalEndpointDnsStatus queries for a link: TCR's private DNS covers the default domain
 * (UsePublicDomain true) and the dedicated -vpc domain (false); custom domains are never resolved by it.
 */
export const dnsQueriesFor = (
  instance: Pick<TcrInstance, "id" | "region">,
  link: VpcLink,
  selection: DomainSelection
): ReadonlyArray<DnsStatusQuery & { readonly kind: "default" | "private" }> =>
  (["default", "private"] as const)
    .filter((kind) => selection[kind])
    .map((kind) => ({
      kind,
      instanceId: instance.id,
      vpcId: link.vpcId,
      accessIp: link.accessIp,
      usePublicDomain: kind === "default",
      region: instance.region
    }))

/** Whether TCR's private DNS answers for a domain in the link's VPC, and why (for the plan's reasons). */
const tcrDnsFor = (
  domain: PlannedDomain,
  vpcId: string,
  answer: PrivateDnsAnswer | undefined
): { readonly resolves: boolean; readonly why: string } => {
  if (domain.kind === "custom") return { resolves: false, why: "TCR's private DNS does not cover custom domains" }
  if (answer === undefined || answer._tag === "Unknown") {
    return { resolves: false, why: `whether TCR's private DNS resolves it in ${vpcId} is unknown: ${answer?.reason ?? "not asked"}` }
  }
  const status = domain.kind === "default" ? answer.defaultDomain : answer.privateDomain
  if (status === undefined) return { resolves: false, why: `TCR reported no private DNS status for it in ${vpcId}` }
  return status.enabled
    ? { resolves: true, why: `TCR's private DNS resolves it in ${vpcId} (${status.status})` }
    : { resolves: false, why: `TCR's private DNS does not resolve it in ${vpcId} (${status.status || "no status"})` }
}

const planPrivateResolution = (
  input: PlanInput,
  domains: ReadonlyArray<PlannedDomain>
): Result.Result<PrivateResolutionPlan, InstallRefusal> => {
  const mode = input.options.privateResolution
  const choice = chooseVpcLink(input.options, input.instance, input.vpcLinks)
  if (Result.isFailure(choice)) return Result.fail(choice.failure)
  if (choice.success._tag === "None") return Result.succeed({ enabled: false, mode, reason: choice.success.reason })
  const link = choice.success.link
  const resolutions = domains.map((domain): DomainResolution => {
    const dns = tcrDnsFor(domain, link.vpcId, input.privateDns)
    if (mode === "auto" && dns.resolves) return { domain: domain.domain, by: "tcr-dns", reason: dns.why }
    if (mode === "on" && dns.resolves) return { domain: domain.domain, by: "hosts", reason: `${dns.why}; --private-resolution on writes the entry anyway` }
    return { domain: domain.domain, by: "hosts", reason: dns.why }
  })
  return Result.succeed({
    enabled: true,
    mode,
    vpcId: link.vpcId,
    accessIp: link.accessIp,
    domains: resolutions,
    entries: resolutions.filter((entry) => entry.by === "hosts").map((entry) => ({ address: link.accessIp, names: [entry.domain] }))
  })
}

/** The `hosts` value of updater-config: a comment saying where the entries come from, then one line per domain. */
export const renderHostsValue = (instance: PlanInput["instance"], plan: PrivateResolutionPlan): string => {
  if (!plan.enabled || plan.entries.length === 0) return ""
  const lines = [
    `# Private-network resolution of TCR instance ${instance.id} (${instance.name}) through ${plan.vpcId}, written by tcr-assistant install`,
    ...plan.entries.map((entry) => `${entry.address} ${entry.names.join(" ")}`)
  ]
  return `${lines.join("\n")}\n`
}

const tokenUsable = (token: LongTermToken, now: Date): boolean =>
  token.enabled && (token.expiresAt === undefined || token.expiresAt.getTime() > now.getTime())

const planToken = (input: PlanInput): { readonly token: TokenPlan; readonly replaced: InstallPlan["replacedToken"]; readonly notes: ReadonlyArray<string> } => {
  const { options } = input
  const description = options.description ?? defaultTokenDescription(options.clusterId)
  const previous = previousInstall(input.existing, input.credentialSecret).token
  if (input.userCredential !== undefined) {
    return {
      token: { action: "user", username: input.userCredential.username },
      replaced: previous === undefined ? undefined : { tokenId: previous.tokenId, instanceId: previous.instanceId, region: previous.region },
      notes: previous === undefined ? [] : [`the CRs switch to your credential; token ${previous.tokenId} of the earlier install is revoked afterwards`]
    }
  }
  if (previous === undefined) {
    return { token: { action: "create", description, reason: "no token recorded by an earlier install" }, replaced: undefined, notes: [] }
  }
  const sameInstance = previous.instanceId === options.instanceId && previous.region === options.region
  const replaced = { tokenId: previous.tokenId, instanceId: previous.instanceId, region: previous.region }
  if (!sameInstance) {
    return {
      token: { action: "create", description, reason: `the earlier install used instance ${previous.instanceId} in ${previous.region}` },
      replaced,
      notes: []
    }
  }
  const current = input.tokens?.find((token) => token.id === previous.tokenId)
  if (current !== undefined && tokenUsable(current, input.now)) {
    return {
      token: {
        action: "reuse",
        tokenId: previous.tokenId,
        username: previous.username,
        carrier: previous.carrier,
        newDescription: current.description === description ? undefined : description
      },
      replaced: undefined,
      notes: []
    }
  }
  const why = current === undefined
    ? `token ${previous.tokenId} no longer exists`
    : !current.enabled
    ? `token ${previous.tokenId} is disabled`
    : `token ${previous.tokenId} has expired`
  return {
    token: { action: "create", description, reason: why },
    replaced: current === undefined ? undefined : replaced,
    notes: []
  }
}

const unfinishedRotation = (input: PlanInput, token: TokenPlan): InstallPlan["unfinishedRotation"] => {
  const record = input.credentialSecret === undefined ? undefined : readCredentialRecord(input.credentialSecret)
  const tokenId = record?.previousTokenId
  if (tokenId === undefined || record?.instanceId === undefined || record.region === undefined) return undefined
  const keep = token.action === "reuse" && token.carrier._tag === "CredentialSecret" && token.tokenId === record.tokenId
  return { tokenId, instanceId: record.instanceId, region: record.region, action: keep ? "keep" : "revoke" }
}

/** Whether install writes the credential Secret: only a new token or another credential of the user's changes it. */
const credentialSecretAction = (input: PlanInput, token: TokenPlan): ImagePullSecretAction => {
  if (input.credentialSecret === undefined) return "create"
  const record = readCredentialRecord(input.credentialSecret)
  const sameOrigin = record.region === input.options.region && record.instanceId === input.options.instanceId &&
    record.clusterId === input.options.clusterId
  switch (token.action) {
    case "create":
      return "update"
    case "reuse":
      return sameOrigin && token.carrier._tag === "CredentialSecret" && record.tokenId === token.tokenId ? "unchanged" : "update"
    case "user":
      return sameOrigin && holdsCredential(input.credentialSecret, {
          tokenId: undefined,
          username: token.username,
          password: input.userCredential!.password,
          expiresAt: undefined
        })
        ? "unchanged"
        : "update"
  }
}

/** What to do about an instance that is not Running, by the states DescribeInstances reports. */
export const instanceStateHint = (status: string): string => {
  switch (status) {
    case "Pending":
    case "Deploying":
      return "the instance is still being created; wait until it is Running (see the TCR console) and run install again"
    case "Isolate":
    case "Isolated":
      return "the instance is isolated, usually for an overdue payment: renew it in the TCR console, then run install again"
    case "Deleting":
      return "the instance is being deleted; choose another instance with --instance-id"
    case "FailedCreated":
    case "FailedUpdated":
    case "Unhealthy":
      return "the instance is not serving; check it in the TCR console or ask Tencent Cloud support, then run install again"
    default:
      return "wait until the instance is Running (see the TCR console) and run install again"
  }
}

/** Decides the whole install, or refuses with the reason. */
export const planInstall = (input: PlanInput): Result.Result<InstallPlan, InstallRefusal> => {
  const { instance, options } = input
  if (instance.status !== "Running") {
    return refuse(
      "InstanceNotRunning",
      `TCR instance ${instance.id} (${instance.name}) in ${options.region} is ${instance.status}, not Running`,
      instanceStateHint(instance.status)
    )
  }
  const domainResult = planDomains(input)
  if (Result.isFailure(domainResult)) return Result.fail(domainResult.failure)
  const { domains } = domainResult.success
  const resolution = planPrivateResolution(input, domains)
  if (Result.isFailure(resolution)) return Result.fail(resolution.failure)

  const byName = new Map(input.existing.map((object) => [object.metadata.name, object]))
  const token = planToken(input)
  const imagePullSecrets: Array<PlannedImagePullSecret> = []
  for (const entry of domains) {
    const existing = byName.get(entry.domain)
    if (existing !== undefined && !isInstalledByUs(existing)) {
      return refuse(
        "NameTaken",
        `ImagePullSecret ${entry.domain} already exists and was not created by tcr-assistant install; it is left untouched`,
        `delete or rename it (kubectl delete imagepullsecret ${entry.domain}), or leave its domain out of --domains`
      )
    }
    if (existing !== undefined && existing.metadata.deletionTimestamp !== undefined) {
      return refuse(
        "StillDeleting",
        `ImagePullSecret ${entry.domain} is still being deleted (its distributed Secrets are being removed)`,
        "wait until it is gone (kubectl get imagepullsecrets) and run install again; if it stays, check that the controller is running"
      )
    }
    let action: ImagePullSecretAction = "create"
    if (existing !== undefined) {
      const record = readInstallRecord(existing)
      // The credential itself is in the Secret: a CR changes only when what it selects or references does (or when it
      // still carries a credential of its own, from an install before the Secret).
      const referencesSecret = record.secretRef === `${credentialSecretNamespace}/${credentialSecretName}` &&
        !record.hasPassword && existing.spec?.docker === undefined && record.tokenId === undefined
      const same = referencesSecret && record.server === entry.domain && record.namespaces === options.namespaces &&
        record.serviceAccounts === options.serviceAccounts && record.instanceId === options.instanceId &&
        record.region === options.region && record.clusterId === options.clusterId && record.domainKind === entry.kind
      action = same ? "unchanged" : "update"
    }
    imagePullSecrets.push({
      name: entry.domain,
      action,
      domain: entry.domain,
      kind: entry.kind,
      namespaces: options.namespaces,
      serviceAccounts: options.serviceAccounts
    })
  }
  const wanted = new Set(domains.map((entry) => entry.domain))
  const removeImagePullSecrets = input.existing
    .filter((object) => isInstalledByUs(object) && !wanted.has(object.metadata.name))
    .filter((object) => object.metadata.deletionTimestamp === undefined)
    .map((object) => object.metadata.name)
    .sort()

  return Result.succeed({
    instance: { id: instance.id, name: instance.name, region: options.region, status: instance.status },
    clusterId: options.clusterId,
    domains,
    token: token.token,
    credentialSecret: {
      namespace: credentialSecretNamespace,
      name: credentialSecretName,
      action: credentialSecretAction(input, token.token)
    },
    replacedToken: token.replaced !== undefined && token.replaced.tokenId !== (token.token.action === "reuse" ? token.token.tokenId : undefined)
      ? token.replaced
      : undefined,
    unfinishedRotation: unfinishedRotation(input, token.token),
    imagePullSecrets,
    removeImagePullSecrets,
    privateResolution: resolution.success,
    hosts: renderHostsValue(instance, resolution.success),
    notes: [...domainResult.success.notes, ...token.notes]
  })
}
