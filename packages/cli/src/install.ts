// `tcr-assistant install`: reads the TCR instance, its VPC links, custom domains and tokens and the cluster's current
// installation, plans (addon-plan.ts), then creates or reuses the long-term token and applies every add-on object,
// the credential Secret holding it (addon-credential.ts), one ImagePullSecret per enabled domain referencing that
// Secret, and updater-config. Running it again with other options reconfigures in place. `--dry-run` stops after the
// plan: nothing is written to the cloud or the cluster.
import { crdName as imagePullSecretCrdName } from "@tcr-assistant/api"
import { type IssuedToken, privateDomainOf, TcrApi, type TcrCredentials, type TcrInstance, type VpcLink } from "@tcr-assistant/tcr"
import { Config, Duration, Effect, Option, Redacted, Result } from "effect"
import { text } from "node:stream/consumers"
import { Command, Flag } from "effect/cli"
import {
  applyObject,
  deleteObject,
  describeObject,
  getObject,
  listImagePullSecrets,
  type Manifest,
  pollUntil,
  checkReachable,
  kubernetesVersionProblem,
  readServerVersion,
  retryWhileNotServed
} from "./addon-cluster.ts"
import {
  type Credential,
  credentialSecretObject,
  credentialSecretRef,
  passwordOf,
  previousTokenAnnotation,
  readCredentialSecret
} from "./addon-credential.ts"
import { failure, reportFailure, usageFailure } from "./addon-failure.ts"
import {
  clusterAndCloudFlags,
  instanceIdFlag,
  kubeLayer,
  operatorLogging,
  outputFlag,
  printData,
  progress,
  regionFlag,
  requireNonEmpty,
  resolveCredentials,
  tcrLayer,
  type OutputFormat
} from "./addon-flags.ts"
import { installObjects, isAdmissionObject, withWebhookUrl } from "./addon-manifests.ts"
import { convergence } from "./addon-status.ts"
import { optionalWithShownDefault, withRequiredShown, withShownDefault } from "./flag-default.ts"
import { readStatus } from "./status.ts"
import {
  chooseVpcLink,
  defaultDomainSelection,
  dnsQueriesFor,
  type InstallOptions,
  type InstallPlan,
  parseDomainSelection,
  planInstall,
  type PlannedImagePullSecret,
  previousInstall,
  type PrivateDnsAnswer,
  type PrivateResolutionPlan,
  type TokenCarrier,
  type TokenPlan,
  type UserCredential,
  selectorProblems
} from "./addon-plan.ts"
import {
  imagePullSecretApiVersion,
  imagePullSecretKind,
  imagePullSecretPath,
  installedByLabel,
  installedByValue,
  type ObservedImagePullSecret,
  recordAnnotations
} from "./addon-record.ts"

export interface InstallCommandOptions {
  readonly install: InstallOptions
  readonly credentials: TcrCredentials
  readonly dryRun: boolean
  readonly output: OutputFormat
  /** When set, wait this long for the ImagePullSecrets to be Ready and the nodes to apply the hosts config. */
  readonly wait: Duration.Duration | undefined
  /** Where the apiserver reaches the webhook when the controller runs outside the cluster. */
  readonly webhookUrl: string | undefined
  /** The user's own registry credential (`--username`), used instead of a token install creates. */
  readonly userCredential: UserCredential | undefined
}

const domainKindText = { default: "default domain", private: "dedicated private domain", custom: "custom domain" } as const

const describeTokenPlan = (token: TokenPlan): string => {
  switch (token.action) {
    case "reuse":
      return token.newDescription === undefined
        ? `  token: reuse long-term token ${token.tokenId}`
        : `  token: reuse long-term token ${token.tokenId}, its description changed in place to "${token.newDescription}"`
    case "create":
      return `  token: create a long-term token "${token.description}" (${token.reason})`
    case "user":
      return `  credential: your own, user ${token.username} (no token is created)`
  }
}

