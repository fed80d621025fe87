// Owns Kubernetes Events (core/v1) about our objects, recorded the way client-go's recorder does it so that a
// failing target cannot storm the apiserver: a repeat of the same event only bumps its count and lastTimestamp,
// many distinct messages with the same reason are combined into one event, and each object has a token bucket
// (a burst, then one event per few minutes). Recording never blocks the caller; what cannot be sent is dropped
// and counted.
import { Clock, Context, Effect, Layer, Queue } from "effect"
import { hostname } from "node:os"
import { KubeClient } from "./kube-client.ts"
import type { KubeError } from "./kube-error.ts"

export interface InvolvedObject {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  /** Absent for cluster-scoped objects: their events go to the `default` namespace. */
  readonly namespace?: string | undefined
  readonly uid?: string | undefined
}

export interface EventInput {
  readonly involvedObject: InvolvedObject
  readonly type: "Normal" | "Warning"
  /** CamelCase, machine-readable, e.g. `SecretCreateFailed`. */
  readonly reason: string
  /** Human-readable; callers must never put credentials here. */
  readonly message: string
}

export interface EventRecorderOptions {
  /** `source.component` and `reportingComponent`, e.g. `tcr-assistant-controller`. */
  readonly component: string
  /** `source.host` and `reportingInstance`; default the host name (the pod name in a cluster). */
  readonly instance?: string | undefined
  /** Events an object may get at once before it is rate limited; default 25 (client-go). */
  readonly burst?: number | undefined
  /** One more event allowed per object every so often; default 5 minutes (client-go). */
  readonly refillMillis?: number | undefined
  /** Distinct messages per object, type and reason before they are combined into one event; default 10. */
  readonly maxSimilar?: number | undefined
  /** Window in which similar messages are counted; default 10 minutes. */
  readonly similarWindowMillis?: number | undefined
  /** Events waiting to be sent; more are dropped. Default 1000. */
  readonly queueCapacity?: number | undefined
}

export interface EventRecorderStats {
  /** Events created. */
  readonly created: number
  /** Repeats folded into an existing event (count bumped). */
  readonly aggregated: number
  /** Dropped by the rate limit or a full queue. */
  readonly dropped: number
  /** Sends the apiserver refused or could not take. */
  readonly failed: number
}

export const maxEventMessageLength = 1024
const maxCacheEntries = 4096
const combinedPrefix = "(combined from similar events): "

/** What the correlator decided for one event. */
export type EventAction =
  | { readonly _tag: "Drop" }
  | { readonly _tag: "Create"; readonly key: string; readonly event: Record<string, unknown> }
  | {
    readonly _tag: "Patch"
    readonly key: string
    readonly namespace: string
    readonly name: string
    readonly patch: Record<string, unknown>
    /** Sent instead when the event to patch has gone (expired or deleted). */
    readonly event: Record<string, unknown>
  }

interface Sent {
  readonly namespace: string
  readonly name: string
  readonly firstTimestamp: string
  count: number
}

/** Kubernetes Time: RFC 3339 with second precision. */
const kubeTime = (millis: number) => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

const remember = <K, V>(map: Map<K, V>, key: K, value: V) => {
  map.delete(key)
  map.set(key, value)
  if (map.size > maxCacheEntries) map.delete(map.keys().next().value as K)
}

