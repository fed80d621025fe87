// The `tcr-assistant` command: the controller and hosts-updater programs the image runs, and the tools operators
// use (render). Each subcommand decodes its flags here, at the edge, and hands typed options to its package.
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { startController } from "@tcr-assistant/controller/reconciler"
import { runHostsUpdater } from "@tcr-assistant/hosts-updater/main"
import { KubeClient } from "@tcr-assistant/kube"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { withUsageExitCode } from "./addon-failure.ts"
import { installCommand } from "./install.ts"
import { renderAllManifests } from "./render.ts"
import { statusCommand } from "./status.ts"
import { uninstallCommand } from "./uninstall.ts"

const kubeconfig = Flag.String("kubeconfig").pipe(
  Flag.withDescription("Path of the kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)"),
  Flag.optional
)
const context = Flag.String("context").pipe(Flag.withDescription("kubeconfig context to use"), Flag.optional)

const controller = Command.make(
  "controller",
  {
    kubeconfig,
    context,
    concurrency: Flag.Int("concurrency").pipe(
      Flag.withDescription("Most apiserver requests in flight at once"),
      Flag.withDefault(16)
    )
  },
  Effect.fn(function*(flags) {
    yield* Effect.logInfo("starting controller")
    return yield* Effect.gen(function*() {
      yield* startController({ concurrency: flags.concurrency })
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(
        KubeClient.layer({
          kubeconfig: Option.getOrUndefined(flags.kubeconfig),
          context: Option.getOrUndefined(flags.context),
          connections: flags.concurrency
        })
      )
    )
  })
).pipe(Command.withDescription("Run the ImagePullSecret controller against the cluster of the kubeconfig"))

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
    healthPort: Flag.Int("health-port").pipe(Flag.withDescription("Port of /healthz, /readyz and /metrics"), Flag.optional)
  },
  (flags) =>
    runHostsUpdater({
      hostsFile: flags.hostsFile,
      nodeName: Option.getOrUndefined(flags.nodeName),
      namespace: Option.getOrUndefined(flags.namespace),
      configMapName: Option.getOrUndefined(flags.configMap),
      healthPort: Option.getOrUndefined(flags.healthPort),
      kubeconfig: Option.getOrUndefined(flags.kubeconfig)
    })
).pipe(Command.withDescription("Keep this node's hosts file in line with the updater-config ConfigMap"))

const render = Command.make(
  "render",
  {},
  () => Console.log(renderAllManifests())
).pipe(Command.withDescription("Print every manifest of the add-on as one YAML stream"))

const root = Command.make("tcr-assistant").pipe(
  Command.withDescription("Distribute registry pull credentials and private-network hosts entries in a Kubernetes cluster"),
  Command.withSubcommands([controller, hostsUpdater, render, installCommand, statusCommand, uninstallCommand])
)

root.pipe(
  Command.run({ version: "0.1.0" }),
  withUsageExitCode,
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
