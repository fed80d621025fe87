// The `tcr-assistant` command: the controller and hosts-updater programs the image runs, and the tools operators
// use (render). Each subcommand decodes its flags here, at the edge, and hands typed options to its package.
// hosts-updater runs on every node within the seeds' 100Mi, so this module loads only what it needs: the platform's
// modules one by one (its index loads every Node service, about 25 MB of resident memory), and the other commands'
// modules (controller, TCR API, install, about 11 MB) only when one of them runs.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { defaultConfigMapName, defaultHealthPort, defaultNamespace, runHostsUpdater } from "@tcr-assistant/hosts-updater/main"
import { Config, Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { type CommandFailed, failure, reportFailure, withUsageExitCode } from "./addon-failure.ts"
import { optionalWithShownDefault, withShownDefault } from "./flag-default.ts"
import { metricsFlags, metricsOptions } from "./metrics-flags.ts"

const kubeconfig = Flag.String("kubeconfig").pipe(
  optionalWithShownDefault("Path of the kubeconfig file", "KUBECONFIG, ~/.kube/config, or in-cluster")
)
const context = Flag.String("context").pipe(optionalWithShownDefault("kubeconfig context to use", "its current context"))

const logFormat = Flag.Literals("log-format", ["json", "text"]).pipe(
  withShownDefault("One JSON object per line, or text", "json")
)

const logLevel = Flag.Literals("log-level", ["debug", "info", "warn", "error"]).pipe(
  withShownDefault("Least severe level logged; at debug a failure's record also carries its stack trace", "info")
)
/** Where the in-cluster service account is mounted (hidden: tests and the benchmark point it at a directory of their own). */
const serviceAccountDir = Flag.String("service-account-dir").pipe(Flag.withHidden, Flag.optional)
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
      optionalWithShownDefault(
        "The add-on's namespace: leader Lease, webhook certificate, default TCR API keys",
        "POD_NAMESPACE, else tcr-assistant-system"
      )
    ),
    concurrency: Flag.Int("concurrency").pipe(withShownDefault("Most apiserver requests in flight at once", 16)),
    leaderElect: Flag.Boolean("leader-elect").pipe(
      withShownDefault("Elect one leader among replicas (false: this process always leads; one replica only)", true)
    ),
    webhook: Flag.Boolean("webhook").pipe(withShownDefault("Serve the validating webhook", true)),
    webhookHost: Flag.String("webhook-host").pipe(optionalWithShownDefault("Address of the webhook server", "0.0.0.0")),
    webhookPort: Flag.Int("webhook-port").pipe(optionalWithShownDefault("Port of the webhook server", "9443")),
    webhookExtraHosts: Flag.String("webhook-extra-hosts").pipe(
      optionalWithShownDefault(
        "Comma-separated extra names or IPs for the serving certificate (e.g. 127.0.0.1 when the apiserver calls a URL)",
        "none"
      )
    ),
    healthHost: Flag.String("health-host").pipe(optionalWithShownDefault("Address of /healthz, /readyz and plain /metrics", "0.0.0.0")),
    healthPort: Flag.Int("health-port").pipe(optionalWithShownDefault("Port of /healthz, /readyz and plain /metrics", "8080")),
    deleteStuckPods: Flag.Boolean("delete-stuck-pods").pipe(
      withShownDefault(
        "Delete Pods admitted without the pull Secret that fail to pull (ErrImagePull, ImagePullBackOff) and that a controller owns, so that it recreates them with the Secret (false: only report them)",
        false
      )
    ),
    ...metricsFlags,
    logFormat,
    logLevel,
    serviceAccountDir
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
      serviceAccountDir: Option.getOrUndefined(flags.serviceAccountDir),
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
      log: programLog(flags),
      deleteStuckPods: flags.deleteStuckPods
    }).pipe(
      Effect.catchTag(kubeErrorTags, reportProgramFailure(flags.logFormat)),
      // What the program cannot start without is said in one line, with what to do, never as a stack trace.
      Effect.catchTag(["AddonNamespaceMissing", "WebhookTlsError", "WebhookServerError", "HealthServerError", "MetricsServerError"], (error) =>
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
      withShownDefault("The hosts file to manage (the DaemonSet mounts the node's /etc)", "/etc/hosts")
    ),
    nodeName: Flag.String("node-name").pipe(optionalWithShownDefault("This node's name", "NODE_NAME")),
    namespace: Flag.String("namespace").pipe(
      optionalWithShownDefault("Namespace of updater-config", defaultNamespace)
    ),
    configMap: Flag.String("config-map").pipe(optionalWithShownDefault("Name of the ConfigMap", defaultConfigMapName)),
    healthPort: Flag.Int("health-port").pipe(optionalWithShownDefault("Port of /healthz, /readyz and plain /metrics", String(defaultHealthPort))),
    ...metricsFlags,
    logFormat,
    logLevel,
    serviceAccountDir
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
    }).pipe(
      Effect.catchTag("KubeUnavailable", reportProgramFailure(flags.logFormat)),
      // A port that cannot be served is said in one line (text) or one record (json), never as a stack trace.
      Effect.catchTag(["HealthServerError", "MetricsServerError"], (error) =>
        flags.logFormat === "json" ? Effect.fail<typeof error | CommandFailed>(error) : reportFailure(failure(error.message)))
    )
).pipe(Command.withDescription("Keep this node's hosts file in line with the updater-config ConfigMap"))

const render = Command.make(
  "render",
  {},
  () => Effect.promise(() => import("./render.ts")).pipe(Effect.flatMap(({ renderAllManifests }) => Console.log(renderAllManifests())))
).pipe(Command.withDescription("Print every manifest of the add-on as one YAML stream"))

/** The operator's commands are defined with their modules: loaded unless the agent runs. */
const operatorCommands = async () => {
  const [{ installCommand }, { statusCommand }, { uninstallCommand }, { rotateTokenCommand }, { helmHookCommand }] = await Promise.all([
    import("./install.ts"),
    import("./status.ts"),
    import("./uninstall.ts"),
    import("./rotate-token.ts"),
    import("./helm-hook.ts")
  ])
  return [installCommand, statusCommand, uninstallCommand, rotateTokenCommand, helmHookCommand] as const
}

// No top-level await: the single-file executable (`npm run package`) bundles this module as CommonJS.
const root = Effect.promise(async () => (process.argv[2] === "hosts-updater" ? [] : [...(await operatorCommands())])).pipe(
  Effect.map((operator) =>
    Command.make("tcr-assistant").pipe(
      Command.withDescription("Distribute registry pull credentials and private-network hosts entries in a Kubernetes cluster"),
      Command.withSubcommands([controller, hostsUpdater, render, ...operator])
    )
  )
)

root.pipe(
  Effect.flatMap(Command.run({ version: "0.1.0" })),
  withUsageExitCode,
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
