// An in-memory Kubernetes apiserver served through the KubeClient service, for fast model-based controller tests.
// It is deliberately small but faithful where the controller depends on it: one global resourceVersion, uid and
// creationTimestamp, list with label selectors and consistent pagination, watch from a resourceVersion with a bounded
// history (410 Gone), create/update/JSON patch/merge patch/delete with the apiserver's conflict, precondition and
// validation answers, finalizers, namespace termination, the `default` ServiceAccount, the ImagePullSecret CRD with
// its /status subresource and generation, and hooks to inject faults into requests and watches.
//
// Not simulated: strategic merge patch and server-side apply (415), set-based label selectors (400), garbage
// collection by ownerReferences, admission webhooks, the CRD's OpenAPI validation, RBAC.
import { randomUUID } from "node:crypto"
import { Cause, Effect, Layer, Queue, Stream } from "effect"
import {
  KubeClient,
  type KubeError,
  kubeErrorFromStatus,
  type KubeRequest,
  KubeUnavailable,
  type Query,
  type RequestCounts,
  type WatchEvent
} from "@tcr-assistant/kube"
import { applyJsonPatch, applyMergePatch, deepEqual, JsonPatchError, MalformedPatchError } from "./memory-cluster-patch.ts"

// --- public types --------------------------------------------------------------------------------------------------

/** When a simulated controller acts: within the triggering request, after a delay, or when the test says so. */
export type Timing = "immediate" | "manual" | { readonly delayMillis: number }

export interface MemoryClusterOptions {
  /** When the serviceaccount controller creates `default` in an active namespace that lacks it (default: immediate). */
  readonly serviceAccounts?: Timing | undefined
  /** When the namespace controller empties a deleted namespace and removes it (default: immediate). */
  readonly namespaceDeletion?: Timing | undefined
  /** Watch events kept; a watch or continued list from an older resourceVersion gets 410 Gone (default 10000). */
  readonly historyLimit?: number | undefined
  /** A watch ends after timeoutSeconds times this factor (default 1; 0 disables watch timeouts). */
  readonly watchTimeoutScale?: number | undefined
  /** The clock for creation and deletion timestamps. */
  readonly now?: (() => Date) | undefined
  /** Sees every client request (not `call`) with its answer, e.g. to trace what a controller did. */
  readonly observe?: ((request: RequestInfo, response: MemoryResponse) => void) | undefined
}

/** A request as the memory cluster received it, for fault predicates and gates. */
export interface RequestInfo {
  /** The name of the client that sent it: "controller" for `layer`, or the name given to `client(name)`. */
  readonly client: string
  readonly method: KubeRequest["method"]
  readonly path: string
  readonly query: Query
  readonly watch: boolean
  readonly body: unknown
  readonly contentType: string | undefined
}

export interface Fault {
  /** The HTTP status answered, e.g. 409, 429, 500. */
  readonly status: number
  /** How many matching requests fail (default 1). */
  readonly times?: number | undefined
  readonly match?: ((request: RequestInfo) => boolean) | undefined
  /** "before" (default): the request is refused. "after": it takes effect, then the client sees the error anyway. */
  readonly when?: "before" | "after" | undefined
  readonly reason?: string | undefined
  readonly message?: string | undefined
}

export interface FaultHandle {
  readonly remaining: () => number
  readonly cancel: () => void
}

export interface WatchInfo {
  readonly id: number
  readonly client: string
  readonly path: string
  readonly silent: boolean
  /** Events buffered and not yet taken by the client. */
  readonly pending: number
}

/** An HTTP answer of the memory apiserver: a status code and the parsed JSON body. */
export interface MemoryResponse {
  readonly status: number
  readonly body: any
}

export interface MemoryCluster {
  /** The KubeClient of the code under test; its requests are counted, gated and subject to faults as "controller". */
  readonly layer: Layer.Layer<KubeClient>
  /** Another KubeClient, e.g. a concurrent writer; faults and gates see its name. */
  readonly client: (name: string) => KubeClient["Service"]
  /** Serve one request at once, bypassing faults, gates and counts: how tests act as the cluster's users. */
  readonly call: (request: KubeRequest) => MemoryResponse
  /** The object at an object path, or undefined. */
  readonly get: <A = any>(path: string) => A | undefined
  /** Every object of a collection path, e.g. /api/v1/secrets or /api/v1/namespaces/a/serviceaccounts. */
  readonly list: <A = any>(path: string) => ReadonlyArray<A>
  /** The latest resourceVersion. */
  readonly resourceVersion: () => string

  /** Fail the next matching requests (watches included) with an apiserver Status. */
  readonly injectFault: (fault: Fault) => FaultHandle
  readonly clearFaults: () => void
  /** Hold every request until the returned promise resolves (e.g. a fast-check scheduler); undefined removes it. */
  readonly setGate: (gate: ((request: RequestInfo) => Promise<void>) | undefined) => void
  /** Close open watches: "end" as when the server closes the response, "error" as a broken connection. */
  readonly dropWatches: (options?: { readonly how?: "end" | "error"; readonly match?: (watch: WatchInfo) => boolean }) => number
  /** Open watches stop delivering events but stay open, as a half-dead connection does. */
  readonly silenceWatches: (match?: (watch: WatchInfo) => boolean) => number
  /** End open watches normally, as their timeoutSeconds would. */
  readonly expireWatches: (match?: (watch: WatchInfo) => boolean) => number
  /** Send a BOOKMARK with the latest resourceVersion on every open watch that allowed bookmarks. */
  readonly sendBookmarks: () => void
  /** Forget the whole event history: older resourceVersions get 410 Gone from now on. */
  readonly compact: () => void

