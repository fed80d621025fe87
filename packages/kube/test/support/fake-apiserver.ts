// An in-memory stand-in for the apiserver's object store, for unit tests that need exact control over time and
// failures: GET, POST (409 when present), PUT (409 on a stale resourceVersion), merge PATCH and DELETE, with
// per-client switches to make requests fail. A collection lists and watches the objects one level under its path
// (a `metadata.name=` field selector honoured); objects set in `objects` directly are listed but not watched.
// End-to-end tests use the real control plane instead.
import { type Cause, Effect, Layer, Queue, Stream } from "effect"
import { KubeClient, type KubeRequest, type Query, type WatchEvent } from "../../src/kube-client.ts"
import { KubeConflict, type KubeError, KubeNotFound, KubeRejected, KubeUnavailable } from "../../src/kube-error.ts"

export interface FakeApiServer {
  readonly objects: Map<string, any>
  /** Every request as `VERB path`, in order. */
  readonly log: Array<string>
  /** A KubeClient layer over this store; `down()` true makes its requests fail as if the apiserver were unreachable. */
  readonly layer: (options?: { readonly down?: () => boolean }) => Layer.Layer<KubeClient>
  readonly client: (options?: { readonly down?: () => boolean }) => KubeClient["Service"]
}

const mergePatch = (target: any, patch: any): any => {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch
  const out: any = typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key], value)
  }
  return out
}

export const makeFakeApiServer = (): FakeApiServer => {
  const objects = new Map<string, any>()
  const log: Array<string> = []
  let version = 1
  const copy = <A>(value: A): A => structuredClone(value)
  const watchers = new Set<{ readonly accepts: (path: string) => boolean; readonly queue: Queue.Queue<WatchEvent, Cause.Done> }>()

  /** Whether `path` is one object directly under the collection, and the field selector takes it. */
  const inCollection = (collection: string, query: Query | undefined) => (path: string) => {
    if (!path.startsWith(`${collection}/`) || path.slice(collection.length + 1).includes("/")) return false
    const name = /^metadata\.name=(.+)$/.exec(String(query?.fieldSelector ?? ""))?.[1]
    return name === undefined || path.endsWith(`/${name}`)
  }
  const notify = (type: WatchEvent["type"], path: string, object: any) => {
    for (const watcher of watchers) if (watcher.accepts(path)) Queue.offerUnsafe(watcher.queue, { type, object: copy(object) })
  }

  const handle = (request: KubeRequest): Effect.Effect<any, KubeError> =>
    Effect.suspend((): Effect.Effect<any, KubeError> => {
      log.push(`${request.method} ${request.path}`)
      const what = request.what ?? request.path
      const existing = objects.get(request.path)
      switch (request.method) {
        case "GET": {
          if (existing !== undefined) return Effect.succeed(copy(existing))
          if (request.query === undefined) return Effect.fail(new KubeNotFound({ message: `${what}: not found` }))
          const accepts = inCollection(request.path, request.query)
          const items = [...objects].filter(([path]) => accepts(path)).map(([, object]) => copy(object))
          return Effect.succeed({ metadata: { resourceVersion: String(version) }, items })
        }
        case "POST": {
          const body = copy(request.body as any)
          const path = `${request.path}/${body.metadata.name}`
          if (objects.has(path)) return Effect.fail(new KubeConflict({ reason: "AlreadyExists", message: `${what}: already exists` }))
          body.metadata = { ...body.metadata, resourceVersion: String(version++), uid: `uid-${version}` }
          objects.set(path, body)
          notify("ADDED", path, body)
          return Effect.succeed(copy(body))
        }
        case "PUT": {
          const body = copy(request.body as any)
          if (existing === undefined) return Effect.fail(new KubeNotFound({ message: `${what}: not found` }))
          if (body.metadata?.resourceVersion !== undefined && body.metadata.resourceVersion !== existing.metadata.resourceVersion) {
            return Effect.fail(new KubeConflict({ reason: "Conflict", message: `${what}: the object has been modified` }))
          }
          body.metadata = { ...body.metadata, resourceVersion: String(version++), uid: existing.metadata.uid }
          objects.set(request.path, body)
          notify("MODIFIED", request.path, body)
          return Effect.succeed(copy(body))
        }
        case "PATCH": {
          if (existing === undefined) return Effect.fail(new KubeNotFound({ message: `${what}: not found` }))
          if (request.contentType !== "application/merge-patch+json") {
            return Effect.fail(new KubeRejected({ status: 415, reason: "UnsupportedMediaType", message: what, causes: [] }))
          }
          const patched = mergePatch(existing, request.body)
          patched.metadata = { ...patched.metadata, resourceVersion: String(version++) }
          objects.set(request.path, patched)
          notify("MODIFIED", request.path, patched)
          return Effect.succeed(copy(patched))
        }
        case "DELETE":
          if (existing === undefined) return Effect.fail(new KubeNotFound({ message: `${what}: not found` }))
          objects.delete(request.path)
          notify("DELETED", request.path, existing)
          return Effect.succeed(copy(existing))
      }
    })

  const client = (options: { readonly down?: () => boolean } = {}) =>
    KubeClient.of({
      server: "https://fake.invalid",
      request: (request) =>
        options.down?.() === true
          ? Effect.fail(new KubeUnavailable({ message: `${request.what ?? request.path}: connection refused` }))
          : handle(request),
      // Events from the request on (the fake keeps no history to resume from); the stream never ends by itself.
      watch: (path, query) =>
        options.down?.() === true
          ? Stream.fail(new KubeUnavailable({ message: `watch ${path}: connection refused` }))
          : Stream.callback<WatchEvent>((queue) =>
            Effect.acquireRelease(
              Effect.sync(() => {
                const watcher = { accepts: inCollection(path, query), queue }
                watchers.add(watcher)
                return watcher
              }),
              (watcher) => Effect.sync(() => watchers.delete(watcher))
            )
          ),
      requestCounts: () => ({ total: log.length, byVerb: {} })
    })

  return { objects, log, client, layer: (options) => Layer.succeed(KubeClient, client(options)) }
}
