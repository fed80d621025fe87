// Informers: a local cache of one kind of object kept current by list + watch, and a Stream of its changes.
// A watch is never trusted to stay alive: errors restart it with capped jittered backoff, 410 Gone relists, a
// periodic relist repairs anything a silent watch missed, and health tells readiness probes when a watch is stale.
import { Cause, Clock, Context, Duration, Effect, Latch, Queue, Random, Result, Stream } from "effect"
import { nextBackoff, watchBackoff } from "./backoff.ts"
import { KubeClient, type Query } from "./kube-client.ts"
import { kubeErrorFromStatus, type KubeError } from "./kube-error.ts"
import { type ObjectView, reportUndecodable } from "./object-view.ts"

export interface KubeObject {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly uid?: string
    readonly resourceVersion?: string
    readonly generation?: number
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
    readonly deletionTimestamp?: string
    readonly finalizers?: ReadonlyArray<string>
    readonly ownerReferences?: ReadonlyArray<{ readonly uid: string; readonly kind: string; readonly name: string }>
    readonly [key: string]: unknown
  }
  readonly [key: string]: unknown
}

export type InformerEvent<T> =
  | { readonly type: "Upsert"; readonly object: T; readonly previous: T | undefined }
  | { readonly type: "Delete"; readonly object: T }

export interface InformerHealth {
  readonly synced: boolean
  readonly watching: boolean
  /** Epoch milliseconds of the last list, watch event or bookmark. */
  readonly lastEventAt: number
  readonly restarts: number
  readonly relists: number
}

export interface Informer<T extends KubeObject> {
  readonly name: string
  /** What the cache keeps of an object as the server sends it: pass our own writes' answers through it too. */
  readonly project: (raw: KubeObject) => T
  readonly get: (key: string) => T | undefined
  readonly values: () => IterableIterator<T>
  readonly size: () => number
  /** The current cache as Upserts, then every change. Each subscriber gets its own copy of the events. */
  readonly events: Stream.Stream<InformerEvent<T>>
  readonly awaitSynced: Effect.Effect<void>
  readonly health: () => InformerHealth
}

export interface InformerOptions<T extends KubeObject, Raw extends KubeObject = T> {
  /** Short name for logs and metrics, e.g. "serviceaccounts". */
  readonly name: string
  /** Collection path, e.g. /api/v1/namespaces. */
  readonly path: string
  readonly labelSelector?: string | undefined
  /** e.g. metadata.name=x, to watch one object. */
  readonly fieldSelector?: string | undefined
  readonly pageSize?: number | undefined
  /** Relist this often even when the watch looks healthy. */
  readonly resyncEvery?: Duration.Input | undefined
  /**
   * What the cache keeps of each object the server sends (see `projection`): only what the controller reads, to keep
   * memory small at scale. It must accept its own output unchanged (a projected object projected again is the same),
   * since our writes' answers and the store's objects pass through it alike. Default: drop managedFields.
   */
  readonly transform?: ((object: Raw) => T) | undefined
  /**
   * The typed view the projection must decode to (see object-view.ts). An object that does not is reported and kept
   * out of the cache: a new one is not added, a changed one keeps its last version that decoded.
   */
  readonly view?: ObjectView<T> | undefined
}

/** The metadata fields an informer's projection may keep (managedFields never). */
export type MetadataField = Exclude<keyof KubeObject["metadata"] & string, "managedFields">

/** Copy only the named metadata fields that are present: an object's metadata as a projection keeps it. */
export const pickMetadata = <const K extends MetadataField>(
  metadata: KubeObject["metadata"],
  fields: ReadonlyArray<K>
): Pick<KubeObject["metadata"], "name" | K> => {
  const picked: Record<string, unknown> = { name: metadata.name }
  for (const field of fields) if (metadata[field] !== undefined) picked[field] = metadata[field]
  return picked as Pick<KubeObject["metadata"], "name" | K>
}