/** Which domains get hosts entries, and why each does or does not. */
const describePrivateResolution = (plan: PrivateResolutionPlan): ReadonlyArray<string> => {
  if (!plan.enabled) return [`  private resolution (${plan.mode}): none; ${plan.reason}`]
  return [
    `  private resolution (${plan.mode}) through the VPC link to ${plan.vpcId} (${plan.accessIp}):`,
    ...plan.domains.map((entry) =>
      `    ${entry.domain}: ${entry.by === "hosts" ? `hosts entry on every node (${entry.reason})` : `no hosts entry (${entry.reason})`}`
    )
  ]
}

/** The plan in lines people read (no credential appears in a plan). */
export const describePlan = (plan: InstallPlan, objectCount: number): ReadonlyArray<string> => {
  const lines = [
    `TCR instance ${plan.instance.id} (${plan.instance.name}, ${plan.instance.region}) for cluster ${plan.clusterId}:`,
    describeTokenPlan(plan.token),
    `  credential: Secret ${plan.credentialSecret.namespace}/${plan.credentialSecret.name}: ${plan.credentialSecret.action}; every ImagePullSecret references it`
  ]
  if (plan.replacedToken !== undefined) {
    lines.push(`  token: revoke the replaced token ${plan.replacedToken.tokenId} of ${plan.replacedToken.instanceId} afterwards`)
  }
  if (plan.unfinishedRotation !== undefined) {
    lines.push(
      plan.unfinishedRotation.action === "keep"
        ? `  token: ${plan.unfinishedRotation.tokenId} of an unfinished rotation stays until rotate-token finishes it`
        : `  token: revoke ${plan.unfinishedRotation.tokenId} of an unfinished rotation afterwards`
    )
  }
  for (const entry of plan.imagePullSecrets) {
    lines.push(
      `  ImagePullSecret ${entry.name} (${domainKindText[entry.kind]}): ${entry.action}; namespaces ${entry.namespaces}, service accounts ${entry.serviceAccounts}`
    )
  }
  for (const name of plan.removeImagePullSecrets) lines.push(`  ImagePullSecret ${name}: delete (its domain is no longer enabled)`)
  lines.push(...describePrivateResolution(plan.privateResolution))
  lines.push(`  add-on objects: ${objectCount}, by server-side apply`)
  for (const note of plan.notes) lines.push(`  note: ${note}`)
  return lines
}

const planData = (plan: InstallPlan, objects: ReadonlyArray<Manifest>) => ({
  ...plan,
  objects: objects.map(describeObject)
})

/** Our CR for one domain: what it selects, and a reference to the credential Secret (no credential of its own). */
const imagePullSecretObject = (entry: PlannedImagePullSecret, options: InstallOptions): Manifest => ({
  apiVersion: imagePullSecretApiVersion,
  kind: imagePullSecretKind,
  metadata: {
    name: entry.name,
    labels: { [installedByLabel]: installedByValue, "app.kubernetes.io/part-of": "tcr-assistant" },
    annotations: {
      [recordAnnotations.region]: options.region,
      [recordAnnotations.instanceId]: options.instanceId,
      [recordAnnotations.clusterId]: options.clusterId,
      [recordAnnotations.domainKind]: entry.kind
    }
  },
  spec: {
    namespaces: entry.namespaces,
    serviceAccounts: entry.serviceAccounts,
    secretRef: credentialSecretRef(entry.domain)
  }
})

const waitForCrdEstablished = (name: string) =>
  pollUntil(
    `CustomResourceDefinition ${name} becoming Established`,
    Effect.map(
      getObject<{ readonly status?: { readonly conditions?: ReadonlyArray<{ type: string; status: string }> } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
        `get CustomResourceDefinition ${name}`
      ),
      (crd) =>
        crd?.status?.conditions?.some((condition) => condition.type === "Established" && condition.status === "True")
          ? { _tag: "Done" as const, value: undefined }
          : { _tag: "Waiting" as const, detail: "not Established yet" }
    ),
    { timeout: "60 seconds", interval: "200 millis" }
  ).pipe(
    // Established is not yet served: the first requests on the new resource may still answer 503.
    Effect.andThen(name === imagePullSecretCrdName ? listImagePullSecrets().pipe(Effect.asVoid) : Effect.void)
  )