const truncate = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 3)}...`)

/**
 * The pure half of the recorder: rate limiting, similar-message combining and repeat detection, decided from the
 * event and the time; `sent` tells it which event name a Create or Patch ended up as.
 */
export const makeEventCorrelator = (options: EventRecorderOptions & { readonly instance: string }) => {
  const burst = options.burst ?? 25
  const refillMillis = options.refillMillis ?? 5 * 60_000
  const maxSimilar = options.maxSimilar ?? 10
  const similarWindowMillis = options.similarWindowMillis ?? 10 * 60_000
  const buckets = new Map<string, { tokens: number; at: number }>()
  const similar = new Map<string, { messages: Set<string>; since: number }>()
  const sentEvents = new Map<string, Sent>()
  let sequence = 0

  const objectKey = (object: InvolvedObject) =>
    [object.apiVersion, object.kind, object.namespace ?? "", object.name, object.uid ?? ""].join("\u0000")

  const takeToken = (key: string, now: number): boolean => {
    const bucket = buckets.get(key) ?? { tokens: burst, at: now }
    const tokens = Math.min(burst, bucket.tokens + (now - bucket.at) / refillMillis)
    if (tokens < 1) {
      remember(buckets, key, { tokens, at: now })
      return false
    }
    remember(buckets, key, { tokens: tokens - 1, at: now })
    return true
  }

  const eventName = (object: InvolvedObject, now: number) => {
    // client-go names events <object>.<unix nanoseconds in hex>; the counter keeps names unique within a millisecond.
    const suffix = (BigInt(now) * 1_000_000n + BigInt(sequence++ % 1_000_000)).toString(16)
    return `${object.name.slice(0, 253 - suffix.length - 1)}.${suffix}`
  }

  const decide = (input: EventInput, now: number): EventAction => {
    const object = input.involvedObject
    const objectId = objectKey(object)
    if (!takeToken(objectId, now)) return { _tag: "Drop" }
    const similarKey = [objectId, input.type, input.reason].join("\u0000")
    let group = similar.get(similarKey)
    if (group === undefined || now - group.since > similarWindowMillis) group = { messages: new Set(), since: now }
    remember(similar, similarKey, group)
    let message = truncate(input.message, maxEventMessageLength)
    let key = `${similarKey}\u0000${message}`
    if (!group.messages.has(message)) {
      if (group.messages.size >= maxSimilar) {
        message = truncate(combinedPrefix + message, maxEventMessageLength)
        key = `${similarKey}\u0000(combined)`
      } else {
        group.messages.add(message)
      }
    }
    const namespace = object.namespace ?? "default"
    const timestamp = kubeTime(now)
    const fresh = (): Record<string, unknown> => ({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: eventName(object, now), namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.name,
        ...(object.namespace !== undefined ? { namespace: object.namespace } : {}),
        ...(object.uid !== undefined ? { uid: object.uid } : {})
      },
      type: input.type,
      reason: input.reason,
      message,
      source: { component: options.component, host: options.instance },
      reportingComponent: options.component,
      reportingInstance: options.instance,
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      count: 1
    })
    const previous = sentEvents.get(key)
    if (previous === undefined) return { _tag: "Create", key, event: fresh() }
    return {
      _tag: "Patch",
      key,
      namespace: previous.namespace,
      name: previous.name,
      patch: { count: previous.count + 1, lastTimestamp: timestamp, message },
      event: fresh()
    }
  }

  /** The event now stored under `key` after a create or patch. */
  const sent = (key: string, event: { metadata: { name: string; namespace?: string }; count?: number; firstTimestamp?: string }) =>
    remember(sentEvents, key, {
      namespace: event.metadata.namespace ?? "default",
      name: event.metadata.name,
      firstTimestamp: event.firstTimestamp ?? "",
      count: event.count ?? 1
    })

  return { decide, sent }
}

export interface EventRecorderService {
  /** Queue an event; never blocks and never fails. */
  readonly emit: (input: EventInput) => void
  readonly stats: () => EventRecorderStats
}

export class EventRecorder extends Context.Service<EventRecorder, EventRecorderService>()(
  "@tcr-assistant/kube/EventRecorder"
) {
  static readonly layer = (options: EventRecorderOptions) => Layer.effect(EventRecorder, makeEventRecorder(options))

  /** Keeps events in memory, for tests of code that records them. */
  static readonly layerMemory = (events: Array<EventInput>) =>
    Layer.succeed(
      EventRecorder,
      EventRecorder.of({
        emit: (input) => void events.push(input),
        stats: () => ({ created: events.length, aggregated: 0, dropped: 0, failed: 0 })
      })
    )
}

/** Start the recorder in the current scope: a fiber sends queued events until the scope closes. */
export const makeEventRecorder = Effect.fn("EventRecorder.make")(function*(options: EventRecorderOptions) {
  const client = yield* KubeClient
  const correlator = makeEventCorrelator({ ...options, instance: options.instance ?? hostname() })
  const queue = yield* Queue.dropping<EventInput>(options.queueCapacity ?? 1000)
  const counts = { created: 0, aggregated: 0, dropped: 0, failed: 0 }

  const create = (key: string, event: Record<string, unknown>) => {
    const metadata = event.metadata as { name: string; namespace: string }
    return client
      .request<{ metadata: { name: string; namespace?: string }; count?: number; firstTimestamp?: string }>({
        method: "POST",
        path: `/api/v1/namespaces/${metadata.namespace}/events`,
        body: event,
        what: `create Event ${metadata.namespace}/${metadata.name}`
      })
      .pipe(
        Effect.tap((created) => Effect.sync(() => {
          counts.created++
          correlator.sent(key, created)
        })),
        Effect.tap((created) =>
          Effect.logDebug("recorded an event").pipe(
            Effect.annotateLogs({ kind: "Event", namespace: metadata.namespace, name: created.metadata.name, count: created.count ?? 1 })
          )
        )
      )
  }

  const send = (input: EventInput): Effect.Effect<void, KubeError> => Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const action = correlator.decide(input, now)
    switch (action._tag) {
      case "Drop":
        return Effect.sync(() => {
          counts.dropped++
        })
      case "Create":
        return create(action.key, action.event).pipe(Effect.asVoid)
      case "Patch":
        return client
          .request<{ metadata: { name: string; namespace?: string }; count?: number }>({
            method: "PATCH",
            path: `/api/v1/namespaces/${action.namespace}/events/${action.name}`,
            contentType: "application/merge-patch+json",
            body: action.patch,
            what: `update Event ${action.namespace}/${action.name}`
          })
          .pipe(
            Effect.tap((patched) => Effect.sync(() => {
              counts.aggregated++
              correlator.sent(action.key, patched)
            })),
            Effect.asVoid,
            // Events expire (one hour by default): start a new one.
            Effect.catchTag("KubeNotFound", () => create(action.key, action.event).pipe(Effect.asVoid))
          )
    }
  })


  yield* Effect.forkScoped(
    Effect.forever(
      Queue.take(queue).pipe(
        Effect.flatMap((input) =>
          send(input).pipe(
            Effect.catch((error: KubeError) =>
              Effect.sync(() => {
                counts.failed++
              }).pipe(
                Effect.andThen(
                  Effect.logWarning("could not record an event").pipe(
                    Effect.annotateLogs({
                      kind: input.involvedObject.kind,
                      name: input.involvedObject.name,
                      reason: input.reason,
                      error: error.message
                    })
                  )
                )
              )
            )
          )
        )
      )
    )
  )

  return EventRecorder.of({
    emit: (input) => {
      if (!Queue.offerUnsafe(queue, input)) counts.dropped++
    },
    stats: () => ({ ...counts })
  })
})
