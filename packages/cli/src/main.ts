// The `tcr-assistant` command: the controller and hosts-updater programs the image runs, and the tools operators
// use (render). Each subcommand decodes its flags here, at the edge, and hands typed options to its package.
// hosts-updater runs on every node within the seeds' 100Mi, so this module loads only what it needs: the platform's
// modules one by one (its index loads every Node service, about 25 MB of resident memory), and the other commands'
// modules (controller, TCR API, install, about 11 MB) only when one of them runs.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { runHostsUpdater } from "@tcr-assistant/hosts-updater/main"
import { Config, Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { type CommandFailed, failure, reportFailure, withUsageExitCode } from "./addon-failure.ts"
import { metricsFlags, metricsOptions } from "./metrics-flags.ts"

const kubeconfig = Flag.String("kubeconfig").pipe(
  Flag.withDescription("Path of the kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)"),
  Flag.optional
)
const context = Flag.String("context").pipe(Flag.withDescription("kubeconfig context to use"), Flag.optional)

const logFormat = Flag.Literals("log-format", ["json", "text"]).pipe(
  Flag.withDescription("One JSON object per line, or text"),
  Flag.withDefault("json")
)

const logLevel = Flag.Literals("log-level", ["debug", "info", "warn", "error"]).pipe(
  Flag.withDescription("Least severe level logged; at debug a failure's record also carries its stack trace"),
  Flag.withDefault("info")
)
const logLevels = { debug: "Debug", info: "Info", warn: "Warn", error: "Error" } as const

/** The programs' `log` option from --log-format and --log-level. */
const programLog = (flags: { readonly logFormat: "json" | "text"; readonly logLevel: keyof typeof logLevels }) => ({
  format: flags.logFormat,
  level: logLevels[flags.logLevel]
})

/** Failures to reach or use the apiserver end the program with a plain `error:`/`next:` message, no stack trace. */
const kubeErrorTags = ["KubeUnavailable", "KubeRejected", "KubeNotFound", "KubeConflict", "KubeGone"] as const

/** In text format as `error:`/`next:` lines; in JSON the program has already logged the failure as one record. */
const reportProgramFailure = (format: "json" | "text") => <E extends Parameters<typeof reportFailure>[0]>(error: E): Effect.Effect<never, E | CommandFailed> =>
  format === "json" ? Effect.fail(error) : reportFailure(error)

const commaList = (value: Option.Option<string>) =>
  Option.getOrElse(value, () => "").split(",").map((item) => item.trim()).filter((item) => item !== "")

/** The TCR API is optional for the controller: without it, ImagePullSecrets with spec.tcr report TokenUnavailable. */
const tokenIssuerFromEnvironment = Effect.promise(() =>
  Promise.all([import("@tcr-assistant/controller/registry-token"), import("@tcr-assistant/tcr")])
).pipe(
  Effect.flatMap(([{ makeTcrTokenIssuer }, { tcrApiLayerFromEnv }]) => makeTcrTokenIssuer.pipe(Effect.provide(tcrApiLayerFromEnv))),
  Effect.tapError((error) => Effect.logWarning("TCR API not configured; spec.tcr is unavailable").pipe(Effect.annotateLogs({ error: String(error) }))),
  Effect.option,
  Effect.map(Option.getOrUndefined)
)

const controller = Command.make(
  "controller",
  {
    kubeconfig,
    context,
    namespace: Flag.String("namespace").pipe(
      Flag.withDescription("The add-on's namespace: leader Lease, webhook certificate, default TCR API keys (default: POD_NAMESPACE or tcr-assistant-system)"),
      Flag.optional
    ),
    concurrency: Flag.Int("concurrency").pipe(Flag.withDescription("Most apiserver requests in flight at once"), Flag.withDefault(16)),
    leaderElect: Flag.Boolean("leader-elect").pipe(
      Flag.withDescription("Elect one leader among replicas (off: this process always leads; one replica only)"),
      Flag.withDefault(true)
    ),
    webhook: Flag.Boolean("webhook").pipe(Flag.withDescription("Serve the validating webhook"), Flag.withDefault(true)),
    webhookHost: Flag.String("webhook-host").pipe(Flag.withDescription("Address of the webhook server (default 0.0.0.0)"), Flag.optional),
    webhookPort: Flag.Int("webhook-port").pipe(Flag.withDescription("Port of the webhook server (default 9443)"), Flag.optional),
    webhookExtraHosts: Flag.String("webhook-extra-hosts").pipe(
      Flag.withDescription("Comma-separated extra names or IPs for the serving certificate (e.g. 127.0.0.1 when the apiserver calls a URL)"),
      Flag.optional
    ),
    healthHost: Flag.String("health-host").pipe(Flag.withDescription("Address of /healthz, /readyz and plain /metrics (default 0.0.0.0)"), Flag.optional),
    healthPort: Flag.Int("health-port").pipe(Flag.withDescription("Port of /healthz, /readyz and plain /metrics (default 8080)"), Flag.optional),
    ...metricsFlags,
    logFormat,
    logLevel
  },
  Effect.fn(function*(flags) {
    const environment = yield* Config.all({
      podName: Config.String("POD_NAME").pipe(Config.option),
      podNamespace: Config.String("POD_NAMESPACE").pipe(Config.option)
    })
    const tokenIssuer = yield* tokenIssuerFromEnvironment
    const { runControllerManager } = yield* Effect.promise(() => import("@tcr-assistant/controller/main"))
    return yield* runControllerManager({
      kubeconfig: Option.getOrUndefined(flags.kubeconfig),
      context: Option.getOrUndefined(flags.context),
      namespace: Option.getOrUndefined(Option.orElse(flags.namespace, () => environment.podNamespace)),
      identity: Option.getOrUndefined(environment.podName),
      concurrency: flags.concurrency,
      tokenIssuer,
      leaderElection: { enabled: flags.leaderElect },
      webhook: {
        enabled: flags.webhook,
        host: Option.getOrUndefined(flags.webhookHost),
        port: Option.getOrUndefined(flags.webhookPort),
        extraHosts: commaList(flags.webhookExtraHosts)
      },
      health: { host: Option.getOrUndefined(flags.healthHost), port: Option.getOrUndefined(flags.healthPort) },
      metrics: metricsOptions(flags),
      log: programLog(flags)
    }).pipe(
      Effect.catchTag(kubeErrorTags, reportProgramFailure(flags.logFormat)),
      // What the program cannot start without is said in one line, with what to do, never as a stack trace.
      Effect.catchTag(["AddonNamespaceMissing", "WebhookTlsError", "WebhookServerError", "HealthServerError"], (error) =>
        reportProgramFailure(flags.logFormat)(failure(error._tag === "AddonNamespaceMissing"
          ? `${error.message}, or pass --namespace with the namespace it is installed in`
          : error.message)))
    )
  })
).pipe(Command.withDescription("Run the controller-manager: the ImagePullSecret controller (leader only), the webhooks (validation, Pod mutation), probes and metrics"))

const hostsUpdater = Command.make(
  "hosts-updater",
  {
    kubeconfig,
    hostsFile: Flag.String("hosts-file").pipe(
      Flag.withDescription("The hosts file to manage (the DaemonSet mounts the node's /etc)"),
      Flag.withDefault("/etc/hosts")
    ),
    nodeName: Flag.String("node-name").pipe(Flag.withDescription("This node's name (default: NODE_NAME)"), Flag.optional),
    namespace: Flag.String("namespace").pipe(Flag.withDescription("Namespace of updater-config"), Flag.optional),
    configMap: Flag.String("config-map").pipe(Flag.withDescription("Name of the ConfigMap (default: updater-config)"), Flag.optional),
    healthPort: Flag.Int("health-port").pipe(Flag.withDescription("Port of /healthz, /readyz and plain /metrics (default 8081)"), Flag.optional),
    ...metricsFlags,
    logFormat,
    logLevel,
    // Tests point the in-cluster path (what a pod without a kubeconfig uses) at a directory of their own.
    serviceAccountDir: Flag.String("service-account-dir").pipe(Flag.withHidden, Flag.optional)
  },
  (flags) =>
    runHostsUpdater({
      hostsFile: flags.hostsFile,
      nodeName: Option.getOrUndefined(flags.nodeName),
      namespace: Option.getOrUndefined(flags.namespace),
      configMapName: Option.getOrUndefined(flags.configMap),
      healthPort: Option.getOrUndefined(flags.healthPort),
      metrics: metricsOptions(flags),
      kubeconfig: Option.getOrUndefined(flags.kubeconfig),
      serviceAccountDir: Option.getOrUndefined(flags.serviceAccountDir),
      log: programLog(flags)
    }).pipe(Effect.catchTag("KubeUnavailable", reportProgramFailure(flags.logFormat)))
).pipe(Command.withDescription("Keep this node's hosts file in line with the updater-config ConfigMap"))

const render = Command.make(
  "render",
  {},
  () => Effect.promise(() => import("./render.ts")).pipe(Effect.flatMap(({ renderAllManifests }) => Console.log(renderAllManifests())))
).pipe(Command.withDescription("Print every manifest of the add-on as one YAML stream"))

/** The operator's commands are defined with their modules: loaded unless the agent runs. */
const operatorCommands = async () => {
  const [{ installCommand }, { statusCommand }, { uninstallCommand }] = await Promise.all([
    import("./install.ts"),
    import("./status.ts"),
    import("./uninstall.ts")
  ])
  return [installCommand, statusCommand, uninstallCommand] as const
}

const root = Command.make("tcr-assistant").pipe(
  Command.withDescription("Distribute registry pull credentials and private-network hosts entries in a Kubernetes cluster"),
  Command.withSubcommands([controller, hostsUpdater, render, ...(process.argv[2] === "hosts-updater" ? [] : await operatorCommands())])
)

root.pipe(
  Command.run({ version: "0.1.0" }),
  withUsageExitCode,
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
