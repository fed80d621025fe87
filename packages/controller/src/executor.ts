// Runs one planned command as the single apiserver request it stands for, and classifies what became of it: the
// object written (null once deleted), or a tagged failure the target's machine reacts to. A lost race means read
// again, a namespace being deleted means wait, anything else is a failed request to back off from.
import { managedSecretName } from "@tcr-assistant/api"
import { KubeClient, type KubeError, type KubeObject } from "@tcr-assistant/kube"
import { Context, Effect, Layer, Schema } from "effect"
import { imagePullSecretsPath } from "./cluster-cache.ts"
import type { Command } from "./plan.ts"
import type { TargetKey } from "./target.ts"

/** The request met a newer object than it was planned from (409, or a patch whose test failed): read again. */
export class LostRace extends Schema.TaggedError<LostRace>()("LostRace", {
  message: Schema.String
}) {}

/** The namespace is being deleted (or is gone): nothing can be created there; wait for the namespace informer. */
export class NamespaceTerminating extends Schema.TaggedError<NamespaceTerminating>()("NamespaceTerminating", {
  message: Schema.String
}) {}

/** Any other failure; `reason` is the apiserver's (or the error's tag), for status and events. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", {
  reason: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

export type CommandError = LostRace | NamespaceTerminating | RequestFailed

/**
 * Forbidden (RBAC, an admission policy) and Invalid do not change by asking again: the machine waits for the spec or
 * the object to change. A quota is the exception: it frees up when other objects go, so it is retried.
 */
const retriedAfter = (error: { readonly status: number; readonly message: string }) =>
  (error.status !== 403 && error.status !== 422) || (error.status === 403 && error.message.includes("exceeded quota"))

/** What a failed request means for the command that sent it; a 404 on a write means there is nothing left to do. */
export const classifyCommandError = (error: KubeError, command: Command): CommandError | null => {
  switch (error._tag) {
    case "KubeConflict":
      return new LostRace({ message: error.message })
    case "KubeRejected":
      if (error.namespaceTerminating) return new NamespaceTerminating({ message: error.message })
      // Our patches always apply to the object they were planned from. One that does not apply (a failed `test`,
      // a list emptied meanwhile) met a newer object: the apiserver answers 422 with a generic message and, unlike
      // a validation error, no causes, before it even compares resourceVersions. Read again; it is no failure.
      if (error.status === 422 && error.causes.length === 0 && "patch" in command) return new LostRace({ message: error.message })
      return new RequestFailed({ reason: error.reason || `HTTP${error.status}`, message: error.message, retryable: retriedAfter(error) })
    case "KubeNotFound":
      // Creating in a namespace that is gone is not a success: wait quietly for the namespace informer to notice,
      // rather than planning the same create again at once.
      return command._tag === "CreateSecret" ? new NamespaceTerminating({ message: error.message }) : null
    default:
      return new RequestFailed({ reason: error._tag, message: error.message, retryable: true })
  }
}

const secretsPath = (namespace: string) => `/api/v1/namespaces/${namespace}/secrets`
const serviceAccountPath = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`

/** Where a target's object lives on the apiserver. */
export const targetObjectPath = (target: TargetKey): string => {
  switch (target.kind) {
    case "Secret":
      return `${secretsPath(target.namespace)}/${managedSecretName(target.ips)}`
    case "ServiceAccount":
      return serviceAccountPath(target.namespace, target.serviceAccount)
    case "ImagePullSecret":
      return `${imagePullSecretsPath}/${target.ips}`
  }
}

const send = (client: KubeClient["Service"], command: Command): Effect.Effect<KubeObject | null, KubeError> => {
  switch (command._tag) {
    case "CreateSecret":
      return client.request<KubeObject>({
        method: "POST",
        path: secretsPath(command.namespace),
        body: command.body,
        what: `create Secret ${command.namespace}/${(command.body as { metadata: { name: string } }).metadata.name}`
      })
    case "PatchSecret":
      return client.request<KubeObject>({
        method: "PATCH",
        path: `${secretsPath(command.namespace)}/${command.name}`,
        body: command.patch,
        what: `update Secret ${command.namespace}/${command.name}`
      })
    case "DeleteSecret":
      return client
        .request<KubeObject>({
          method: "DELETE",
          path: `${secretsPath(command.namespace)}/${command.name}`,
          body: { kind: "DeleteOptions", apiVersion: "v1", preconditions: { uid: command.uid, resourceVersion: command.resourceVersion } },
          what: `delete Secret ${command.namespace}/${command.name}`
        })
        .pipe(Effect.as(null))
    case "PatchServiceAccount":
      return client.request<KubeObject>({
        method: "PATCH",
        path: serviceAccountPath(command.namespace, command.name),
        body: command.patch,
        what: `update ServiceAccount ${command.namespace}/${command.name}`
      })
    case "PatchImagePullSecret":
      return client.request<KubeObject>({
        method: "PATCH",
        path: `${imagePullSecretsPath}/${command.name}`,
        body: command.patch,
        what: `update ImagePullSecret ${command.name}`
      })
  }
}

export class Executor extends Context.Service<Executor, {
  /** Send the command's request: the object as written, null when it is gone. */
  readonly execute: (command: Command) => Effect.Effect<KubeObject | null, CommandError>
  /** Read a target's object from the apiserver: null when there is none. */
  readonly read: (target: TargetKey) => Effect.Effect<KubeObject | null, KubeError>
}>()("@tcr-assistant/controller/Executor") {
  static readonly make = Effect.gen(function*() {
    const client = yield* KubeClient
    // Plain functions, not Effect.fn: these run once per request of every reconcile, and a span with its captured
    // call site per request cost the controller a measurable share of its CPU in the convergence benchmark.
    const execute = (command: Command) =>
      send(client, command).pipe(
        Effect.catch((error: KubeError) => {
          const failure = classifyCommandError(error, command)
          return failure === null ? Effect.succeed(null) : Effect.fail(failure)
        })
      )
    const read = (target: TargetKey) => {
      const path = targetObjectPath(target)
      return client.request<KubeObject>({ method: "GET", path, what: `read ${path}` }).pipe(
        Effect.catchTag("KubeNotFound", () => Effect.succeed(null))
      )
    }
    return Executor.of({ execute, read })
  })

  static readonly layer = Layer.effect(Executor, Executor.make)
}