  /** Create the `default` ServiceAccounts the serviceaccount controller owes (manual timing); returns how many. */
  readonly runServiceAccountController: () => number
  readonly pendingServiceAccounts: () => ReadonlyArray<string>
  /** Empty and remove deleted namespaces (manual timing), all or one; returns how many it worked on. */
  readonly runNamespaceController: (namespace?: string) => number
  readonly pendingNamespaceDeletions: () => ReadonlyArray<string>

  readonly watches: () => ReadonlyArray<WatchInfo>
  /** Events buffered in open, non-silent watches. */
  readonly pendingWatchEvents: () => number
  /** Nothing is scheduled by a simulated controller and every open, non-silent watch is drained. */
  readonly idle: () => boolean
  /** Write requests received from clients so far (POST, PUT, PATCH, DELETE), refused ones included. */
  readonly mutations: () => number
  readonly requestCounts: (client?: string) => RequestCounts
  /** Cancel timers and end every watch. */
  readonly dispose: () => void
}

// --- resources -----------------------------------------------------------------------------------------------------

interface ResourceType {
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
  readonly statusSubresource: boolean
  /** metadata.generation counts changes of everything but metadata and status (custom resources). */
  readonly generation: boolean
  /** DELETE answers with the object (custom resources) rather than a Status. */
  readonly deleteReturnsObject: boolean
  /** A custom resource: stored as unstructured JSON, which the apiserver writes with its keys sorted. */
  readonly custom: boolean
}

const resource = (
  group: string,
  plural: string,
  kind: string,
  options: { namespaced: boolean; statusSubresource?: boolean; generation?: boolean; deleteReturnsObject?: boolean; custom?: boolean }
): ResourceType => ({
  group,
  version: "v1",
  plural,
  kind,
  namespaced: options.namespaced,
  statusSubresource: options.statusSubresource ?? false,
  generation: options.generation ?? false,
  deleteReturnsObject: options.deleteReturnsObject ?? false,
  custom: options.custom ?? false
})

const namespaces = resource("", "namespaces", "Namespace", { namespaced: false, statusSubresource: true, deleteReturnsObject: true })
const serviceAccounts = resource("", "serviceaccounts", "ServiceAccount", { namespaced: true })
const secrets = resource("", "secrets", "Secret", { namespaced: true })
const resources: ReadonlyArray<ResourceType> = [
  namespaces,
  serviceAccounts,
  secrets,
  resource("", "configmaps", "ConfigMap", { namespaced: true }),
  resource("", "pods", "Pod", { namespaced: true }),
  resource("", "events", "Event", { namespaced: true }),
  resource("events.k8s.io", "events", "Event", { namespaced: true }),
  resource("coordination.k8s.io", "leases", "Lease", { namespaced: true }),
  resource("tcr.tencentcloudcr.com", "imagepullsecrets", "ImagePullSecret", {
    namespaced: false,
    statusSubresource: true,
    generation: true,
    deleteReturnsObject: true,
    custom: true
  })
]

const apiVersionOf = (type: ResourceType) => (type.group === "" ? type.version : `${type.group}/${type.version}`)
const qualified = (type: ResourceType) => (type.group === "" ? type.plural : `${type.plural}.${type.group}`)

interface Target {
  readonly type: ResourceType
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly subresource: string | undefined
}

const parsePath = (path: string): Target | undefined => {
  const parts = path.split("/").filter((part) => part !== "")
  let rest: Array<string>
  let group: string
  let version: string
  if (parts[0] === "api" && parts.length >= 2) {
    group = ""
    version = parts[1]!
    rest = parts.slice(2)
  } else if (parts[0] === "apis" && parts.length >= 3) {
    group = parts[1]!
    version = parts[2]!
    rest = parts.slice(3)
  } else return undefined
  const find = (plural: string | undefined) =>
    resources.find((type) => type.group === group && type.version === version && type.plural === plural)
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const type = find(rest[2])
    if (type === undefined || !type.namespaced || rest.length > 5) return undefined
    return { type, namespace: rest[1], name: rest[3], subresource: rest[4] }
  }
  const type = find(rest[0])
  if (type === undefined || rest.length > 3) return undefined
  if (type.namespaced && rest.length > 1) return undefined
  return { type, namespace: undefined, name: rest[1], subresource: rest[2] }
}

// --- objects ---------------------------------------------------------------------------------------------------------

type Metadata = Record<string, any> & { name: string; namespace?: string; resourceVersion?: string }
type KubeObjectJson = Record<string, any> & { metadata: Metadata }

const isObject = (value: unknown): value is Record<string, any> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** As it would travel over the wire: no undefined, no shared references. */
const wire = <A>(value: A): A => (value === undefined ? value : JSON.parse(JSON.stringify(value)))

/** Go's encoding of a map: keys in sorted order, at every level. */
const sortKeys = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(sortKeys)
    : isObject(value)
    ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys(value[key])]))
    : value

const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z")

const keyOf = (namespace: string | undefined, name: string) => (namespace === undefined ? name : `${namespace}/${name}`)

/** Go's omitempty: empty lists and maps are not stored. */
const dropEmpty = (object: Record<string, any>, fields: ReadonlyArray<string>) => {
  for (const field of fields) {
    const value = object[field]
    if (value === null || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0)) {
      delete object[field]
    }
  }
}

const normalize = (type: ResourceType, object: KubeObjectJson) => {
  dropEmpty(object.metadata, ["labels", "annotations", "finalizers", "ownerReferences"])
  if (type === serviceAccounts) dropEmpty(object, ["imagePullSecrets", "secrets"])
  if (type === secrets) {
    if (isObject(object.stringData)) {
      const data: Record<string, string> = { ...(isObject(object.data) ? object.data : {}) }
      for (const [key, value] of Object.entries(object.stringData)) data[key] = Buffer.from(String(value), "utf8").toString("base64")
      object.data = data
    }
    delete object.stringData
    if (typeof object.type !== "string" || object.type === "") object.type = "Opaque"
    dropEmpty(object, ["data"])
  }
}

// --- selectors ---------------------------------------------------------------------------------------------------------

