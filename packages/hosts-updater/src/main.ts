// The hosts-updater program: its options, its layer graph, and the entry the CLI runs.
import { KubeClient } from "@tcr-assistant/kube"
import { type ProgramLoggingOptions, withProgramLogging } from "@tcr-assistant/kube/logging"
import { defaultSecureMetricsPort, type MetricsServingOptions } from "@tcr-assistant/kube/metrics-server"
import { ProcessMetricsLive } from "@tcr-assistant/kube/process-metrics"
import { metricRegistryLayer } from "@tcr-assistant/kube/prometheus"
import { Config, Duration, Effect, Layer } from "effect"
import { HealthServerLive, SecureMetricsLive } from "./health-server.ts"
import { HostsAgentLive } from "./hosts-agent.ts"
import { HostsFile } from "./hosts-file.ts"
import { NodeReporter } from "./node-reporter.ts"

export const defaultNamespace = "tcr-assistant-system"
export const defaultConfigMapName = "updater-config"
export const defaultHealthPort = 8081

export interface HostsUpdaterOptions {
  /** The hosts file to manage; the DaemonSet mounts the node's /etc and points here. */
  readonly hostsFile: string
  /** The Node this agent runs on; default: NODE_NAME from the environment (downward API). */
  readonly nodeName?: string | undefined
  readonly namespace?: string | undefined
  readonly configMapName?: string | undefined
  /** How often the file is checked even without a change; default 30 seconds. */
  readonly resyncEvery?: Duration.Input | undefined
  /** Where /healthz, /readyz and /metrics are served; default 0.0.0.0:8081. Port 0 picks a free one. */
  readonly healthHost?: string | undefined
  readonly healthPort?: number | undefined
  /** Default: plain HTTP on the health port; `secure` serves it over HTTPS to callers the apiserver authorizes. */
  readonly metrics?: MetricsServingOptions | undefined
  /** Default: the standard loading rules, in a pod its service account. */
  readonly kubeconfig?: string | undefined
  /** Where the pod's service account is mounted; default the standard path. Lets tests take the in-cluster path. */
  readonly serviceAccountDir?: string | undefined
  readonly log?: ProgramLoggingOptions | undefined
}

export interface ResolvedHostsUpdaterOptions {
  readonly hostsFile: string
  readonly nodeName: string
  readonly namespace: string
  readonly configMapName: string
  readonly resyncEvery: Duration.Input
  readonly healthHost: string
  readonly healthPort: number
  readonly metrics: { readonly secure: boolean; readonly host: string; readonly port: number }
}

/** Fills in defaults; NODE_NAME is read here, at the edge, and nowhere deeper. */
export const resolveHostsUpdaterOptions = Effect.fn("resolveHostsUpdaterOptions")(function*(options: HostsUpdaterOptions) {
  const nodeName = options.nodeName ?? (yield* Config.String("NODE_NAME"))
  const resolved: ResolvedHostsUpdaterOptions = {
    hostsFile: options.hostsFile,
    nodeName,
    namespace: options.namespace ?? defaultNamespace,
    configMapName: options.configMapName ?? defaultConfigMapName,
    resyncEvery: options.resyncEvery ?? "30 seconds",
    healthHost: options.healthHost ?? "0.0.0.0",
    healthPort: options.healthPort ?? defaultHealthPort,
    metrics: {
      secure: options.metrics?.secure === true,
      host: options.metrics?.host ?? "0.0.0.0",
      port: options.metrics?.port ?? defaultSecureMetricsPort
    }
  }
  return resolved
})

/** The whole agent: the hosts loop, Node reporting and the health server. Needs a KubeClient. */
export const HostsUpdaterLive = (options: ResolvedHostsUpdaterOptions) => {
  const agent = HostsAgentLive(options).pipe(
    Layer.provide(Layer.mergeAll(
      HostsFile.layer,
      NodeReporter.layer({ nodeName: options.nodeName })
    ))
  )
  return Layer.mergeAll(
    HealthServerLive({ host: options.healthHost, port: options.healthPort, metrics: !options.metrics.secure }).pipe(Layer.provideMerge(agent)),
    options.metrics.secure ? SecureMetricsLive(options.metrics) : Layer.empty,
    ProcessMetricsLive({ program: "hosts-updater" })
  )
}

/** Runs the agent until interrupted (SIGTERM through `NodeRuntime.runMain`); the CLI's `hosts-updater` command. */
export const runHostsUpdater = (options: HostsUpdaterOptions) =>
  runAgent(options).pipe(withProgramLogging(options.log), Effect.provide(metricRegistryLayer))

const runAgent = (options: HostsUpdaterOptions) =>
  Effect.gen(function*() {
    const resolved = yield* resolveHostsUpdaterOptions(options)
    yield* Effect.logInfo("starting hosts-updater").pipe(
      Effect.annotateLogs({ node: resolved.nodeName, file: resolved.hostsFile })
    )
    return yield* Layer.launch(
      HostsUpdaterLive(resolved).pipe(Layer.provide(KubeClient.layer({ kubeconfig: options.kubeconfig, serviceAccountDir: options.serviceAccountDir })))
    )
  })