/**
 * A projection for an informer's cache: the named metadata fields, and whatever `keep` copies from the rest of
 * the object (nothing by default). Keys, deletions and resourceVersion comparisons need namespace and resourceVersion,
 * so those are always kept.
 */
export const projection = <T extends KubeObject, Raw extends KubeObject = KubeObject>(
  fields: ReadonlyArray<MetadataField>,
  keep: (object: Raw) => Omit<T, "metadata"> = () => ({}) as Omit<T, "metadata">
) => (object: Raw): T => ({
  ...keep(object),
  metadata: pickMetadata(object.metadata, ["namespace", "resourceVersion", ...fields])
}) as T

export const objectKey = (object: KubeObject): string =>
  object.metadata.namespace === undefined ? object.metadata.name : `${object.metadata.namespace}/${object.metadata.name}`

const dropManagedFields = <T extends KubeObject>(object: KubeObject): T => {
  if (object.metadata.managedFields === undefined) return object as T
  const { managedFields: _, ...metadata } = object.metadata
  return { ...object, metadata } as T
}

interface ListResponse<T> {
  readonly metadata: { readonly resourceVersion: string; readonly continue?: string }
  readonly items: ReadonlyArray<T>
}

/**
 * How often informers that set no `resyncEvery` relist: 5 minutes, as client-go's default resync. A program sets it
 * once for all its informers (tests shorten it to see relists happen).
 */
export const InformerResync = Context.Reference<Duration.Input>("@tcr-assistant/kube/InformerResync", {
  defaultValue: () => "5 minutes"
})

/**
 * Start an informer in the current scope: the list/watch loop runs in a fiber that ends with the scope.
 */