/** The value of the token an earlier install kept: in the credential Secret, or (before it existed) in a CR. */
const reusedPassword = (
  carrier: TokenCarrier,
  existing: ReadonlyArray<ObservedImagePullSecret>,
  secret: Parameters<typeof passwordOf>[0]
) =>
  Effect.gen(function*() {
    if (carrier._tag === "CredentialSecret") return yield* passwordOf(secret)
    const password = existing.find((object) => object.metadata.name === carrier.name)?.spec?.docker?.password
    if (password === undefined || password === "") {
      return yield* failure(`ImagePullSecret ${carrier.name} no longer carries the token`, "run install again")
    }
    return Redacted.make(password)
  })

/**
 * Asks TCR whether its private DNS already resolves the instance's default and -vpc domains in the chosen VPC
 * (DescribeInternalEndpointDnsStatus), and says so. A CAM policy that does not allow the call leaves the answer
 * unknown (install then writes hosts entries for every domain) instead of failing the install.
 */
export const readPrivateDns = (
  options: InstallOptions,
  credentials: TcrCredentials,
  instance: TcrInstance,
  vpcLinks: ReadonlyArray<VpcLink>
) =>
  Effect.gen(function*() {
    const choice = chooseVpcLink(options, instance, vpcLinks)
    // Off, no usable link, or a refusal: the plan says which, and there is no VPC to ask about.
    if (Result.isFailure(choice) || choice.success._tag === "None") return undefined
    const link = choice.success.link
    const queries = dnsQueriesFor(instance, link, options.domains)
    if (queries.length === 0) return undefined
    const tcr = yield* TcrApi
    yield* progress(`asking TCR whether its private DNS resolves the instance's domains in ${link.vpcId}`)
    const statuses = yield* tcr.describeInternalEndpointDnsStatus({
      credentials,
      region: options.region,
      queries
    }).pipe(
      Effect.catchTag("TcrAuthError", (error) =>
        error.code.startsWith("UnauthorizedOperation") ? Effect.succeed(error) : Effect.fail(error))
    )
    if (!Array.isArray(statuses)) {
      const reason = "the key's CAM policy does not allow tcr:DescribeInternalEndpointDnsStatus"
      yield* progress(`  unknown: ${reason}`)
      return { _tag: "Unknown", reason } satisfies PrivateDnsAnswer
    }
    // The answer lists the VPCs in the order asked.
    const statusOf = (kind: "default" | "private") => {
      const index = queries.findIndex((query) => query.kind === kind)
      return index < 0 ? undefined : statuses[index]
    }
    for (const [kind, domain] of [["default", instance.publicDomain], ["private", privateDomainOf(instance)]] as const) {
      const status = statusOf(kind)
      if (status !== undefined) {
        yield* progress(`  ${domain}: ${status.enabled ? "resolved privately by TCR" : "not resolved privately by TCR"} (${status.status || "no status"})`)
      }
    }
    return { _tag: "Answered", defaultDomain: statusOf("default"), privateDomain: statusOf("private") } satisfies PrivateDnsAnswer
  })

