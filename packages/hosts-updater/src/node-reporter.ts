// Reporting a node's hosts state to the cluster: annotations on its Node object and Events about it.
import { KubeClient, type KubeError } from "@tcr-assistant/kube"
import { Context, Effect, Layer } from "effect"
import { nodeAnnotationsPatch, type AppliedRecord } from "./applied-state.ts"

export interface NodeReporterOptions {
  readonly nodeName: string
  /**
   * Where Events are created. Events about a cluster-scoped object such as a Node must live in `default` (the
   * apiserver rejects other namespaces), which is where the kubelet puts its own; `kubectl describe node` shows them.
   */
  readonly eventNamespace?: string | undefined
}

export const reportingComponent = "tcr-assistant-hosts-updater"

/**
 * Reporting never fails the caller: the apiserver may be away while the file is being kept. Annotations are
 * desired state, remembered and written by `sync` until it succeeds; Events are sent once and dropped on failure.
 */
export class NodeReporter extends Context.Service<NodeReporter, {
  /** The file now reflects `record`; clears a reported error. */
  readonly applied: (record: AppliedRecord) => Effect.Effect<void>
  /** The current config could not be applied; a Warning Event and the error annotation say why. */
  readonly failed: (reason: string, message: string) => Effect.Effect<void>
  /** A Warning Event only, for things a person should see but that do not stop the agent. */
  readonly warn: (reason: string, message: string) => Effect.Effect<void>
  /** Writes the annotations if the last attempt did not; true when the Node says what it should. */
  readonly sync: Effect.Effect<boolean>
}>()("@tcr-assistant/hosts-updater/NodeReporter") {
  static readonly layer = (options: NodeReporterOptions) =>
    Layer.effect(NodeReporter, makeNodeReporter(options))
}

interface NodeObject {
  readonly metadata: { readonly uid?: string; readonly annotations?: Readonly<Record<string, string>> }
}

interface SentEvent {
  readonly name: string
  readonly reason: string
  readonly message: string
  readonly count: number
}

const makeNodeReporter = Effect.fn("NodeReporter.make")(function*(options: NodeReporterOptions) {
  const client = yield* KubeClient
  const nodePath = `/api/v1/nodes/${encodeURIComponent(options.nodeName)}`
  const eventNamespace = options.eventNamespace ?? "default"
  let applied: AppliedRecord | undefined
  let error: string | undefined
  let inSync = false
  let nodeUid: string | undefined
  let lastEvent: SentEvent | undefined

  const logKubeError = (what: string) => (cause: KubeError) =>
    Effect.logWarning(`could not ${what}`).pipe(
      Effect.annotateLogs({ kind: "Node", name: options.nodeName, error: cause._tag, reason: cause.message })
    )

  const writeAnnotations = Effect.gen(function*() {
    const node = yield* client.request<NodeObject>({ method: "GET", path: nodePath, what: `get Node ${options.nodeName}` })
    nodeUid = node.metadata.uid
    const patch = nodeAnnotationsPatch(node.metadata.annotations, applied, error)
    if (patch !== undefined) {
      yield* client.request({
        method: "PATCH",
        path: nodePath,
        contentType: "application/merge-patch+json",
        body: { metadata: { annotations: patch } },
        what: `annotate Node ${options.nodeName}`
      })
    }
  })

  const sync: Effect.Effect<boolean> = Effect.suspend(() =>
    inSync ? Effect.succeed(true) : writeAnnotations.pipe(
      Effect.as(true),
      Effect.tap(() => Effect.sync(() => (inSync = true))),
      Effect.catch((cause) => logKubeError("record the hosts state on the Node")(cause).pipe(Effect.as(false)))
    )
  )

  const event = (reason: string, message: string) =>
    Effect.gen(function*() {
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z")
      const eventsPath = `/api/v1/namespaces/${eventNamespace}/events`
      const previous = lastEvent
      if (previous !== undefined && previous.reason === reason && previous.message === message) {
        // The same failure again: count it on the existing Event instead of creating one per attempt.
        lastEvent = { ...previous, count: previous.count + 1 }
        return yield* client.request({
          method: "PATCH",
          path: `${eventsPath}/${previous.name}`,
          contentType: "application/merge-patch+json",
          body: { count: previous.count + 1, lastTimestamp: now },
          what: `update Event ${eventNamespace}/${previous.name}`
        }).pipe(Effect.asVoid)
      }
      const name = `${options.nodeName}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`
      yield* client.request({
        method: "POST",
        path: eventsPath,
        body: {
          metadata: { name, namespace: eventNamespace },
          involvedObject: { apiVersion: "v1", kind: "Node", name: options.nodeName, ...(nodeUid ? { uid: nodeUid } : {}) },
          reason,
          message,
          type: "Warning",
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: reportingComponent, host: options.nodeName },
          reportingComponent,
          reportingInstance: options.nodeName
        },
        what: `create Event ${eventNamespace}/${name}`
      })
      lastEvent = { name, reason, message, count: 1 }
    }).pipe(Effect.catch(logKubeError(`create an Event (${reason})`)))

  return NodeReporter.of({
    applied: Effect.fn("NodeReporter.applied")(function*(record: AppliedRecord) {
      const same = applied?.configHash === record.configHash && applied.entries === record.entries && error === undefined
      if (!same) {
        // Keep the time the file first held this config, not the time of a later confirmation.
        applied = applied?.configHash === record.configHash ? { ...record, at: applied.at } : record
        error = undefined
        inSync = false
        lastEvent = undefined
      }
      yield* sync
    }),
    failed: Effect.fn("NodeReporter.failed")(function*(reason: string, message: string) {
      if (error !== message) {
        error = message
        inSync = false
      }
      yield* event(reason, message)
      yield* sync
    }),
    warn: Effect.fn("NodeReporter.warn")(function*(reason: string, message: string) {
      yield* event(reason, message)
    }),
    sync
  })
})
