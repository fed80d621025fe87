// The agent's loop: follow the updater-config ConfigMap and keep the node's hosts file's managed block equal to it.
import { makeInformer, type KubeObject } from "@tcr-assistant/kube"
import { Duration, Effect, Layer, Queue, Result, Stream } from "effect"
import { hostsConfigHash } from "./applied-state.ts"
import { mergeManagedBlock } from "./hosts-block.ts"
import { hostsConfigFromData, type HostsConfig } from "./hosts-config.ts"
import { HostsFile } from "./hosts-file.ts"
import { NodeReporter } from "./node-reporter.ts"
import { UpdaterStatus, type ApplyOutcome, type UpdaterSnapshot } from "./updater-status.ts"

export interface HostsAgentOptions {
  readonly hostsFile: string
  readonly nodeName: string
  readonly namespace: string
  readonly configMapName: string
  /**
   * How often the file is checked against the config even when nothing changed, which repairs hand edits of the
   * block and retries reporting to the Node.
   */
  readonly resyncEvery: Duration.Input
}

interface ConfigMap extends KubeObject {
  readonly data?: Readonly<Record<string, string>>
}

/** Capped (30 s), jittered exponential delay before retrying a failed write. */
const retryDelay = (failures: number): Duration.Duration => {
  const base = Math.min(30_000, 500 * 2 ** Math.min(failures - 1, 10))
  return Duration.millis(base / 2 + Math.random() * (base / 2))
}

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const makeHostsAgent = Effect.fn("HostsAgent.make")(function*(options: HostsAgentOptions) {
  const hostsFile = yield* HostsFile
  const reporter = yield* NodeReporter
  const key = `${options.namespace}/${options.configMapName}`
  const informer = yield* makeInformer<ConfigMap>({
    name: "configmaps",
    path: `/api/v1/namespaces/${options.namespace}/configmaps`,
    // Only one ConfigMap of the namespace matters; the others are cached by name alone.
    transform: (object) => ({
      metadata: {
        name: object.metadata.name,
        namespace: object.metadata.namespace,
        resourceVersion: object.metadata.resourceVersion
      },
      ...(object.metadata.name === options.configMapName && object.data !== undefined ? { data: object.data } : {})
    })
  })

  const applies: Record<ApplyOutcome, number> = { written: 0, unchanged: 0, invalid: 0, failed: 0 }
  let configValid: boolean | undefined
  let appliedHash: string | undefined
  let appliedEntries = 0
  let lastAttemptAt: number | undefined
  let lastSuccessAt: number | undefined
  let fileFailures = 0
  let handListed: ReadonlyArray<string> = []
  let reportedInvalid: string | undefined
  let reportedFileError: string | undefined

  const wake = yield* Queue.sliding<void>(1)
  const annotate = Effect.annotateLogs({ node: options.nodeName, file: options.hostsFile, configMap: key })

  const removed = yield* hostsFile.removeStaleTempFiles(options.hostsFile).pipe(
    Effect.catch((error) => Effect.logWarning("could not remove stale temporary files", error.message).pipe(Effect.as(0)))
  )
  if (removed > 0) yield* Effect.logInfo("removed temporary files left by an interrupted write", removed).pipe(annotate)

  const reportInvalid = Effect.fn("HostsAgent.reportInvalid")(function*(message: string) {
    applies.invalid++
    configValid = false
    if (reportedInvalid === message) return yield* reporter.sync
    reportedInvalid = message
    yield* Effect.logError("rejected the hosts config; the file keeps the last good one").pipe(
      Effect.annotateLogs({ reason: message })
    )
    yield* reporter.failed("HostsConfigInvalid", message)
  })

  /** Reads, merges and writes; a file error fails it, everything else is reported along the way. */
  const writeConfig = Effect.fn("HostsAgent.writeConfig")(function*(config: HostsConfig) {
    const current = yield* hostsFile.read(options.hostsFile)
    const merged = mergeManagedBlock(current, config)
    const outcome = merged.changed ? yield* hostsFile.write(options.hostsFile, merged.content) : "unchanged"
    for (const repair of merged.repairs) {
      yield* Effect.logWarning("repaired the managed block", repair)
      yield* reporter.warn("HostsBlockRepaired", `${options.hostsFile}: ${repair}`)
    }
    const messages = merged.warnings.map((warning) => warning.message)
    if (messages.join("\n") !== handListed.join("\n")) {
      handListed = messages
      if (messages.length > 0) {
        yield* Effect.logWarning("managed names are also listed by hand", messages.join("; "))
        yield* reporter.warn("HostsNameListedByHand", `${options.hostsFile}: ${messages.join("; ")}`)
      }
    }
    return outcome
  })

  const applyCurrent = Effect.fn("HostsAgent.apply")(function*() {
    lastAttemptAt = Date.now()
    const parsed = hostsConfigFromData(informer.get(key)?.data)
    if (Result.isFailure(parsed)) return yield* reportInvalid(parsed.failure.message)
    configValid = true
    reportedInvalid = undefined
    const config = parsed.success
    const hash = hostsConfigHash(config)
    const written = yield* Effect.result(writeConfig(config))
    if (Result.isFailure(written)) {
      applies.failed++
      fileFailures++
      const message = describeError(written.failure)
      if (reportedFileError !== message) {
        reportedFileError = message
        yield* Effect.logError("could not write the hosts file; will retry").pipe(Effect.annotateLogs({ reason: message }))
      }
      yield* reporter.failed("HostsFileWriteFailed", message)
      // Retry on its own schedule; any change in between wakes the loop earlier.
      yield* Queue.offer(wake, undefined).pipe(Effect.delay(retryDelay(fileFailures)), Effect.forkScoped)
      return
    }
    const outcome = written.success
    applies[outcome === "unchanged" ? "unchanged" : "written"]++
    fileFailures = 0
    reportedFileError = undefined
    if (outcome !== "unchanged" || appliedHash !== hash) {
      yield* Effect.logInfo(config.entries.length === 0 ? "hosts file has no managed block" : "hosts file is up to date").pipe(
        Effect.annotateLogs({ outcome, hash, entries: config.entries.length })
      )
    }
    appliedHash = hash
    appliedEntries = config.entries.length
    lastSuccessAt = Date.now()
    yield* reporter.applied({ configHash: hash, entries: config.entries.length, at: new Date() })
  })

  yield* informer.events.pipe(
    Stream.filter((event) => event.object.metadata.name === options.configMapName),
    Stream.runForEach(() => Queue.offer(wake, undefined)),
    Effect.forkScoped
  )
  yield* Queue.offer(wake, undefined).pipe(
    Effect.delay(options.resyncEvery),
    Effect.forever,
    Effect.forkScoped
  )
  yield* Effect.gen(function*() {
    // Until the first list, an absent ConfigMap means "not known yet", not "deleted": leave the file alone.
    yield* informer.awaitSynced
    yield* Effect.logInfo("following the ConfigMap")
    // Apply once as soon as the cache is known, also when the ConfigMap does not exist (no event would say so).
    yield* Queue.offer(wake, undefined)
    while (true) {
      yield* Queue.take(wake)
      yield* applyCurrent()
    }
  }).pipe(annotate, Effect.forkScoped)

  return UpdaterStatus.of({
    snapshot: (): UpdaterSnapshot => {
      const health = informer.health()
      return {
        nodeName: options.nodeName,
        hostsFile: options.hostsFile,
        synced: health.synced,
        watching: health.watching,
        lastWatchEventAt: health.lastEventAt,
        watchRestarts: health.restarts,
        configValid,
        appliedHash,
        appliedEntries,
        lastAttemptAt,
        lastSuccessAt,
        fileFailing: fileFailures > 0,
        handListedNames: handListed.length,
        applies: { ...applies }
      }
    }
  })
})

/** Runs the agent in the layer's scope and provides its status to the health server. */
export const HostsAgentLive = (options: HostsAgentOptions) => Layer.effect(UpdaterStatus, makeHostsAgent(options))
