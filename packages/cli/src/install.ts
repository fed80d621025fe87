// `tcr-assistant install`: reads the TCR instance, its VPC links, custom domains and tokens and the cluster's current
// installation, plans (addon-plan.ts), then creates or reuses the long-term token and applies every add-on object,
// one ImagePullSecret per enabled domain, and updater-config. Running it again with other options reconfigures in
// place. `--dry-run` stops after the plan: nothing is written to the cloud or the cluster.
import { type IssuedToken, TcrApi, type TcrCredentials } from "@tcr-assistant/tcr"
import { Duration, Effect, Option, Redacted, Result } from "effect"
import { Command, Flag } from "effect/cli"
import {
  applyObject,
  deleteObject,
  describeObject,
  getObject,
  listImagePullSecrets,
  type Manifest,
  pollUntil,
  checkReachable
} from "./addon-cluster.ts"
import { failure, reportFailure, usageFailure } from "./addon-failure.ts"
import {
  contextFlag,
  instanceIdFlag,
  kubeconfigFlag,
  kubeLayer,
  operatorLogging,
  type OutputFormat,
  outputFlag,
  printData,
  progress,
  regionFlag,
  requireNonEmpty,
  resolveCredentials,
  secretIdFlag,
  secretKeyFlag,
  tcrLayer
} from "./addon-flags.ts"
import { installObjects, isAdmissionObject, withWebhookUrl } from "./addon-manifests.ts"
import { convergence } from "./addon-status.ts"
import { optionalWithShownDefault, withRequiredShown, withShownDefault } from "./flag-default.ts"
import { readStatus } from "./status.ts"
import {
  defaultDomainSelection,
  type InstallOptions,
  type InstallPlan,
  parseDomainSelection,
  planInstall,
  type PlannedImagePullSecret,
  previousInstall,
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
}