export const runInstall = Effect.fn("install")(function*(command: InstallCommandOptions) {
  const { install: options, credentials } = command
  const tcr = yield* TcrApi
  const target = { credentials, region: options.region }

  const server = yield* checkReachable()
  const versionProblem = kubernetesVersionProblem(yield* readServerVersion)
  if (versionProblem !== undefined) return yield* failure(versionProblem, "upgrade the cluster first; nothing was changed")
  yield* progress(`cluster ${server}: reading the current installation`)
  const existing = yield* listImagePullSecrets()
  const credentialSecret = yield* readCredentialSecret
  const previous = previousInstall(existing, credentialSecret)
  yield* progress(
    previous.records.length === 0
      ? "  none found"
      : `  found ${previous.records.length} ImagePullSecret(s) of an earlier install${
        previous.token === undefined ? "" : ` (token ${previous.token.tokenId} of ${previous.token.instanceId})`
      }`
  )

  yield* progress(`checking TCR instance ${options.instanceId} in ${options.region}`)
  const instance = yield* tcr.getInstance({ ...target, instanceId: options.instanceId })
  yield* progress(`  ${instance.name}: ${instance.status}, default domain ${instance.publicDomain}`)
  yield* progress("reading the instance's VPC access links")
  const vpcLinks = yield* tcr.describeInternalEndpoints({ ...target, instanceId: options.instanceId })
  yield* progress(
    vpcLinks.length === 0
      ? "  none"
      : `  ${vpcLinks.map((link) => `${link.vpcId} ${link.accessIp} ${link.status}`).join(", ")}`
  )
  const wantsCustom = options.domains.custom === "all" || options.domains.custom.length > 0
  const customDomains = wantsCustom
    ? yield* progress("reading the instance's custom domains").pipe(
      Effect.andThen(tcr.describeCustomizedDomains({ ...target, instanceId: options.instanceId }))
    )
    : []
  const sameInstance = previous.token !== undefined && previous.token.instanceId === options.instanceId &&
    previous.token.region === options.region
  const tokens = sameInstance
    ? yield* progress(`checking token ${previous.token!.tokenId}`).pipe(
      Effect.andThen(tcr.describeInstanceTokens({ ...target, instanceId: options.instanceId }))
    )
    : undefined

  const privateDns = yield* readPrivateDns(options, credentials, instance, vpcLinks)
  const planned = planInstall({
    options,
    instance,
    vpcLinks,
    customDomains,
    tokens,
    existing,
    credentialSecret,
    now: new Date(),
    userCredential: command.userCredential,
    privateDns
  })
  if (Result.isFailure(planned)) {
    return yield* failure(`install refused: ${planned.failure.message}`, `nothing was changed; ${planned.failure.hint}`)
  }
  const plan = planned.success
  const rendered = installObjects(plan.hosts)
  const objects = command.webhookUrl === undefined ? rendered : withWebhookUrl(rendered, command.webhookUrl)
  for (const line of describePlan(plan, objects.length)) yield* progress(line)

  if (command.dryRun) {
    yield* progress("dry run: nothing was changed")
    if (command.output !== "text") yield* printData(command.output, { dryRun: true, ...planData(plan, objects) })
    return
  }

  let created: IssuedToken | undefined
  let credential: Credential
  if (plan.token.action === "user") {
    credential = { tokenId: undefined, username: plan.token.username, password: command.userCredential!.password, expiresAt: undefined }
  } else if (plan.token.action === "reuse") {
    const { tokenId } = plan.token
    credential = {
      tokenId,
      username: plan.token.username,
      password: yield* reusedPassword(plan.token.carrier, existing, credentialSecret),
      expiresAt: tokens?.find((token) => token.id === tokenId)?.expiresAt
    }
    if (plan.token.newDescription !== undefined) {
      yield* tcr.modifyInstanceTokenDescription({
        ...target,
        instanceId: options.instanceId,
        tokenId: plan.token.tokenId,
        description: plan.token.newDescription
      })
      yield* progress(`  token ${plan.token.tokenId}: description changed to "${plan.token.newDescription}"`)
    }
  } else {
    yield* progress(`creating a long-term token for ${instance.id}`)
    created = yield* tcr.createInstanceToken({
      ...target,
      instanceId: options.instanceId,
      tokenType: "longterm",
      clusterId: options.clusterId,
      description: plan.token.description
    })
    if (created.tokenId === undefined) {
      return yield* failure("CreateInstanceToken returned no TokenId for a long-term token", "report this to Tencent Cloud support")
    }
    credential = { tokenId: created.tokenId, username: created.username, password: created.token, expiresAt: created.expiresAt }
    yield* progress(`  token ${created.tokenId} (user ${created.username})`)
  }

  // Once the credential Secret holds a new token, it stays even if a later step fails: the next install reuses it.
  let wroteCredential = false
  // Admission comes last, after our CRs: on a first install the controller that serves the webhook is still
  // starting, and the CRs must not wait for it.
  const applyAll = (list: ReadonlyArray<Manifest>) =>
    Effect.forEach(list, (object) =>
      Effect.gen(function*() {
        yield* applyObject(object)
        yield* progress(`applied ${describeObject(object)}`)
        if (object.kind === "CustomResourceDefinition") yield* waitForCrdEstablished(object.metadata.name)
      }), { discard: true })
  const apply = Effect.gen(function*() {
    yield* applyAll(objects.filter((object) => !isAdmissionObject(object)))
    if (plan.credentialSecret.action !== "unchanged") {
      const rotation = plan.unfinishedRotation
      yield* applyObject(credentialSecretObject(
        credential,
        options,
        rotation?.action === "keep" ? { [previousTokenAnnotation]: rotation.tokenId } : {}
      ))
      wroteCredential = true
      yield* progress(`applied Secret ${plan.credentialSecret.namespace}/${plan.credentialSecret.name} (${plan.credentialSecret.action}d)`)
    }
    for (const entry of plan.imagePullSecrets) {
      yield* retryWhileNotServed(applyObject(imagePullSecretObject(entry, options)))
      yield* progress(`applied ImagePullSecret ${entry.name} (${entry.action === "unchanged" ? "unchanged" : `${entry.action}d`})`)
    }
    for (const name of plan.removeImagePullSecrets) {
      yield* deleteObject(imagePullSecretPath(name), `delete ImagePullSecret ${name}`)
      yield* progress(`deleted ImagePullSecret ${name} (the controller removes its Secrets)`)
    }
    yield* applyAll(objects.filter(isAdmissionObject))
  })
  yield* apply.pipe(
    Effect.tapError(() =>
      created === undefined || created.tokenId === undefined || wroteCredential
        ? Effect.void
        : tcr.deleteInstanceToken({ ...target, instanceId: options.instanceId, tokenId: created.tokenId }).pipe(
          Effect.andThen(progress(`revoked token ${created.tokenId} again, since nothing uses it`)),
          Effect.catch((error) => progress(`could not revoke the unused token ${created?.tokenId}: ${error.message}`))
        )
    )
  )

  if (plan.replacedToken !== undefined) {
    const replaced = plan.replacedToken
    yield* tcr.deleteInstanceToken({
      credentials,
      region: replaced.region,
      instanceId: replaced.instanceId,
      tokenId: replaced.tokenId
    }).pipe(
      Effect.andThen(progress(`revoked the replaced token ${replaced.tokenId}`)),
      Effect.catch((error) =>
        progress(
          `warning: could not revoke the replaced token ${replaced.tokenId} of ${replaced.instanceId}: ${error.message}; delete it in the TCR console`
        )
      )
    )
  }

  const rotation = plan.unfinishedRotation
  if (rotation?.action === "revoke") {
    yield* tcr.deleteInstanceToken({ credentials, region: rotation.region, instanceId: rotation.instanceId, tokenId: rotation.tokenId }).pipe(
      Effect.andThen(progress(`revoked token ${rotation.tokenId} of an unfinished rotation`)),
      Effect.catchTag("TcrNotFoundError", () => Effect.void),
      Effect.catch((error) =>
        progress(`warning: could not revoke token ${rotation.tokenId} of an unfinished rotation: ${error.message}; delete it in the TCR console`)
      )
    )
  }

  if (command.wait !== undefined) {
    yield* progress("waiting for the controller to distribute the credentials and for the nodes to apply the hosts config")
    const names = plan.imagePullSecrets.map((entry) => entry.name)
    yield* pollUntil(
      "the add-on catching up with the new configuration",
      Effect.map(readStatus(), (report) => {
        const state = convergence(report, names)
        return state.done ? { _tag: "Done" as const, value: undefined } : { _tag: "Waiting" as const, detail: state.detail }
      }),
      { timeout: command.wait, interval: "1 second" }
    ).pipe(
      Effect.catchTag("WaitTimedOut", (timedOut) =>
        Effect.fail(failure(
          `the configuration is applied, but ${timedOut.detail} after ${timedOut.seconds}s`,
          "see tcr-assistant status; check the controller and hosts-updater pods (kubectl -n tcr-assistant-system get pods)"
        )))
    )
    yield* progress("  every ImagePullSecret is Ready and every reporting node holds the current hosts config")
  }
  yield* progress("installed; `tcr-assistant status` shows the distribution and the nodes' hosts state")
  if (command.output !== "text") {
    yield* printData(command.output, { dryRun: false, ...planData(plan, objects), tokenId: credential.tokenId })
  }
})