export const makeInformer = Effect.fn("Informer.make")(function*<T extends KubeObject, Raw extends KubeObject = T>(
  options: InformerOptions<T, Raw>
) {
  const client = yield* KubeClient
  const transform = (options.transform ?? dropManagedFields) as (object: KubeObject) => T
  const decode = options.view?.decode ?? ((object: T) => Result.succeed(object))
  const cache = new Map<string, T>()
  const subscribers = new Set<Queue.Queue<InformerEvent<T>, Cause.Done>>()
  let synced = false
  let watching = false
  let lastEventAt = yield* Clock.currentTimeMillis
  let restarts = 0
  let relists = 0
  let resourceVersion = ""
  // Failed attempts since the watch last worked: the backoff between them grows; a clean resync or any event resets it.
  let backoffAttempt = 0
  const syncedLatch = yield* Latch.make(false)

  const publish = (event: InformerEvent<T>) => {
    for (const queue of subscribers) Queue.offerUnsafe(queue, event)
  }
  /** Cache and publish the object; what is wrong with it instead if it does not decode. */
  const upsert = (raw: KubeObject): string | undefined => {
    const decoded = decode(transform(raw))
    if (Result.isFailure(decoded)) return decoded.failure
    const object = decoded.success
    const key = objectKey(object)
    const previous = cache.get(key)
    cache.set(key, object)
    if (previous?.metadata.resourceVersion !== object.metadata.resourceVersion) {
      publish({ type: "Upsert", object, previous })
    }
    return undefined
  }
  const report = (raw: KubeObject, problem: string | undefined) =>
    problem === undefined ? Effect.void : reportUndecodable(options.name, options.view?.kind ?? options.name, raw, problem)
  const remove = (raw: KubeObject) => {
    const key = objectKey(raw)
    const previous = cache.get(key)
    cache.delete(key)
    // An object never cached (it did not decode) was never published either.
    const object = previous ?? Result.getOrUndefined(decode(transform(raw)))
    if (object !== undefined) publish({ type: "Delete", object })
  }

  const baseQuery: Query = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector }

  const relist: Effect.Effect<void, KubeError> = Effect.gen(function*() {
    const seen = new Set<string>()
    let continueToken: string | undefined = undefined
    let listVersion = ""
    do {
      const page: ListResponse<KubeObject> = yield* client.request<ListResponse<KubeObject>>({
        method: "GET",
        path: options.path,
        query: { ...baseQuery, limit: options.pageSize ?? 500, continue: continueToken },
        what: `list ${options.name}`
      })
      for (const item of page.items) {
        seen.add(objectKey(item))
        const problem = upsert(item)
        if (problem !== undefined) yield* report(item, problem)
      }
      continueToken = page.metadata.continue || undefined
      listVersion = page.metadata.resourceVersion
    } while (continueToken !== undefined)
    for (const [key, object] of [...cache]) if (!seen.has(key)) remove(object)
    resourceVersion = listVersion
    relists++
    lastEventAt = yield* Clock.currentTimeMillis
    if (!synced) {
      synced = true
      yield* syncedLatch.open
    }
  })

  // One watch connection: apply events until the server closes it (normal after timeoutSeconds).
  const watchOnce = Effect.gen(function*() {
    watching = true
    // Spread reconnects of many informers over time.
    const timeoutSeconds = yield* Random.nextIntBetween(240, 360, { halfOpen: true })
    yield* client
      .watch(options.path, { ...baseQuery, resourceVersion, allowWatchBookmarks: true, timeoutSeconds })
      .pipe(
        Stream.runForEach((event) =>
          Effect.gen(function*() {
            lastEventAt = yield* Clock.currentTimeMillis
            // The watch works again: the next failure starts the backoff from the bottom.
            backoffAttempt = 0
            switch (event.type) {
              case "ADDED":
              case "MODIFIED":
                yield* report(event.object, upsert(event.object as KubeObject))
                break
              case "DELETED":
                remove(event.object as KubeObject)
                break
              case "BOOKMARK":
                break
              case "ERROR": {
                const status = event.object as { code?: number; message?: string }
                return yield* Effect.fail(
                  kubeErrorFromStatus(status.code ?? 500, status, `watch ${options.name}`)
                )
              }
            }
            const version = (event.object as KubeObject | undefined)?.metadata?.resourceVersion
            if (version !== undefined) resourceVersion = version
          })
        )
      )
  }).pipe(Effect.ensuring(Effect.sync(() => { watching = false })))

  // Watch until an error; a 410 means our resourceVersion is gone and only a relist helps.
  const watchUntilError: Effect.Effect<never, KubeError> = watchOnce.pipe(Effect.forever)

  const resyncEvery = Duration.fromInputUnsafe(options.resyncEvery ?? (yield* InformerResync))

  const loop = Effect.gen(function*() {
    let needRelist = true
    while (true) {
      const attempt: Effect.Effect<void, KubeError> = Effect.gen(function*() {
        if (needRelist) yield* relist
        needRelist = false
        yield* watchUntilError
      }).pipe(
        Effect.timeoutOption(resyncEvery),
        Effect.map(() => {
          needRelist = true
        })
      )
      const outcome = yield* Effect.result(attempt)
      if (outcome._tag === "Failure") {
        const error = outcome.failure
        restarts++
        needRelist = error._tag === "KubeGone" || needRelist
        yield* Effect.logWarning("watch restarting").pipe(
          Effect.annotateLogs({ informer: options.name, error: error._tag, reason: error.message })
        )
        if (error._tag !== "KubeGone") yield* Effect.sleep(yield* nextBackoff(watchBackoff, ++backoffAttempt))
      } else {
        backoffAttempt = 0
      }
    }
  })

  yield* Effect.forkScoped(loop)

  const events: Stream.Stream<InformerEvent<T>> = Stream.callback<InformerEvent<T>>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        for (const object of cache.values()) Queue.offerUnsafe(queue, { type: "Upsert", object, previous: undefined })
        subscribers.add(queue)
      }),
      () => Effect.sync(() => subscribers.delete(queue))
    )
  )

  const informer: Informer<T> = {
    name: options.name,
    project: transform,
    get: (key) => cache.get(key),
    values: () => cache.values(),
    size: () => cache.size,
    events,
    awaitSynced: syncedLatch.await,
    health: () => ({ synced, watching, lastEventAt, restarts, relists })
  }
  return informer
})