/** The credential an ImagePullSecret carries: the long-term token's user name and value. */
interface Credential {
  readonly tokenId: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

const domainKindText = { default: "default domain", private: "dedicated private domain", custom: "custom domain" } as const

/** The plan in lines people read (no credential appears in a plan). */
export const describePlan = (plan: InstallPlan, objectCount: number): ReadonlyArray<string> => {
  const lines = [
    `TCR instance ${plan.instance.id} (${plan.instance.name}, ${plan.instance.region}) for cluster ${plan.clusterId}:`,
    plan.token.action === "reuse"
      ? `  token: reuse long-term token ${plan.token.tokenId}`
      : `  token: create a long-term token "${plan.token.description}" (${plan.token.reason})`
  ]
  if (plan.replacedToken !== undefined) {
    lines.push(`  token: revoke the replaced token ${plan.replacedToken.tokenId} of ${plan.replacedToken.instanceId} afterwards`)
  }
  for (const entry of plan.imagePullSecrets) {
    lines.push(
      `  ImagePullSecret ${entry.name} (${domainKindText[entry.kind]}): ${entry.action}; namespaces ${entry.namespaces}, service accounts ${entry.serviceAccounts}`
    )
  }
  for (const name of plan.removeImagePullSecrets) lines.push(`  ImagePullSecret ${name}: delete (its domain is no longer enabled)`)
  lines.push(
    plan.privateResolution.enabled
      ? `  private resolution: on, through the VPC link to ${plan.privateResolution.vpcId} (${plan.privateResolution.accessIp}) for ${
        plan.privateResolution.entries.flatMap((entry) => entry.names).join(", ")
      }`
      : "  private resolution: off (updater-config holds no entries)"
  )
  lines.push(`  add-on objects: ${objectCount}, by server-side apply`)
  for (const note of plan.notes) lines.push(`  note: ${note}`)
  return lines
}

const planData = (plan: InstallPlan, objects: ReadonlyArray<Manifest>) => ({
  ...plan,
  objects: objects.map(describeObject)
})

/** Our CR for one domain, carrying the credential (this object is sent to the apiserver and never printed). */
const imagePullSecretObject = (
  entry: PlannedImagePullSecret,
  options: InstallOptions,
  credential: Credential
): Manifest => ({
  apiVersion: imagePullSecretApiVersion,
  kind: imagePullSecretKind,
  metadata: {
    name: entry.name,
    labels: { [installedByLabel]: installedByValue, "app.kubernetes.io/part-of": "tcr-assistant" },
    annotations: {
      [recordAnnotations.region]: options.region,
      [recordAnnotations.instanceId]: options.instanceId,
      [recordAnnotations.tokenId]: credential.tokenId,
      [recordAnnotations.clusterId]: options.clusterId,
      [recordAnnotations.domainKind]: entry.kind
    }
  },
  spec: {
    namespaces: entry.namespaces,
    serviceAccounts: entry.serviceAccounts,
    docker: { server: entry.domain, username: credential.username, password: Redacted.value(credential.password) }
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
  )

/** The token value a previous install stored in one of our CRs. */
const reusedCredential = (existing: ReadonlyArray<ObservedImagePullSecret>, tokenId: string, username: string, carriedBy: string) =>
  Effect.gen(function*() {
    const carrier = existing.find((object) => object.metadata.name === carriedBy)
    const password = carrier?.spec?.docker?.password
    if (password === undefined || password === "") {
      return yield* failure(`ImagePullSecret ${carriedBy} no longer carries the token`, "run install again")
    }
    return { tokenId, username, password: Redacted.make(password) } satisfies Credential
  })

export const runInstall = Effect.fn("install")(function*(command: InstallCommandOptions) {
  const { install: options, credentials } = command
  const tcr = yield* TcrApi
  const target = { credentials, region: options.region }

  const server = yield* checkReachable()
  yield* progress(`cluster ${server}: reading the current installation`)
  const existing = yield* listImagePullSecrets()
  const previous = previousInstall(existing)
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

  const planned = planInstall({ options, instance, vpcLinks, customDomains, tokens, existing, now: new Date() })
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
  if (plan.token.action === "reuse") {
    credential = yield* reusedCredential(existing, plan.token.tokenId, plan.token.username, plan.token.carriedBy)
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
    credential = { tokenId: created.tokenId, username: created.username, password: created.token }
    yield* progress(`  token ${created.tokenId} (user ${created.username})`)
  }

  // Once a CR carries a new token, it stays even if a later step fails: the next install reuses it.
  let wroteImagePullSecret = false
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
    for (const entry of plan.imagePullSecrets) {
      yield* applyObject(imagePullSecretObject(entry, options, credential))
      wroteImagePullSecret = true
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
      created === undefined || created.tokenId === undefined || wroteImagePullSecret
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

const onOff = Flag.Literals("private-resolution", ["on", "off"]).pipe(
  withShownDefault(
    "on: every node resolves the enabled domains to the instance's private IP (needs a Running VPC access link); off: leave name resolution alone",
    "off"
  )
)

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
    privateResolution: onOff,
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
        "Point the validating webhook at this https URL instead of the in-cluster Service (for a controller running outside the cluster)",
        "the in-cluster Service"
      )
    ),
    wait: Flag.Boolean("wait").pipe(
      withShownDefault("Wait until every ImagePullSecret is Ready and every reporting node holds the new hosts config", false)
    ),
    timeout: Flag.Int("timeout").pipe(withShownDefault("Seconds --wait may take", 300)),
    dryRun: Flag.Boolean("dry-run").pipe(withShownDefault("Print the plan and change nothing", false)),
    output: outputFlag,
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    secretId: secretIdFlag,
    secretKey: secretKeyFlag
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
      const credentials = yield* resolveCredentials(flags)
      yield* runInstall({
        install: {
          region,
          instanceId,
          clusterId,
          namespaces: flags.namespaces.trim(),
          serviceAccounts: flags.serviceAccounts.trim(),
          description: Option.getOrUndefined(flags.description),
          privateResolution: flags.privateResolution === "on",
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