const privateResolutionFlag = Flag.Literals("private-resolution", ["auto", "on", "off"]).pipe(
  withShownDefault(
    "auto: every node resolves the enabled domains that TCR's private DNS does not already resolve in the cluster's VPC to the instance's private IP (nothing without a Running VPC access link); on: every enabled domain (needs a Running VPC access link); off: leave name resolution alone",
    "auto"
  )
)

const defaultPasswordSource = "env:TCR_REGISTRY_PASSWORD"

/** The password for `--username`, from an environment variable or stdin: never from the command line. */
const readPassword = (source: string) =>
  Effect.gen(function*() {
    if (source === "stdin") {
      const raw = yield* Effect.promise(() => text(process.stdin))
      const password = raw.replace(/\r?\n$/, "")
      if (password === "") return yield* usageFailure("--password-from stdin: stdin held no password")
      return Redacted.make(password)
    }
    const variable = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(source)?.[1]
    // The value is not echoed: a password pasted here by mistake must not reach the terminal or logs.
    if (variable === undefined) return yield* usageFailure("--password-from must be env:NAME or stdin")
    const password = yield* Config.Redacted(variable).pipe(
      Effect.mapError(() =>
        usageFailure(`--username needs a password, and ${variable} is not set`, `export ${variable}, or pass --password-from stdin and pipe it in`)
      )
    )
    if (Redacted.value(password) === "") return yield* usageFailure(`--username needs a password, and ${variable} is empty`)
    return password
  })