interface Requirement {
  readonly key: string
  readonly op: "=" | "!=" | "exists" | "!exists"
  readonly value: string
}

class SelectorError extends Error {}

/** Equality-based selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated. */
const parseSelector = (text: string | undefined): ReadonlyArray<Requirement> => {
  if (text === undefined || text.trim() === "") return []
  if (/[()]/.test(text)) throw new SelectorError(`set-based selectors are not supported by the memory cluster: ${text}`)
  return text.split(",").map((raw): Requirement => {
    const term = raw.trim()
    const match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)
    if (match !== null) return { key: match[1]!, op: match[2] === "!=" ? "!=" : "=", value: match[3]! }
    if (/^![^=!\s]+$/.test(term)) return { key: term.slice(1), op: "!exists", value: "" }
    if (/^[^=!\s]+$/.test(term)) return { key: term, op: "exists", value: "" }
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`)
  })
}

const matchesAll = (requirements: ReadonlyArray<Requirement>, values: Readonly<Record<string, string | undefined>>) =>
  requirements.every((requirement) => {
    const value = values[requirement.key]
    switch (requirement.op) {
      case "=":
        return value === requirement.value
      case "!=":
        return value !== requirement.value
      case "exists":
        return value !== undefined
      case "!exists":
        return value === undefined
    }
  })

const supportedFields = new Set(["metadata.name", "metadata.namespace"])

interface Filter {
  readonly type: ResourceType
  readonly namespace: string | undefined
  readonly labels: ReadonlyArray<Requirement>
  readonly fields: ReadonlyArray<Requirement>
}

const filterMatches = (filter: Filter, object: KubeObjectJson) =>
  (filter.namespace === undefined || object.metadata.namespace === filter.namespace) &&
  matchesAll(filter.labels, object.metadata.labels ?? {}) &&
  matchesAll(filter.fields, { "metadata.name": object.metadata.name, "metadata.namespace": object.metadata.namespace })

// --- answers -------------------------------------------------------------------------------------------------------------

const failure = (code: number, reason: string, message: string, details?: Record<string, unknown>): MemoryResponse => ({
  status: code,
  body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code }
})

const detailsOf = (type: ResourceType, name: string, extra: Record<string, unknown> = {}) => ({
  name,
  ...(type.group !== "" ? { group: type.group } : {}),
  kind: type.plural,
  ...extra
})

const notFound = (type: ResourceType, name: string) =>
  failure(404, "NotFound", `${qualified(type)} "${name}" not found`, detailsOf(type, name))

const noSuchPath = () => failure(404, "NotFound", "the server could not find the requested resource")

const badRequest = (message: string) => failure(400, "BadRequest", message)

const methodNotAllowed = () => failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

const conflict = (type: ResourceType, name: string, cause: string) =>
  failure(409, "Conflict", `Operation cannot be fulfilled on ${qualified(type)} "${name}": ${cause}`, detailsOf(type, name))

const modifiedConflict = (type: ResourceType, name: string) =>
  conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again")

const invalid = (type: ResourceType, name: string, field: string, value: string, detail: string, causeReason = "FieldValueInvalid") =>
  failure(422, "Invalid", `${type.kind} "${name}" is invalid: ${field}: ${detail.startsWith("Forbidden") ? "" : `Invalid value: ${JSON.stringify(value)}: `}${detail}`, detailsOf(type, name, {
    causes: [{ reason: causeReason, message: detail, field }]
  }))

/** What the apiserver answers when a JSON patch does not apply (a failed test included): no detail at all. */
const patchDoesNotApply = () => failure(422, "Invalid", "the server rejected our request due to an error in our request")

const ok = (body: unknown, status = 200): MemoryResponse => ({ status, body: wire(body) })

const defaultReasons: Record<number, string> = {
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout"
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

const nameProblem = (type: ResourceType, name: string): string | undefined => {
  if (type === namespaces) {
    return name.length <= 63 && dns1123Label.test(name)
      ? undefined
      : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
  }
  return name.length <= 253 && dns1123Subdomain.test(name)
    ? undefined
    : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
}

const dockerConfigJsonType = "kubernetes.io/dockerconfigjson"

const secretProblem = (object: KubeObjectJson, previous: KubeObjectJson | undefined): MemoryResponse | undefined => {
  const name = object.metadata.name
  if (previous !== undefined && previous.type !== object.type) {
    return invalid(secrets, name, "type", String(object.type), "field is immutable")
  }
  if (previous?.immutable === true && (!deepEqual(previous.data, object.data) || object.immutable !== true)) {
    return invalid(secrets, name, "data", "", "Forbidden: field is immutable when `immutable` is set", "FieldValueForbidden")
  }
  if (object.type === dockerConfigJsonType) {
    const encoded = object.data?.[".dockerconfigjson"]
    if (typeof encoded !== "string") {
      return invalid(secrets, name, "data[.dockerconfigjson]", "", "Required value", "FieldValueRequired")
    }
    try {
      JSON.parse(Buffer.from(encoded, "base64").toString("utf8"))
    } catch {
      return invalid(secrets, name, "data[.dockerconfigjson]", "<secret contents redacted>", "invalid character in JSON")
    }
  }
  return undefined
}

// --- the cluster -------------------------------------------------------------------------------------------------------

interface HistoryEntry {
  readonly revision: number
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly resource: ResourceType
  readonly object: KubeObjectJson
  readonly previous: KubeObjectJson | undefined
}

interface Watcher {
  readonly id: number
  readonly client: string
  readonly path: string
  readonly filter: Filter
  readonly bookmarks: boolean
  readonly queue: Queue.Queue<WatchEvent, KubeError | Cause.Done>
  open: boolean
  silent: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

interface ArmedFault {
  readonly fault: Fault
  remaining: number
}

interface ListSnapshot {
  readonly revision: number
  readonly items: ReadonlyArray<KubeObjectJson>
}

const continueTooOld =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."

const mutatingMethods = new Set(["POST", "PUT", "PATCH", "DELETE"])

export const makeMemoryCluster = (options: MemoryClusterOptions = {}): MemoryCluster => {
  const now = options.now ?? (() => new Date())
  const historyLimit = options.historyLimit ?? 10_000
  const watchTimeoutScale = options.watchTimeoutScale ?? 1
  const serviceAccountTiming = options.serviceAccounts ?? "immediate"
  const namespaceTiming = options.namespaceDeletion ?? "immediate"

  const stores = new Map<ResourceType, Map<string, KubeObjectJson>>(resources.map((type) => [type, new Map()]))
  const storeOf = (type: ResourceType) => stores.get(type)!
  let revision = 1
  /** Watches and continued lists from before this revision get 410 Gone. */
  let compactedRevision = 1
  const history: Array<HistoryEntry> = []
  const watchers = new Map<number, Watcher>()
  let nextWatchId = 1
  const snapshots = new Map<string, ListSnapshot>()
  let nextSnapshotId = 1
  const faults: Array<ArmedFault> = []
  let gate: ((request: RequestInfo) => Promise<void>) | undefined
  const counts = new Map<string, { total: number; byVerb: Record<string, number> }>()
  let mutationCount = 0
  const timers = new Set<ReturnType<typeof setTimeout>>()
  const pendingDefaultServiceAccounts = new Set<string>()
  const pendingNamespaceDeletion = new Set<string>()
  /** Namespaces whose content the namespace controller is removing; each goes once it is empty. */
  const finalizing = new Set<string>()

  // --- history and watches --------------------------------------------------------------------------------------------

  const eventFor = (watcher: Watcher, entry: HistoryEntry): WatchEvent | undefined => {
    if (entry.resource !== watcher.filter.type) return undefined
    const selected = filterMatches(watcher.filter, entry.object)
    const before = entry.previous !== undefined && filterMatches(watcher.filter, entry.previous)
    switch (entry.type) {
      case "ADDED":
        return selected ? { type: "ADDED", object: wire(entry.object) } : undefined
      case "DELETED":
        return selected ? { type: "DELETED", object: wire(entry.object) } : undefined
      case "MODIFIED":
        // Like the apiserver's watch cache: an object entering or leaving the selection is added or deleted.
        if (selected) return { type: before ? "MODIFIED" : "ADDED", object: wire(entry.object) }
        return before ? { type: "DELETED", object: wire(entry.object) } : undefined
    }
  }

  const deliver = (entry: HistoryEntry) => {
    for (const watcher of watchers.values()) {
      if (!watcher.open || watcher.silent) continue
      const event = eventFor(watcher, entry)
      if (event !== undefined) Queue.offerUnsafe(watcher.queue, event)
    }
  }

  const commit = (type: ResourceType, kind: HistoryEntry["type"], object: KubeObjectJson, previous: KubeObjectJson | undefined) => {
    revision++
    const versioned: KubeObjectJson = { ...object, metadata: { ...object.metadata, resourceVersion: String(revision) } }
    const stored = type.custom ? (sortKeys(versioned) as KubeObjectJson) : versioned
    const key = keyOf(stored.metadata.namespace, stored.metadata.name)
    if (kind === "DELETED") storeOf(type).delete(key)
    else storeOf(type).set(key, stored)
    const entry: HistoryEntry = { revision, type: kind, resource: type, object: stored, previous }
    history.push(entry)
    if (history.length > historyLimit) {
      const dropped = history.splice(0, history.length - historyLimit)
      compactedRevision = dropped[dropped.length - 1]!.revision
    }
    deliver(entry)
    return stored
  }

  const closeWatcher = (watcher: Watcher, how: "end" | "error") => {
    if (!watcher.open) return
    watcher.open = false
    if (watcher.timer !== undefined) clearTimeout(watcher.timer)
    if (how === "end") Queue.endUnsafe(watcher.queue)
    else {
      Queue.failCauseUnsafe(
        watcher.queue,
        Cause.fail(new KubeUnavailable({ message: `watch ${watcher.path}: connection reset (memory cluster)` }))
      )
    }
  }

  const watchInfo = (watcher: Watcher): WatchInfo => ({
    id: watcher.id,
    client: watcher.client,
    path: watcher.path,
    silent: watcher.silent,
    pending: Queue.sizeUnsafe(watcher.queue)
  })

  const selectWatchers = (match: ((watch: WatchInfo) => boolean) | undefined) =>
    [...watchers.values()].filter((watcher) => watcher.open && (match === undefined || match(watchInfo(watcher))))

  // --- simulated controllers ---------------------------------------------------------------------------------------------

  const schedule = (timing: Timing, pending: Set<string>, key: string, run: (key: string) => void) => {
    if (timing === "immediate") run(key)
    else if (timing === "manual") pending.add(key)
    else {
      const timer = setTimeout(() => {
        timers.delete(timer)
        run(key)
      }, timing.delayMillis)
      timer.unref()
      timers.add(timer)
    }
  }

  const activeNamespace = (name: string | undefined) => {
    const namespace = name === undefined ? undefined : storeOf(namespaces).get(name)
    return namespace !== undefined && namespace.metadata.deletionTimestamp === undefined ? namespace : undefined
  }

  const ensureDefaultServiceAccount = (namespace: string) => {
    pendingDefaultServiceAccounts.delete(namespace)
    if (activeNamespace(namespace) === undefined || storeOf(serviceAccounts).has(`${namespace}/default`)) return
    create(serviceAccounts, namespace, { metadata: { name: "default" } })
  }

  const objectsIn = (namespace: string) =>
    resources.flatMap((type) =>
      type.namespaced ? [...storeOf(type).values()].filter((object) => object.metadata.namespace === namespace).map((object) => ({ type, object })) : []
    )

  const tryRemoveNamespace = (name: string) => {
    if (!finalizing.has(name)) return
    const namespace = storeOf(namespaces).get(name)
    if (namespace === undefined) {
      finalizing.delete(name)
      return
    }
    if (objectsIn(name).length > 0 || (namespace.metadata.finalizers ?? []).length > 0) return
    finalizing.delete(name)
    commit(namespaces, "DELETED", namespace, namespace)
  }

  const finalizeNamespace = (name: string) => {
    pendingNamespaceDeletion.delete(name)
    if (storeOf(namespaces).get(name)?.metadata.deletionTimestamp === undefined) return
    finalizing.add(name)
    for (const { type, object } of objectsIn(name)) {
      const current = storeOf(type).get(keyOf(name, object.metadata.name))
      if (current !== undefined) remove(type, current, {})
    }
    tryRemoveNamespace(name)
  }

  const afterRemoval = (type: ResourceType, object: KubeObjectJson) => {
    const namespace = object.metadata.namespace
    if (type === serviceAccounts && object.metadata.name === "default" && activeNamespace(namespace) !== undefined) {
      schedule(serviceAccountTiming, pendingDefaultServiceAccounts, namespace!, ensureDefaultServiceAccount)
    }
    if (type.namespaced && namespace !== undefined) tryRemoveNamespace(namespace)
  }

  // --- verbs -----------------------------------------------------------------------------------------------------------------

  const namespaceProblem = (type: ResourceType, namespace: string | undefined, name: string): MemoryResponse | undefined => {
    if (!type.namespaced || namespace === undefined) return undefined
    const owner = storeOf(namespaces).get(namespace)
    if (owner === undefined) return notFound(namespaces, namespace)
    if (owner.metadata.deletionTimestamp !== undefined) {
      const message = `unable to create new content in namespace ${namespace} because it is being terminated`
      return failure(403, "Forbidden", `${qualified(type)} "${name}" is forbidden: ${message}`, detailsOf(type, name, {
        causes: [{ reason: "NamespaceTerminating", message: `namespace ${namespace} is being terminated`, field: "metadata.namespace" }]
      }))
    }
    return undefined
  }

  function create(type: ResourceType, namespace: string | undefined, body: unknown): MemoryResponse {
    if (!isObject(body) || !isObject(body.metadata)) return badRequest("the object has no metadata")
    const metadata = { ...body.metadata } as Metadata
    if (typeof metadata.name !== "string" || metadata.name === "") {
      if (typeof metadata.generateName !== "string" || metadata.generateName === "") {
        return invalid(type, "", "metadata.name", "", "Required value: name or generateName is required", "FieldValueRequired")
      }
      metadata.name = `${metadata.generateName}${randomUUID().slice(0, 5)}`
    }
    const name = metadata.name
    if (type.namespaced && metadata.namespace !== undefined && metadata.namespace !== namespace) {
      return badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    const problem = nameProblem(type, name)
    if (problem !== undefined) return invalid(type, name, "metadata.name", name, problem)
    const refused = namespaceProblem(type, namespace, name)
    if (refused !== undefined) return refused
    if (storeOf(type).has(keyOf(namespace, name))) {
      return failure(409, "AlreadyExists", `${qualified(type)} "${name}" already exists`, detailsOf(type, name))
    }
    const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, ...content } = body
    const object: KubeObjectJson = {
      kind: type.kind,
      apiVersion: apiVersionOf(type),
      metadata: {
        ...metadata,
        ...(type.namespaced ? { namespace } : {}),
        uid: randomUUID(),
        creationTimestamp: rfc3339(now()),
        ...(type.generation ? { generation: 1 } : {})
      },
      ...content
    }
    for (const field of ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"]) {
      delete object.metadata[field]
    }
    if (!type.namespaced) delete object.metadata.namespace
    if (type.statusSubresource && type !== namespaces) delete object.status
    if (type === namespaces) {
      object.spec = { finalizers: ["kubernetes"] }
      object.status = { phase: "Active" }
      object.metadata.labels = { ...object.metadata.labels, "kubernetes.io/metadata.name": name }
    }
    normalize(type, object)
    if (type === secrets) {
      const secretRefusal = secretProblem(object, undefined)
      if (secretRefusal !== undefined) return secretRefusal
    }
    const stored = commit(type, "ADDED", object, undefined)
    if (type === namespaces) schedule(serviceAccountTiming, pendingDefaultServiceAccounts, name, ensureDefaultServiceAccount)
    return ok(stored, 201)
  }

  const systemFields = ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]

  const withoutMetadataAndStatus = (object: KubeObjectJson) => {
    const { metadata: _metadata, status: _status, ...rest } = object
    return rest
  }

  /** The common end of PUT and PATCH: `incoming` is the complete object the client wants stored. */
  const update = (type: ResourceType, current: KubeObjectJson, incoming: unknown, subresource: string | undefined): MemoryResponse => {
    const name = current.metadata.name
    if (!isObject(incoming) || !isObject(incoming.metadata)) return badRequest("the object has no metadata")
    const metadata = incoming.metadata
    if (metadata.name !== undefined && metadata.name !== name) {
      return badRequest(`the name of the object (${String(metadata.name)}) does not match the name on the URL (${name})`)
    }
    if (type.namespaced && metadata.namespace !== undefined && metadata.namespace !== current.metadata.namespace) {
      return badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    if (typeof metadata.uid === "string" && metadata.uid !== "" && metadata.uid !== current.metadata.uid) {
      return conflict(type, name, `Precondition failed: UID in precondition: ${metadata.uid}, UID in object meta: ${current.metadata.uid}`)
    }
    if (typeof metadata.resourceVersion === "string" && metadata.resourceVersion !== "" && metadata.resourceVersion !== current.metadata.resourceVersion) {
      return modifiedConflict(type, name)
    }
    let next: KubeObjectJson
    if (subresource === "status") {
      next = wire(current)
      if (incoming.status === undefined) delete next.status
      else next.status = wire(incoming.status)
    } else {
      next = wire(incoming) as KubeObjectJson
      next.apiVersion = current.apiVersion
      next.kind = current.kind
      for (const field of systemFields) {
        if (current.metadata[field] === undefined) delete next.metadata[field]
        else next.metadata[field] = current.metadata[field]
      }
      delete next.metadata.managedFields
      if (type.statusSubresource) {
        if (current.status === undefined) delete next.status
        else next.status = wire(current.status)
      }
      if (type === namespaces) {
        next.spec = wire(current.spec)
        next.metadata.labels = { ...next.metadata.labels, "kubernetes.io/metadata.name": name }
      }
      normalize(type, next)
      if (type === secrets) {
        const refusal = secretProblem(next, current)
        if (refusal !== undefined) return refusal
      }
      if (current.metadata.deletionTimestamp !== undefined) {
        const before = new Set<string>(current.metadata.finalizers ?? [])
        if ((next.metadata.finalizers ?? []).some((finalizer: string) => !before.has(finalizer))) {
          return invalid(type, name, "metadata.finalizers", "", "Forbidden: no new finalizers can be added if the object is being deleted", "FieldValueForbidden")
        }
      }
      if (type.generation && !deepEqual(withoutMetadataAndStatus(next), withoutMetadataAndStatus(current))) {
        next.metadata.generation = (current.metadata.generation ?? 1) + 1
      }
    }
    next.metadata.resourceVersion = current.metadata.resourceVersion
    if (deepEqual(next, current)) return ok(current)
    if (next.metadata.deletionTimestamp !== undefined && type !== namespaces && next.metadata.finalizers === undefined) {
      const gone = commit(type, "DELETED", next, current)
      afterRemoval(type, gone)
      return ok(gone)
    }
    const stored = commit(type, "MODIFIED", next, current)
    if (type === namespaces) tryRemoveNamespace(name)
    return ok(stored)
  }

  function remove(type: ResourceType, current: KubeObjectJson, options: Record<string, any>): MemoryResponse {
    const name = current.metadata.name
    const preconditions = isObject(options.preconditions) ? options.preconditions : {}
    if (preconditions.uid !== undefined && preconditions.uid !== null && preconditions.uid !== current.metadata.uid) {
      return conflict(type, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${current.metadata.uid}`)
    }
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== null && preconditions.resourceVersion !== current.metadata.resourceVersion) {
      return conflict(type, name, `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`)
    }
    if (type === namespaces) {
      if (current.metadata.deletionTimestamp !== undefined) {
        return conflict(type, name, "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.")
      }
      const terminating = wire(current)
      terminating.metadata.deletionTimestamp = rfc3339(now())
      terminating.metadata.deletionGracePeriodSeconds = 0
      terminating.status = { ...terminating.status, phase: "Terminating" }
      const stored = commit(type, "MODIFIED", terminating, current)
      schedule(namespaceTiming, pendingNamespaceDeletion, name, finalizeNamespace)
      return ok(storeOf(type).get(name) ?? stored)
    }
    if (current.metadata.deletionTimestamp !== undefined) return ok(current)
    if ((current.metadata.finalizers ?? []).length > 0) {
      const deleting = wire(current)
      deleting.metadata.deletionTimestamp = rfc3339(now())
      deleting.metadata.deletionGracePeriodSeconds = 0
      if (typeof deleting.metadata.generation === "number" && deleting.metadata.generation > 0) deleting.metadata.generation++
      return ok(commit(type, "MODIFIED", deleting, current))
    }
    const gone = commit(type, "DELETED", current, current)
    afterRemoval(type, gone)
    return type.deleteReturnsObject
      ? ok(gone)
      : ok({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: detailsOf(type, name, { uid: current.metadata.uid }) })
  }

  const list = (target: Target, query: Query): MemoryResponse => {
    let filter: Filter
    try {
      const fields = parseSelector(query.fieldSelector === undefined ? undefined : String(query.fieldSelector))
      const unsupported = fields.find((requirement) => !supportedFields.has(requirement.key) || requirement.op === "exists" || requirement.op === "!exists")
      if (unsupported !== undefined) return badRequest(`field label not supported: ${unsupported.key}`)
      filter = {
        type: target.type,
        namespace: target.namespace,
        labels: parseSelector(query.labelSelector === undefined ? undefined : String(query.labelSelector)),
        fields
      }
    } catch (error) {
      return badRequest((error as Error).message)
    }
    let snapshot: ListSnapshot
    let offset = 0
    const token = query.continue === undefined || query.continue === "" ? undefined : String(query.continue)
    if (token !== undefined) {
      const [id, start] = Buffer.from(token, "base64url").toString("utf8").split(":")
      const found = id === undefined ? undefined : snapshots.get(id)
      if (found === undefined || found.revision < compactedRevision) {
        if (id !== undefined) snapshots.delete(id)
        return failure(410, "Expired", continueTooOld)
      }
      snapshot = found
      offset = Number(start)
      snapshots.delete(id!)
    } else {
      const items = [...storeOf(target.type).values()]
        .filter((object) => filterMatches(filter, object))
        .sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name).localeCompare(keyOf(b.metadata.namespace, b.metadata.name)))
      snapshot = { revision, items }
    }
    const limit = query.limit === undefined ? 0 : Number(query.limit)
    const end = limit > 0 ? Math.min(snapshot.items.length, offset + limit) : snapshot.items.length
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.revision) }
    if (end < snapshot.items.length) {
      const id = String(nextSnapshotId++)
      snapshots.set(id, snapshot)
      // Abandoned paginations must not pile up.
      if (snapshots.size > 64) snapshots.delete(snapshots.keys().next().value!)
      metadata.continue = Buffer.from(`${id}:${end}`, "utf8").toString("base64url")
      metadata.remainingItemCount = snapshot.items.length - end
    }
    return ok({ kind: `${target.type.kind}List`, apiVersion: apiVersionOf(target.type), metadata, items: snapshot.items.slice(offset, end) })
  }

  const patch = (type: ResourceType, current: KubeObjectJson, request: KubeRequest, subresource: string | undefined): MemoryResponse => {
    const contentType = request.contentType ?? "application/json-patch+json"
    let patched: unknown
    if (contentType === "application/json-patch+json") {
      try {
        patched = applyJsonPatch(current, wire(request.body))
      } catch (error) {
        if (error instanceof MalformedPatchError) return badRequest(error.message)
        if (error instanceof JsonPatchError) return patchDoesNotApply()
        throw error
      }
    } else if (contentType === "application/merge-patch+json") {
      if (!isObject(request.body)) return badRequest("a merge patch must be a JSON object")
      patched = applyMergePatch(current, wire(request.body))
    } else {
      return failure(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (memory cluster; got ${contentType})`)
    }
    return update(type, current, patched, subresource)
  }

  /** Serve one request; never throws. */
  const handle = (request: KubeRequest): MemoryResponse => {
    const target = parsePath(request.path)
    if (target === undefined) return noSuchPath()
    const { type, namespace, name, subresource } = target
    if (subresource !== undefined && !(subresource === "status" && type.statusSubresource)) return noSuchPath()
    const query = request.query ?? {}
    if (name === undefined) {
      switch (request.method) {
        case "GET":
          if (query.watch === true || query.watch === "true") return badRequest("use watch() for watch requests")
          return list(target, query)
        case "POST":
          if (type.namespaced && namespace === undefined) return methodNotAllowed()
          return create(type, namespace, wire(request.body))
        default:
          return methodNotAllowed()
      }
    }
    const current = storeOf(type).get(keyOf(namespace, name))
    if (request.method === "POST") return methodNotAllowed()
    if (current === undefined) return notFound(type, name)
    switch (request.method) {
      case "GET":
        return ok(current)
      case "PUT":
        return update(type, current, wire(request.body), subresource)
      case "PATCH":
        return patch(type, current, request, subresource)
      case "DELETE":
        if (subresource !== undefined) return methodNotAllowed()
        return remove(type, current, isObject(request.body) ? request.body : {})
    }
  }

  // --- clients -----------------------------------------------------------------------------------------------------------------

  const count = (client: string, verb: string) => {
    let entry = counts.get(client)
    if (entry === undefined) counts.set(client, (entry = { total: 0, byVerb: {} }))
    entry.total++
    entry.byVerb[verb] = (entry.byVerb[verb] ?? 0) + 1
  }

  const takeFault = (info: RequestInfo): Fault | undefined => {
    for (const armed of faults) {
      if (armed.remaining > 0 && (armed.fault.match === undefined || armed.fault.match(info))) {
        armed.remaining--
        return armed.fault
      }
    }
    return undefined
  }

  const faultAnswer = (fault: Fault, info: RequestInfo): MemoryResponse => {
    const reason = fault.reason ?? (fault.status === 409 && info.method === "POST" ? "AlreadyExists" : defaultReasons[fault.status] ?? "")
    return failure(fault.status, reason, fault.message ?? `injected by the memory cluster (HTTP ${fault.status})`)
  }

  const infoOf = (client: string, request: KubeRequest, watch: boolean): RequestInfo => ({
    client,
    method: request.method,
    path: request.path,
    query: request.query ?? {},
    watch,
    body: request.body,
    contentType: request.contentType
  })

  const serve = (info: RequestInfo, request: KubeRequest): MemoryResponse => {
    const fault = takeFault(info)
    let response: MemoryResponse
    if (fault === undefined) response = handle(request)
    else {
      if (fault.when === "after") handle(request)
      response = faultAnswer(fault, info)
    }
    options.observe?.(info, response)
    return response
  }

  const openWatch = (
    client: string,
    path: string,
    query: Query,
    queue: Queue.Queue<WatchEvent, KubeError | Cause.Done>
  ): Watcher | MemoryResponse => {
    const target = parsePath(path)
    if (target === undefined || target.name !== undefined) return noSuchPath()
    let filter: Filter
    try {
      filter = {
        type: target.type,
        namespace: target.namespace,
        labels: parseSelector(query.labelSelector === undefined ? undefined : String(query.labelSelector)),
        fields: parseSelector(query.fieldSelector === undefined ? undefined : String(query.fieldSelector))
      }
    } catch (error) {
      return badRequest((error as Error).message)
    }
    const watcher: Watcher = {
      id: nextWatchId++,
      client,
      path,
      filter,
      bookmarks: query.allowWatchBookmarks === true || query.allowWatchBookmarks === "true",
      queue,
      open: true,
      silent: false,
      timer: undefined
    }
    const from = query.resourceVersion === undefined || query.resourceVersion === "" || query.resourceVersion === "0"
      ? undefined
      : Number(query.resourceVersion)
    if (from === undefined) {
      // No resourceVersion: the current state as ADDED events, then changes.
      const items = [...storeOf(target.type).values()].filter((object) => filterMatches(filter, object))
      for (const object of items) Queue.offerUnsafe(queue, { type: "ADDED", object: wire(object) })
    } else if (!Number.isFinite(from) || from < compactedRevision) {
      Queue.offerUnsafe(queue, {
        type: "ERROR",
        object: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `too old resource version: ${String(query.resourceVersion)} (${compactedRevision})`,
          reason: "Expired",
          code: 410
        }
      })
      Queue.endUnsafe(queue)
      watcher.open = false
      return watcher
    } else {
      for (const entry of history) {
        if (entry.revision <= from) continue
        const event = eventFor(watcher, entry)
        if (event !== undefined) Queue.offerUnsafe(queue, event)
      }
    }
    const timeoutSeconds = Number(query.timeoutSeconds ?? 0)
    if (timeoutSeconds > 0 && watchTimeoutScale > 0) {
      watcher.timer = setTimeout(() => closeWatcher(watcher, "end"), timeoutSeconds * 1000 * watchTimeoutScale)
      watcher.timer.unref()
    }
    watchers.set(watcher.id, watcher)
    return watcher
  }

  const clientFor = (client: string): KubeClient["Service"] => {
    const request = <A>(req: KubeRequest): Effect.Effect<A, KubeError> =>
      Effect.suspend(() => {
        count(client, req.method)
        if (mutatingMethods.has(req.method)) mutationCount++
        const info = infoOf(client, req, false)
        const answer = (): Effect.Effect<A, KubeError> => {
          const response = serve(info, req)
          return response.status >= 200 && response.status < 300
            ? Effect.succeed(response.body as A)
            : Effect.fail(kubeErrorFromStatus(response.status, response.body, req.what ?? `${req.method} ${req.path}`))
        }
        const held = gate
        return held === undefined ? answer() : Effect.promise(() => held(info)).pipe(Effect.flatMap(answer))
      })

    const watch = (path: string, query: Query): Stream.Stream<WatchEvent, KubeError> =>
      Stream.callback<WatchEvent, KubeError>((queue) =>
        Effect.suspend(() => {
          count(client, "WATCH")
          const info = infoOf(client, { method: "GET", path, query }, true)
          const fault = takeFault(info)
          const opened = fault === undefined ? openWatch(client, path, query, queue) : faultAnswer(fault, info)
          if (!("queue" in opened)) return Effect.fail(kubeErrorFromStatus(opened.status, opened.body, `watch ${path}`))
          return Effect.addFinalizer(() =>
            Effect.sync(() => {
              if (opened.timer !== undefined) clearTimeout(opened.timer)
              opened.open = false
              watchers.delete(opened.id)
            })
          )
        })
      )

    return KubeClient.of({
      server: `memory://${client}`,
      request,
      watch,
      requestCounts: () => {
        const entry = counts.get(client)
        return { total: entry?.total ?? 0, byVerb: { ...entry?.byVerb } }
      }
    })
  }

  const pendingWatchEvents = () => {
    let pending = 0
    for (const watcher of watchers.values()) if (!watcher.silent) pending += Queue.sizeUnsafe(watcher.queue)
    return pending
  }

  const collectionItems = (path: string): ReadonlyArray<any> => {
    const response = handle({ method: "GET", path })
    if (response.status !== 200) throw new Error(`memory cluster: cannot list ${path}: ${response.body?.message}`)
    return response.body.items
  }

  return {
    layer: Layer.succeed(KubeClient, clientFor("controller")),
    client: clientFor,
    call: (request) => handle({ ...request, body: wire(request.body) }),
    get: (path) => {
      const response = handle({ method: "GET", path })
      return response.status === 200 ? response.body : undefined
    },
    list: collectionItems,
    resourceVersion: () => String(revision),

    injectFault: (fault) => {
      const armed: ArmedFault = { fault, remaining: fault.times ?? 1 }
      faults.push(armed)
      return {
        remaining: () => armed.remaining,
        cancel: () => {
          armed.remaining = 0
        }
      }
    },
    clearFaults: () => {
      faults.length = 0
    },
    setGate: (next) => {
      gate = next
    },
    dropWatches: (dropOptions = {}) => {
      const selected = selectWatchers(dropOptions.match)
      for (const watcher of selected) closeWatcher(watcher, dropOptions.how ?? "end")
      return selected.length
    },
    silenceWatches: (match) => {
      const selected = selectWatchers(match)
      for (const watcher of selected) watcher.silent = true
      return selected.length
    },
    expireWatches: (match) => {
      const selected = selectWatchers(match)
      for (const watcher of selected) closeWatcher(watcher, "end")
      return selected.length
    },
    sendBookmarks: () => {
      for (const watcher of watchers.values()) {
        if (!watcher.open || watcher.silent || !watcher.bookmarks) continue
        Queue.offerUnsafe(watcher.queue, {
          type: "BOOKMARK",
          object: { kind: watcher.filter.type.kind, apiVersion: apiVersionOf(watcher.filter.type), metadata: { resourceVersion: String(revision) } }
        })
      }
    },
    compact: () => {
      history.length = 0
      compactedRevision = revision
    },

    runServiceAccountController: () => {
      const pending = [...pendingDefaultServiceAccounts]
      for (const namespace of pending) ensureDefaultServiceAccount(namespace)
      return pending.length
    },
    pendingServiceAccounts: () => [...pendingDefaultServiceAccounts],
    runNamespaceController: (namespace) => {
      const pending = namespace === undefined ? [...pendingNamespaceDeletion] : [...pendingNamespaceDeletion].filter((name) => name === namespace)
      for (const name of pending) finalizeNamespace(name)
      return pending.length
    },
    pendingNamespaceDeletions: () => [...pendingNamespaceDeletion],

    watches: () => [...watchers.values()].filter((watcher) => watcher.open).map(watchInfo),
    pendingWatchEvents,
    idle: () => timers.size === 0 && pendingWatchEvents() === 0,
    mutations: () => mutationCount,
    requestCounts: (client) => {
      if (client !== undefined) {
        const entry = counts.get(client)
        return { total: entry?.total ?? 0, byVerb: { ...entry?.byVerb } }
      }
      const byVerb: Record<string, number> = {}
      let total = 0
      for (const entry of counts.values()) {
        total += entry.total
        for (const [verb, n] of Object.entries(entry.byVerb)) byVerb[verb] = (byVerb[verb] ?? 0) + n
      }
      return { total, byVerb }
    },
    dispose: () => {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      for (const watcher of watchers.values()) closeWatcher(watcher, "end")
    }
  }
}
