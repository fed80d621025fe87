// How the operator commands (install, status, uninstall) end when something goes wrong: one failure type that carries
// the exit code (1: the operation failed, 2: the command line is wrong), a message, and what to do next; and the
// translation of every expected error into it. Expected errors are printed as two plain lines, never a stack trace.
import type { KubeError } from "@tcr-assistant/kube"
import type { TcrConfigError, TcrError } from "@tcr-assistant/tcr"
import { Console, Effect, Runtime, Schema } from "effect"
import { CliError } from "effect/cli"
import type { UnknownManifestKind, WaitTimedOut } from "./addon-cluster.ts"

export const exitFailure = 1
export const exitUsage = 2

/** A command ended without doing what was asked; already printed, so the runtime neither logs nor re-prints it. */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  message: Schema.String,
  hint: Schema.optional(Schema.String),
  exitCode: Schema.Number
}) {
  override get [Runtime.errorExitCode](): number {
    return this.exitCode
  }
  override readonly [Runtime.errorReported] = false
}

export const failure = (message: string, hint?: string) =>
  new CommandFailed({ message, ...(hint === undefined ? {} : { hint }), exitCode: exitFailure })

export const usageFailure = (message: string, hint?: string) =>
  new CommandFailed({ message, ...(hint === undefined ? {} : { hint }), exitCode: exitUsage })

const credentialsHint =
  "check TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (or --secret-id/--secret-key), that this machine's clock is right, and that the key's CAM policy allows TCR"

/** A failed TCR API call, in words that say what to check. */
export const tcrFailure = (error: TcrError): CommandFailed => {
  switch (error._tag) {
    case "TcrAuthError":
      return error.code.startsWith("UnauthorizedOperation")
        ? failure(
          `the Tencent Cloud key may not call tcr:${error.action}: ${error.message}`,
          `grant tcr:${error.action} to the key's CAM user or role (the preset policy QcloudTCRFullAccess includes every action install and uninstall use), or use another key`
        )
        : failure(`Tencent Cloud refused the request: ${error.message}`, credentialsHint)
    case "TcrNotFoundError":
      return failure(
        error.message,
        "check --instance-id and --region (the TCR console lists the instances of each region)"
      )
    case "TcrRateLimitedError":
      return failure(
        `the TCR API kept refusing with a rate limit after several retries: ${error.message}`,
        "nothing was changed; wait a minute and run the command again"
      )
    case "TcrServerError":
    case "TcrNetworkError":
      return failure(
        `the TCR API is not available: ${error.message}`,
        "retry later; if it persists, check this machine's network path to the API (HTTPS_PROXY, NO_PROXY, TCR_API_ENDPOINT)"
      )
    default:
      return failure(error.message, "quote the RequestId to Tencent Cloud support if this persists")
  }
}

/** A failed Kubernetes API call. */
export const kubeFailure = (error: KubeError): CommandFailed => {
  if (error.message.includes("failed calling webhook")) {
    return failure(
      `the add-on's validating webhook did not answer: ${error.message}`,
      "check that the controller runs (kubectl -n tcr-assistant-system get pods); when it runs outside the cluster, install with --webhook-url pointing at it"
    )
  }
  switch (error._tag) {
    case "KubeUnavailable":
      return failure(
        `cannot reach the cluster: ${error.message}`,
        "check --kubeconfig and --context (or KUBECONFIG) and that the apiserver is up"
      )
    case "KubeRejected":
      if (error.namespaceTerminating) {
        return failure(
          `the cluster refused the request: ${error.message}`,
          "the namespace is still being deleted (a recent uninstall?): wait until it is gone (kubectl get namespace tcr-assistant-system) and run the command again"
        )
      }
      if (error.status === 401 || error.status === 403) {
        return failure(
          `the cluster refused the request: ${error.message}`,
          "the add-on's objects include a CRD, cluster RBAC and a webhook configuration: use a cluster-admin context"
        )
      }
      return failure(`the cluster rejected the request: ${error.message}`)
    default:
      return failure(`the cluster changed while this command ran: ${error.message}`, "run the command again")
  }
}

export type ExpectedError = TcrError | TcrConfigError | KubeError | WaitTimedOut | UnknownManifestKind | CommandFailed

const isTcrError = (error: ExpectedError): error is TcrError => error._tag.startsWith("Tcr") && error._tag !== "TcrConfigError"
const isKubeError = (error: ExpectedError): error is KubeError => error._tag.startsWith("Kube")

export const toCommandFailed = (error: ExpectedError): CommandFailed => {
  if (error._tag === "CommandFailed") return error
  if (error._tag === "TcrConfigError") return failure(error.message, "check TCR_API_ENDPOINT")
  if (isTcrError(error)) return tcrFailure(error)
  if (isKubeError(error)) return kubeFailure(error)
  if (error._tag === "WaitTimedOut") return failure(error.message)
  return failure(error.message, "this is a bug in tcr-assistant's manifests; please report it")
}

/** Prints the failure as `error: ...` and `next: ...` lines on stderr, then fails with it (exit code included). */
export const reportFailure = (error: ExpectedError): Effect.Effect<never, CommandFailed> => {
  const failed = toCommandFailed(error)
  return Console.error(`error: ${failed.message}${failed.hint === undefined ? "" : `\nnext: ${failed.hint}`}`).pipe(
    Effect.andThen(Effect.fail(failed))
  )
}

/** The command line did not parse; the parser has printed help and the errors already. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {
  override get [Runtime.errorExitCode](): number {
    return exitUsage
  }
  override readonly [Runtime.errorReported] = false
}

/** Makes command-line errors (unknown or missing flags, bad values) end the process with exit code 2, not 1. */
export const withUsageExitCode = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | UsageError, R> =>
  Effect.mapError(self, (error) =>
    CliError.isCliError(error) && error._tag === "ShowHelp" && error.errors.length > 0
      ? new UsageError({ message: error.errors.map((cause) => cause.message).join("; ") })
      : error)