/** `--username` and where its password comes from; undefined when install is to create a token. */
const userCredentialOf = (flags: {
  readonly username: Option.Option<string>
  readonly passwordFrom: Option.Option<string>
  readonly description: Option.Option<string>
}) =>
  Effect.gen(function*() {
    if (Option.isNone(flags.username)) {
      if (Option.isSome(flags.passwordFrom)) return yield* usageFailure("--password-from goes with --username")
      return undefined
    }
    const username = yield* requireNonEmpty("username", flags.username.value)
    if (Option.isSome(flags.description)) {
      return yield* usageFailure("--description names a token install creates; with --username none is created")
    }
    const password = yield* readPassword(Option.getOrElse(flags.passwordFrom, () => defaultPasswordSource))
    return { username, password } satisfies UserCredential
  })

export const installCommand = Command.make(
  "install",
  {
    region: regionFlag,
    instanceId: instanceIdFlag,
    clusterId: Flag.String("cluster-id").pipe(
      withRequiredShown("ID of this TKE cluster, e.g. cls-xxxxxxxx; names the token (its default description)")
    ),
    namespaces: Flag.String("namespaces").pipe(
      withShownDefault("Namespaces that get the pull Secret: * for all, including future ones, or a comma-separated list", "*")
    ),
    serviceAccounts: Flag.String("service-accounts").pipe(
      withShownDefault("ServiceAccounts in those namespaces that use it: * for all, or a comma-separated list", "*")
    ),
    description: Flag.String("description").pipe(
      optionalWithShownDefault("Description of a newly created token", "TKE cluster (<cluster id>) dedicated access credential")
    ),
    privateResolution: privateResolutionFlag,
    username: Flag.String("username").pipe(
      optionalWithShownDefault(
        "Distribute this registry user name and its password instead of a long-term token install creates",
        "a token install creates"
      )
    ),
    passwordFrom: Flag.String("password-from").pipe(
      optionalWithShownDefault("Where the --username password is read: env:NAME (an environment variable) or stdin", defaultPasswordSource)
    ),
    domains: Flag.String("domains").pipe(
      withShownDefault(
        "Domains the cluster pulls through, comma-separated: default (<name>.tencentcloudcr.com), private (<name>-vpc.tencentcloudcr.com), custom (every bound custom domain) or custom domain names",
        defaultDomainSelection
      )
    ),
    vpcId: Flag.String("vpc-id").pipe(
      optionalWithShownDefault("The cluster's VPC, to pick its access link when the instance has several", "the only Running link")
    ),
    webhookUrl: Flag.String("webhook-url").pipe(
      optionalWithShownDefault(
        "Point the webhooks at the controller's webhook server at this https URL instead of the in-cluster Service (for a controller running outside the cluster); each keeps its own path",
        "the in-cluster Service"
      )
    ),
    wait: Flag.Boolean("wait").pipe(
      withShownDefault("Wait until every ImagePullSecret is Ready and every reporting node holds the new hosts config", false)
    ),
    timeout: Flag.Int("timeout").pipe(withShownDefault("Seconds --wait may take", 300)),
    dryRun: Flag.Boolean("dry-run").pipe(withShownDefault("Print the plan and change nothing", false)),
    output: outputFlag,
    ...clusterAndCloudFlags
  },
  (flags) =>
    Effect.gen(function*() {
      const region = yield* requireNonEmpty("region", flags.region)
      const instanceId = yield* requireNonEmpty("instance-id", flags.instanceId)
      const clusterId = yield* requireNonEmpty("cluster-id", flags.clusterId)
      const problems = selectorProblems(flags.namespaces, flags.serviceAccounts)
      if (problems.length > 0) return yield* usageFailure(problems.join("; "))
      if (Option.isSome(flags.webhookUrl) && !/^https:\/\/[^/\s]+/.test(flags.webhookUrl.value)) {
        return yield* usageFailure("--webhook-url must be an https:// URL")
      }
      if (flags.timeout <= 0) return yield* usageFailure("--timeout must be a positive number of seconds")
      const domains = parseDomainSelection(flags.domains)
      if (Result.isFailure(domains)) return yield* usageFailure(domains.failure)
      const userCredential = yield* userCredentialOf(flags)
      const credentials = yield* resolveCredentials(flags)
      yield* runInstall({
        userCredential,
        install: {
          region,
          instanceId,
          clusterId,
          namespaces: flags.namespaces.trim(),
          serviceAccounts: flags.serviceAccounts.trim(),
          description: Option.getOrUndefined(flags.description),
          privateResolution: flags.privateResolution,
          vpcId: Option.getOrUndefined(flags.vpcId),
          domains: domains.success
        },
        credentials,
        dryRun: flags.dryRun,
        output: flags.output,
        webhookUrl: Option.getOrUndefined(flags.webhookUrl),
        wait: flags.wait ? Duration.seconds(flags.timeout) : undefined
      }).pipe(Effect.provide([kubeLayer(flags), tcrLayer, operatorLogging]))
    }).pipe(Effect.catch(reportFailure))
).pipe(
  Command.withDescription(
    "Install the add-on, or reconfigure it in place: a long-term TCR token distributed as pull Secrets, and optional private-network resolution. Each run states the whole configuration: options left out take their defaults"
  ),
  Command.withExamples([
    {
      command: "tcr-assistant install --region ap-guangzhou --instance-id tcr-abc123 --cluster-id cls-xyz789",
      description: "Secret-free pulls from the default and -vpc domains in every namespace"
    },
    {
      command: "tcr-assistant install --region ap-guangzhou --instance-id tcr-abc123 --cluster-id cls-xyz789 --private-resolution on --dry-run",
      description: "Show what enabling private-network resolution would do"
    }
  ])
)
