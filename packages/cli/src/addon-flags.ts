// Flags and services shared by install, status and uninstall: which cluster, how to print data, and the Tencent
// Cloud credentials (flags or the standard environment variables, always Redacted, never printed).
import { KubeClient } from "@tcr-assistant/kube"
import { redactLogValue } from "@tcr-assistant/kube/logging"
import { TcrApi, tcrApiOptionsConfig, TcrCredentials } from "@tcr-assistant/tcr"
import { Console, Effect, Layer, Logger, Option, type Redacted, References } from "effect"
import { Flag } from "effect/cli"
import { stringify } from "yaml"
import { failure, usageFailure } from "./addon-failure.ts"
import { optionalWithShownDefault, withRequiredShown, withShownDefault } from "./flag-default.ts"

export const kubeconfigFlag = Flag.String("kubeconfig").pipe(
  optionalWithShownDefault("Path of the kubeconfig file", "KUBECONFIG, then ~/.kube/config")
)

export const contextFlag = Flag.String("context").pipe(
  optionalWithShownDefault("The kubeconfig context to use", "its current context")
)

export type OutputFormat = "text" | "json" | "yaml"

export const outputFlag = Flag.Literals("output", ["text", "json", "yaml"]).pipe(
  Flag.withAlias("o"),
  withShownDefault("How to print the result: text for people, json or yaml for programs (progress goes to stderr)", "text")
)

export const secretIdFlag = Flag.Redacted("secret-id").pipe(
  optionalWithShownDefault("Tencent Cloud API SecretId; prefer the environment, flags show in ps", "TENCENTCLOUD_SECRET_ID")
)

export const secretKeyFlag = Flag.Redacted("secret-key").pipe(
  optionalWithShownDefault("Tencent Cloud API SecretKey", "TENCENTCLOUD_SECRET_KEY")
)

/** The flags of every command that talks to the cluster and to the TCR API: which cluster, and which API key. */
export const clusterAndCloudFlags = {
  kubeconfig: kubeconfigFlag,
  context: contextFlag,
  secretId: secretIdFlag,
  secretKey: secretKeyFlag
} as const

export const regionFlag = Flag.String("region").pipe(
  withRequiredShown("Region of the TCR instance, e.g. ap-guangzhou")
)

export const instanceIdFlag = Flag.String("instance-id").pipe(
  withRequiredShown("ID of the TCR Enterprise instance, e.g. tcr-xxxxxxxx")
)

/** The KubeClient for the chosen kubeconfig and context. */
export const kubeLayer = (flags: {
  readonly kubeconfig: Option.Option<string>
  readonly context: Option.Option<string>
}) => KubeClient.layer({ kubeconfig: Option.getOrUndefined(flags.kubeconfig), context: Option.getOrUndefined(flags.context) })

/** TcrApi from the environment (TCR_API_ENDPOINT, proxies); its configuration errors become command failures. */
export const tcrLayer = Layer.unwrap(
  tcrApiOptionsConfig.pipe(
    Effect.mapError((error) =>
      failure(
        `the TCR API client cannot be configured: ${error.message}`,
        "check TCR_API_ENDPOINT and the proxy variables (HTTPS_PROXY, NO_PROXY)"
      )
    ),
    Effect.map((options) => TcrApi.layerWith(options))
  )
)

const missingCredentials = usageFailure(
  "no Tencent Cloud credentials",
  "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_SESSION_TOKEN for temporary keys), or pass --secret-id and --secret-key"
)

/** Credentials from both flags, or else from the environment; a half-given pair is a usage error. */
export const resolveCredentials = (flags: {
  readonly secretId: Option.Option<Redacted.Redacted<string>>
  readonly secretKey: Option.Option<Redacted.Redacted<string>>
}) =>
  Effect.gen(function*() {
    if (Option.isSome(flags.secretId) && Option.isSome(flags.secretKey)) {
      return TcrCredentials.make({ secretId: flags.secretId.value, secretKey: flags.secretKey.value })
    }
    if (Option.isSome(flags.secretId) || Option.isSome(flags.secretKey)) {
      return yield* usageFailure("--secret-id and --secret-key go together", "pass both, or neither to use TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY")
    }
    return yield* TcrCredentials.config.pipe(Effect.mapError(() => missingCredentials))
  })

/** Progress for people, on stderr so that stdout carries only the result. */
export const progress = (line: string) => Console.error(line)

/** Prints data as JSON or YAML on stdout. */
export const printData = (format: "json" | "yaml", data: unknown) =>
  Console.log(format === "json" ? JSON.stringify(data, null, 2) : stringify(data, { lineWidth: 0 }).trimEnd())

/** Rejects flags given an empty value where one is required. */
export const requireNonEmpty = (flag: string, value: string) =>
  value.trim() === "" ? Effect.fail(usageFailure(`--${flag} must not be empty`)) : Effect.succeed(value.trim())

const logText = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(redactLogValue(value)))

/**
 * Log lines of the libraries these commands use (a TCR call being retried, say) as one plain line each on stderr,
 * so that stdout carries only the result: `warning: TCR API call failed, retrying (action=... code=...)`.
 */
export const operatorLogging = Logger.layer([
  Logger.make<unknown, void>((options) => {
    const message = (Array.isArray(options.message) ? options.message : [options.message]).map(logText).join(" ")
    const safe = redactLogValue(options.fiber.getRef(References.CurrentLogAnnotations)) as Record<string, unknown>
    const annotations = Object.entries(safe).map(([key, value]) => `${key}=${logText(value)}`)
    const level = options.logLevel === "Warn" ? "warning" : options.logLevel.toLowerCase()
    process.stderr.write(`${level}: ${message}${annotations.length === 0 ? "" : ` (${annotations.join(" ")})`}\n`)
  })
])
