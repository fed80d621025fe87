// The in-memory apiserver answers like the real one where the controller depends on it: versions, conflicts, patches,
// finalizers, namespace termination, the default ServiceAccount, pagination, watches with history and 410, and the
// injected faults arrive as the same typed KubeErrors as from a real apiserver.
import { assert, describe, it } from "@effect/vitest"
import {
  KubeClient,
  type KubeError,
  type KubeObject,
  makeInformer,
  metadataOf,
  objectView,
  projection,
  type WatchEvent
} from "@tcr-assistant/kube"
import { jsonLogging } from "@tcr-assistant/kube/logging"
import { Effect, Exit, Fiber, Metric, Schema, Stream } from "effect"
import { makeMemoryCluster, type MemoryCluster, type MemoryClusterOptions } from "@tcr-assistant/testkit/memory-cluster"

const ipsPath = "/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets"

const withNamespace = (name: string, options: MemoryClusterOptions = {}): MemoryCluster => {
  const cluster = makeMemoryCluster(options)
  assert.strictEqual(cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name } } }).status, 201)
  return cluster
}

const createServiceAccount = (cluster: MemoryCluster, namespace: string, name: string, entries: ReadonlyArray<string> = []) =>
  cluster.call({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
    body: { metadata: { name }, ...(entries.length > 0 ? { imagePullSecrets: entries.map((entry) => ({ name: entry })) } : {}) }
  })

/** Run a KubeClient call against the cluster and return its failure, or undefined on success. */
const failureOf = <A>(cluster: MemoryCluster, effect: Effect.Effect<A, KubeError, KubeClient>) =>
  effect.pipe(
    Effect.provide(cluster.layer),
    Effect.exit,
    Effect.map((exit) => (Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined))
  )

const request = (req: Parameters<KubeClient["Service"]["request"]>[0]) => KubeClient.use((client) => client.request(req))

const ipsBody = (name: string, spec: Record<string, unknown> = { namespaces: "*" }) => ({
  apiVersion: "tcr.tencentcloudcr.com/v1",
  kind: "ImagePullSecret",
  metadata: { name },
  spec: { docker: { server: "r.example.com", username: "u", password: "p" }, ...spec }
})

describe("objects and versions", () => {
  it("assigns uid, creationTimestamp and a global, increasing resourceVersion", () => {
    const cluster = withNamespace("a")
    const first = createServiceAccount(cluster, "a", "one").body
    const second = createServiceAccount(cluster, "a", "two").body
    assert.match(first.metadata.uid, /^[0-9a-f-]{36}$/)
    assert.notStrictEqual(first.metadata.uid, second.metadata.uid)
    assert.match(first.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.isTrue(Number(second.metadata.resourceVersion) > Number(first.metadata.resourceVersion))
    assert.strictEqual(cluster.resourceVersion(), second.metadata.resourceVersion)
    assert.strictEqual(first.kind, "ServiceAccount")
    assert.strictEqual(first.metadata.namespace, "a")
  })

  it.effect("a second create is 409 AlreadyExists; reading what is missing is 404", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      createServiceAccount(cluster, "a", "app")
      const exists = yield* failureOf(cluster, request({ method: "POST", path: "/api/v1/namespaces/a/serviceaccounts", body: { metadata: { name: "app" } } }))
      assert.strictEqual(exists?._tag, "KubeConflict")
      assert.strictEqual(exists?._tag === "KubeConflict" ? exists.reason : "", "AlreadyExists")
      const missing = yield* failureOf(cluster, request({ method: "GET", path: "/api/v1/namespaces/a/secrets/nope" }))
      assert.strictEqual(missing?._tag, "KubeNotFound")
      const unknownPath = yield* failureOf(cluster, request({ method: "GET", path: "/apis/example.com/v1/widgets" }))
      assert.strictEqual(unknownPath?._tag, "KubeNotFound")
    }))

  it("rejects invalid names with 422", () => {
    const cluster = makeMemoryCluster()
    assert.strictEqual(cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "Not_Valid" } } }).status, 422)
  })

  it.effect("PUT with a stale resourceVersion is 409; without one it is unconditional", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const original = createServiceAccount(cluster, "a", "app").body
      const path = "/api/v1/namespaces/a/serviceaccounts/app"
      assert.strictEqual(cluster.call({ method: "PUT", path, body: { ...original, imagePullSecrets: [{ name: "x" }] } }).status, 200)
      const stale = yield* failureOf(cluster, request({ method: "PUT", path, body: { ...original, imagePullSecrets: [{ name: "y" }] } }))
      assert.strictEqual(stale?._tag, "KubeConflict")
      assert.match(stale?.message ?? "", /the object has been modified/)
      const { resourceVersion: _, ...unversioned } = original.metadata
      assert.strictEqual(cluster.call({ method: "PUT", path, body: { ...original, metadata: unversioned, imagePullSecrets: [{ name: "z" }] } }).status, 200)
      assert.deepStrictEqual(cluster.get(path).imagePullSecrets, [{ name: "z" }])
    }))

  it("a write that changes nothing keeps the resourceVersion", () => {
    const cluster = withNamespace("a")
    const sa = createServiceAccount(cluster, "a", "app", ["x"]).body
    const path = "/api/v1/namespaces/a/serviceaccounts/app"
    const answer = cluster.call({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { imagePullSecrets: [{ name: "x" }] } })
    assert.strictEqual(answer.body.metadata.resourceVersion, sa.metadata.resourceVersion)
    assert.strictEqual(cluster.resourceVersion(), sa.metadata.resourceVersion)
  })

  it("stores empty lists and maps as absent, as Go's omitempty does", () => {
    const cluster = withNamespace("a")
    createServiceAccount(cluster, "a", "app", ["x"])
    const path = "/api/v1/namespaces/a/serviceaccounts/app"
    cluster.call({ method: "PATCH", path, body: [{ op: "remove", path: "/imagePullSecrets/0" }] })
    assert.isFalse("imagePullSecrets" in cluster.get(path))
  })
})

describe("JSON patch and merge patch", () => {
  const path = "/api/v1/namespaces/a/serviceaccounts/app"

  it.effect("a patch replacing resourceVersion with a stale value is 409 Conflict, with the current one it applies", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const sa = createServiceAccount(cluster, "a", "app", ["user"]).body
      cluster.call({ method: "PATCH", path, body: [{ op: "add", path: "/imagePullSecrets/-", value: { name: "other" } }] })
      const stale = yield* failureOf(cluster, request({
        method: "PATCH",
        path,
        body: [{ op: "replace", path: "/metadata/resourceVersion", value: sa.metadata.resourceVersion }, { op: "add", path: "/imagePullSecrets/-", value: { name: "ours" } }]
      }))
      assert.strictEqual(stale?._tag, "KubeConflict")
      assert.strictEqual(stale?._tag === "KubeConflict" ? stale.reason : "", "Conflict")
      assert.deepStrictEqual(cluster.get(path).imagePullSecrets, [{ name: "user" }, { name: "other" }])
      const fresh = cluster.get(path).metadata.resourceVersion
      yield* request({
        method: "PATCH",
        path,
        body: [{ op: "replace", path: "/metadata/resourceVersion", value: fresh }, { op: "add", path: "/imagePullSecrets/-", value: { name: "ours" } }]
      }).pipe(Effect.provide(cluster.layer))
      assert.deepStrictEqual(cluster.get(path).imagePullSecrets.map((e: any) => e.name), ["user", "other", "ours"])
    }))

  it.effect("a failed test is 422 Invalid with the apiserver's generic message, and changes nothing", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      createServiceAccount(cluster, "a", "app", ["user", "ours"])
      const before = cluster.resourceVersion()
      const failed = yield* failureOf(cluster, request({
        method: "PATCH",
        path,
        what: "update ServiceAccount a/app",
        body: [{ op: "test", path: "/imagePullSecrets/0/name", value: "ours" }, { op: "remove", path: "/imagePullSecrets/0" }]
      }))
      assert.strictEqual(failed?._tag, "KubeRejected")
      if (failed?._tag !== "KubeRejected") return
      assert.strictEqual(failed.status, 422)
      assert.strictEqual(failed.reason, "Invalid")
      assert.strictEqual(failed.message, "update ServiceAccount a/app: the server rejected our request due to an error in our request")
      assert.strictEqual(cluster.resourceVersion(), before)
      const missing = cluster.call({ method: "PATCH", path, body: [{ op: "remove", path: "/imagePullSecrets/5" }] })
      assert.strictEqual(missing.status, 422)
      assert.strictEqual(cluster.call({ method: "PATCH", path, body: { op: "remove" } }).status, 400)
    }))

  it("implements add, remove, replace, move, copy and test", () => {
    const cluster = withNamespace("a")
    createServiceAccount(cluster, "a", "app", ["a", "b", "c"])
    const answer = cluster.call({
      method: "PATCH",
      path,
      body: [
        { op: "test", path: "/imagePullSecrets/1", value: { name: "b" } },
        { op: "add", path: "/imagePullSecrets/0", value: { name: "first" } },
        { op: "remove", path: "/imagePullSecrets/2" },
        { op: "replace", path: "/imagePullSecrets/2/name", value: "see" },
        { op: "move", from: "/imagePullSecrets/0", path: "/imagePullSecrets/-" },
        { op: "copy", from: "/imagePullSecrets/0", path: "/imagePullSecrets/0" },
        { op: "add", path: "/metadata/annotations", value: { "a~b/c": "1" } },
        { op: "replace", path: "/metadata/annotations/a~0b~1c", value: "2" }
      ]
    })
    assert.strictEqual(answer.status, 200)
    assert.deepStrictEqual(answer.body.imagePullSecrets.map((e: any) => e.name), ["a", "a", "see", "first"])
    assert.deepStrictEqual(answer.body.metadata.annotations, { "a~b/c": "2" })
  })

  it("merge patch: null deletes, objects merge, a resourceVersion in it is a precondition", () => {
    const cluster = withNamespace("a")
    const sa = createServiceAccount(cluster, "a", "app").body
    const labelled = cluster.call({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { metadata: { labels: { a: "1", b: "2" } } } })
    assert.deepStrictEqual(labelled.body.metadata.labels, { a: "1", b: "2" })
    const unlabelled = cluster.call({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { metadata: { labels: { a: null } } } })
    assert.deepStrictEqual(unlabelled.body.metadata.labels, { b: "2" })
    const stale = cluster.call({
      method: "PATCH",
      path,
      contentType: "application/merge-patch+json",
      body: { metadata: { resourceVersion: sa.metadata.resourceVersion, labels: { c: "3" } } }
    })
    assert.strictEqual(stale.status, 409)
    assert.strictEqual(cluster.call({ method: "PATCH", path, contentType: "application/strategic-merge-patch+json", body: {} }).status, 415)
  })
})

describe("the ImagePullSecret custom resource", () => {
  it("status writes change only status; spec writes bump generation and keep status", () => {
    const cluster = makeMemoryCluster()
    const created = cluster.call({ method: "POST", path: ipsPath, body: { ...ipsBody("x"), status: { secretsDesired: 9 } } }).body
    assert.strictEqual(created.metadata.generation, 1)
    assert.isUndefined(created.status)
    const status = cluster.call({
      method: "PATCH",
      path: `${ipsPath}/x/status`,
      contentType: "application/merge-patch+json",
      body: { status: { secretsDesired: 2 }, spec: { namespaces: "changed" }, metadata: { labels: { sneaky: "1" } } }
    }).body
    assert.deepStrictEqual(status.status, { secretsDesired: 2 })
    assert.strictEqual(status.spec.namespaces, "*")
    assert.isUndefined(status.metadata.labels)
    assert.strictEqual(status.metadata.generation, 1)
    const edited = cluster.call({
      method: "PATCH",
      path: `${ipsPath}/x`,
      contentType: "application/merge-patch+json",
      body: { spec: { namespaces: "a" }, status: { secretsDesired: 7 } }
    }).body
    assert.strictEqual(edited.metadata.generation, 2)
    assert.deepStrictEqual(edited.status, { secretsDesired: 2 })
    const relabelled = cluster.call({ method: "PATCH", path: `${ipsPath}/x`, contentType: "application/merge-patch+json", body: { metadata: { labels: { a: "b" } } } }).body
    assert.strictEqual(relabelled.metadata.generation, 2)
  })

  it("comes back with its keys sorted, as the apiserver stores unstructured objects", () => {
    const cluster = makeMemoryCluster()
    const created = cluster.call({ method: "POST", path: ipsPath, body: { ...ipsBody("x"), spec: { namespaces: "*", docker: { username: "u", server: "s.example.com", password: "p" } } } })
    assert.deepStrictEqual(Object.keys(created.body), ["apiVersion", "kind", "metadata", "spec"])
    assert.deepStrictEqual(Object.keys(created.body.spec.docker), ["password", "server", "username"])
    // Built-in kinds keep their field order.
    const namespace = cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "b" } } }).body
    assert.deepStrictEqual(Object.keys(namespace), ["kind", "apiVersion", "metadata", "spec", "status"])
  })

  it("delete with a finalizer marks it deleting (generation bumped); removing the last finalizer deletes it", () => {
    const cluster = makeMemoryCluster()
    cluster.call({ method: "POST", path: ipsPath, body: { ...ipsBody("x"), metadata: { name: "x", finalizers: ["example.com/a", "example.com/b"] } } })
    const deleting = cluster.call({ method: "DELETE", path: `${ipsPath}/x` }).body
    assert.isString(deleting.metadata.deletionTimestamp)
    assert.strictEqual(deleting.metadata.generation, 2)
    const added = cluster.call({ method: "PATCH", path: `${ipsPath}/x`, body: [{ op: "add", path: "/metadata/finalizers/-", value: "example.com/c" }] })
    assert.strictEqual(added.status, 422)
    cluster.call({ method: "PATCH", path: `${ipsPath}/x`, body: [{ op: "remove", path: "/metadata/finalizers/0" }] })
    assert.isDefined(cluster.get(`${ipsPath}/x`))
    cluster.call({ method: "PATCH", path: `${ipsPath}/x`, body: [{ op: "remove", path: "/metadata/finalizers/0" }] })
    assert.isUndefined(cluster.get(`${ipsPath}/x`))
  })
})

describe("delete", () => {
  it.effect("preconditions on uid and resourceVersion answer 409; a missing object is 404", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const secret = cluster.call({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "s" }, stringData: { k: "v" } } }).body
      const path = "/api/v1/namespaces/a/secrets/s"
      const wrongUid = yield* failureOf(cluster, request({ method: "DELETE", path, body: { preconditions: { uid: "other" } } }))
      assert.strictEqual(wrongUid?._tag, "KubeConflict")
      const wrongVersion = yield* failureOf(cluster, request({ method: "DELETE", path, body: { preconditions: { uid: secret.metadata.uid, resourceVersion: "1" } } }))
      assert.strictEqual(wrongVersion?._tag, "KubeConflict")
      yield* request({ method: "DELETE", path, body: { preconditions: { uid: secret.metadata.uid, resourceVersion: secret.metadata.resourceVersion } } }).pipe(
        Effect.provide(cluster.layer)
      )
      const again = yield* failureOf(cluster, request({ method: "DELETE", path }))
      assert.strictEqual(again?._tag, "KubeNotFound")
    }))
})

describe("secrets", () => {
  it("stringData becomes data; dockerconfigjson must be JSON; the type is immutable", () => {
    const cluster = withNamespace("a")
    const plain = cluster.call({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "plain" }, stringData: { k: "v" } } }).body
    assert.strictEqual(plain.type, "Opaque")
    assert.deepStrictEqual(plain.data, { k: Buffer.from("v").toString("base64") })
    const broken = cluster.call({
      method: "POST",
      path: "/api/v1/namespaces/a/secrets",
      body: { metadata: { name: "pull" }, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": Buffer.from("{not json").toString("base64") } }
    })
    assert.strictEqual(broken.status, 422)
    assert.notInclude(JSON.stringify(broken.body), "not json")
    const retyped = cluster.call({ method: "PATCH", path: "/api/v1/namespaces/a/secrets/plain", contentType: "application/merge-patch+json", body: { type: "kubernetes.io/tls" } })
    assert.strictEqual(retyped.status, 422)
  })
})

describe("namespaces", () => {
  it("a new namespace gets its default ServiceAccount, at once or when the test runs the controller", () => {
    const eager = withNamespace("a")
    assert.isDefined(eager.get("/api/v1/namespaces/a/serviceaccounts/default"))
    assert.strictEqual(eager.get("/api/v1/namespaces/a").status.phase, "Active")
    const lazy = withNamespace("b", { serviceAccounts: "manual" })
    assert.isUndefined(lazy.get("/api/v1/namespaces/b/serviceaccounts/default"))
    assert.deepStrictEqual(lazy.pendingServiceAccounts(), ["b"])
    assert.strictEqual(lazy.runServiceAccountController(), 1)
    assert.isDefined(lazy.get("/api/v1/namespaces/b/serviceaccounts/default"))
  })

  it("a deleted default ServiceAccount is recreated", () => {
    const cluster = withNamespace("a")
    const before = cluster.get("/api/v1/namespaces/a/serviceaccounts/default")
    cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a/serviceaccounts/default" })
    const after = cluster.get("/api/v1/namespaces/a/serviceaccounts/default")
    assert.isDefined(after)
    assert.notStrictEqual(after.metadata.uid, before.metadata.uid)
  })

  it.effect("a terminating namespace refuses new content with 403 NamespaceTerminating; a missing one is 404", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a", { namespaceDeletion: "manual" })
      createServiceAccount(cluster, "a", "app")
      const deleted = cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a" }).body
      assert.strictEqual(deleted.status.phase, "Terminating")
      assert.isString(deleted.metadata.deletionTimestamp)
      const refused = yield* failureOf(cluster, request({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "s" } } }))
      assert.strictEqual(refused?._tag, "KubeRejected")
      if (refused?._tag === "KubeRejected") {
        assert.strictEqual(refused.status, 403)
        assert.isTrue(refused.namespaceTerminating)
        assert.deepStrictEqual(refused.causes, ["NamespaceTerminating"])
      }
      const missing = yield* failureOf(cluster, request({ method: "POST", path: "/api/v1/namespaces/zz/secrets", body: { metadata: { name: "s" } } }))
      assert.strictEqual(missing?._tag, "KubeNotFound")
      // Existing objects may still be changed while the namespace terminates.
      assert.strictEqual(
        cluster.call({ method: "PATCH", path: "/api/v1/namespaces/a/serviceaccounts/app", contentType: "application/merge-patch+json", body: { imagePullSecrets: [{ name: "x" }] } }).status,
        200
      )
      assert.strictEqual(cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a" }).status, 409)
      assert.strictEqual(cluster.runNamespaceController(), 1)
      assert.isUndefined(cluster.get("/api/v1/namespaces/a"))
      assert.deepStrictEqual(cluster.list("/api/v1/serviceaccounts"), [])
    }))

  it("an object with a finalizer holds its namespace until the finalizer is removed", () => {
    const cluster = withNamespace("a")
    cluster.call({ method: "POST", path: "/api/v1/namespaces/a/configmaps", body: { metadata: { name: "hold", finalizers: ["example.com/hold"] } } })
    cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a" })
    assert.strictEqual(cluster.get("/api/v1/namespaces/a").status.phase, "Terminating")
    assert.isString(cluster.get("/api/v1/namespaces/a/configmaps/hold").metadata.deletionTimestamp)
    assert.isUndefined(cluster.get("/api/v1/namespaces/a/serviceaccounts/default"))
    cluster.call({ method: "PATCH", path: "/api/v1/namespaces/a/configmaps/hold", contentType: "application/merge-patch+json", body: { metadata: { finalizers: null } } })
    assert.isUndefined(cluster.get("/api/v1/namespaces/a"))
  })
})

describe("list", () => {
  it.effect("pages are one consistent snapshot at the first page's resourceVersion", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      for (const name of ["s1", "s2", "s3", "s4", "s5"]) createServiceAccount(cluster, "a", name)
      const first: any = yield* request({ method: "GET", path: "/api/v1/serviceaccounts", query: { limit: 2 } }).pipe(Effect.provide(cluster.layer))
      assert.deepStrictEqual(first.items.map((sa: any) => sa.metadata.name), ["default", "s1"])
      assert.strictEqual(first.metadata.remainingItemCount, 4)
      cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a/serviceaccounts/s2" })
      createServiceAccount(cluster, "a", "s0")
      const names: Array<string> = []
      let token: string | undefined = first.metadata.continue
      while (token !== undefined) {
        const page: any = yield* request({ method: "GET", path: "/api/v1/serviceaccounts", query: { limit: 2, continue: token } }).pipe(Effect.provide(cluster.layer))
        assert.strictEqual(page.metadata.resourceVersion, first.metadata.resourceVersion)
        names.push(...page.items.map((sa: any) => sa.metadata.name))
        token = page.metadata.continue
      }
      assert.deepStrictEqual(names, ["s2", "s3", "s4", "s5"])
    }))

  it.effect("a continue token from before a compaction is 410 Gone", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      createServiceAccount(cluster, "a", "s1")
      const first: any = yield* request({ method: "GET", path: "/api/v1/serviceaccounts", query: { limit: 1 } }).pipe(Effect.provide(cluster.layer))
      createServiceAccount(cluster, "a", "s2")
      cluster.compact()
      const gone = yield* failureOf(cluster, request({ method: "GET", path: "/api/v1/serviceaccounts", query: { limit: 1, continue: first.metadata.continue } }))
      assert.strictEqual(gone?._tag, "KubeGone")
    }))

  it("filters by equality label selectors and by namespace", () => {
    const cluster = withNamespace("a")
    cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "b" } } })
    const secret = (namespace: string, name: string, labels: Record<string, string>) =>
      cluster.call({ method: "POST", path: `/api/v1/namespaces/${namespace}/secrets`, body: { metadata: { name, labels } } })
    secret("a", "one", { app: "x", tier: "web" })
    secret("a", "two", { app: "y" })
    secret("b", "three", { app: "x" })
    const names = (path: string, labelSelector: string) =>
      (cluster.call({ method: "GET", path, query: { labelSelector } }).body.items as Array<any>).map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
    assert.deepStrictEqual(names("/api/v1/secrets", "app=x"), ["a/one", "b/three"])
    assert.deepStrictEqual(names("/api/v1/secrets", "app==x,tier"), ["a/one"])
    assert.deepStrictEqual(names("/api/v1/secrets", "app!=x"), ["a/two"])
    assert.deepStrictEqual(names("/api/v1/secrets", "!tier"), ["a/two", "b/three"])
    assert.deepStrictEqual(names("/api/v1/namespaces/b/secrets", "app=x"), ["b/three"])
    assert.strictEqual(cluster.call({ method: "GET", path: "/api/v1/secrets", query: { labelSelector: "app in (x)" } }).status, 400)
  })
})

/** The first `n` events of a watch, then the watch is closed. */
const watchEvents = (cluster: MemoryCluster, path: string, query: Record<string, string | number | boolean>, n: number) =>
  KubeClient.use((client) => client.watch(path, query).pipe(Stream.take(n), Stream.runCollect)).pipe(Effect.provide(cluster.layer))

const summary = (events: ReadonlyArray<WatchEvent>) =>
  events.map((event) => `${event.type} ${event.object?.metadata?.name ?? event.object?.code}`)

describe("watch", () => {
  it.effect("replays history after a resourceVersion: added, modified, deleted, in order", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const from = cluster.resourceVersion()
      createServiceAccount(cluster, "a", "app")
      cluster.call({ method: "PATCH", path: "/api/v1/namespaces/a/serviceaccounts/app", contentType: "application/merge-patch+json", body: { imagePullSecrets: [{ name: "x" }] } })
      cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a/serviceaccounts/app" })
      const events = yield* watchEvents(cluster, "/api/v1/serviceaccounts", { resourceVersion: from }, 3)
      assert.deepStrictEqual(summary(events), ["ADDED app", "MODIFIED app", "DELETED app"])
      // The deletion carries a new resourceVersion, so a watch resumed from it does not replay it.
      assert.strictEqual(events[2]!.object.metadata.resourceVersion, cluster.resourceVersion())
    }))

  it.effect("without a resourceVersion it starts with the current objects", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const events = yield* watchEvents(cluster, "/api/v1/namespaces", {}, 1)
      assert.deepStrictEqual(summary(events), ["ADDED a"])
    }))

  it.effect("an object entering or leaving the label selection is added or deleted", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const from = cluster.resourceVersion()
      const path = "/api/v1/namespaces/a/secrets/s"
      cluster.call({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "s" } } })
      cluster.call({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { metadata: { labels: { managed: "yes" } } } })
      cluster.call({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { data: { k: "dg==" } } })
      cluster.call({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { metadata: { labels: null } } })
      const events = yield* watchEvents(cluster, "/api/v1/secrets", { resourceVersion: from, labelSelector: "managed=yes" }, 3)
      assert.deepStrictEqual(summary(events), ["ADDED s", "MODIFIED s", "DELETED s"])
    }))

  it.effect("a resourceVersion older than the history is an ERROR event with code 410", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a", { historyLimit: 2 })
      const from = cluster.resourceVersion()
      for (const name of ["s1", "s2", "s3"]) createServiceAccount(cluster, "a", name)
      const events = yield* KubeClient.use((client) => client.watch("/api/v1/serviceaccounts", { resourceVersion: from }).pipe(Stream.runCollect)).pipe(
        Effect.provide(cluster.layer)
      )
      assert.deepStrictEqual(summary(events), ["ERROR 410"])
      assert.strictEqual(events[0]!.object.reason, "Expired")
    }))

  it.effect("dropped watches end or fail; silenced watches stay open and deliver nothing", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const open = (how: "end" | "error") =>
        Effect.gen(function*() {
          const fiber = yield* KubeClient.use((client) => client.watch("/api/v1/namespaces", { resourceVersion: cluster.resourceVersion() }).pipe(Stream.runCollect)).pipe(
            Effect.provide(cluster.layer),
            Effect.forkChild
          )
          while (cluster.watches().length === 0) yield* Effect.yieldNow
          cluster.dropWatches({ how })
          return yield* Fiber.await(fiber)
        })
      const ended = yield* open("end")
      assert.isTrue(Exit.isSuccess(ended))
      const failed = yield* open("error")
      assert.isTrue(Exit.isFailure(failed))

      const fiber = yield* watchEvents(cluster, "/api/v1/namespaces", { resourceVersion: cluster.resourceVersion() }, 1).pipe(Effect.forkChild)
      while (cluster.watches().length === 0) yield* Effect.yieldNow
      assert.strictEqual(cluster.silenceWatches(), 1)
      cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "b" } } })
      assert.strictEqual(cluster.pendingWatchEvents(), 0)
      assert.isTrue(cluster.watches()[0]!.silent)
      cluster.expireWatches()
      const silent = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isSuccess(silent))
      if (Exit.isSuccess(silent)) assert.deepStrictEqual(silent.value, [])
    }))

  it.effect("bookmarks carry the latest resourceVersion to watches that allow them", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const fiber = yield* watchEvents(cluster, "/api/v1/secrets", { resourceVersion: cluster.resourceVersion(), allowWatchBookmarks: true }, 1).pipe(Effect.forkChild)
      while (cluster.watches().length === 0) yield* Effect.yieldNow
      createServiceAccount(cluster, "a", "unrelated")
      cluster.sendBookmarks()
      const events = yield* Fiber.join(fiber)
      assert.strictEqual(events[0]!.type, "BOOKMARK")
      assert.strictEqual(events[0]!.object.metadata.resourceVersion, cluster.resourceVersion())
    }))
})

describe("faults", () => {
  it.effect("the next matching requests fail with the injected status, typed like the real client's errors", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const path = "/api/v1/namespaces/a/serviceaccounts/default"
      const patch = request({ method: "PATCH", path, contentType: "application/merge-patch+json", body: { imagePullSecrets: [{ name: "x" }] } })
      const fault = cluster.injectFault({ status: 500, times: 2, match: (r) => r.method === "PATCH" })
      cluster.injectFault({ status: 429, match: (r) => r.method === "GET" })
      assert.strictEqual((yield* failureOf(cluster, patch))?._tag, "KubeUnavailable")
      assert.strictEqual((yield* failureOf(cluster, request({ method: "GET", path })))?._tag, "KubeUnavailable")
      assert.strictEqual((yield* failureOf(cluster, patch))?._tag, "KubeUnavailable")
      assert.strictEqual(fault.remaining(), 0)
      assert.isUndefined(cluster.get(path).imagePullSecrets)
      assert.isUndefined(yield* failureOf(cluster, patch))
      assert.deepStrictEqual(cluster.get(path).imagePullSecrets, [{ name: "x" }])
      assert.deepStrictEqual(cluster.requestCounts("controller").byVerb, { PATCH: 3, GET: 1 })
      assert.strictEqual(cluster.mutations(), 3)
    }))

  it.effect("a fault after the fact applies the write and still fails the request", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      cluster.injectFault({ status: 500, when: "after", match: (r) => r.method === "POST" })
      const lost = yield* failureOf(cluster, request({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "s" } } }))
      assert.strictEqual(lost?._tag, "KubeUnavailable")
      assert.isDefined(cluster.get("/api/v1/namespaces/a/secrets/s"))
      cluster.injectFault({ status: 409, match: (r) => r.method === "POST" })
      const exists = yield* failureOf(cluster, request({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "t" } } }))
      assert.strictEqual(exists?._tag === "KubeConflict" ? exists.reason : "", "AlreadyExists")
    }))

  it.effect("a watch can be refused at connection", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      cluster.injectFault({ status: 503, match: (r) => r.watch })
      const refused = yield* failureOf(cluster, watchEvents(cluster, "/api/v1/namespaces", {}, 1).pipe(Effect.provide(cluster.layer)))
      assert.strictEqual(refused?._tag, "KubeUnavailable")
    }))

  it.effect("an observer sees every client request with its answer, injected faults included", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const cluster = makeMemoryCluster({ observe: (r, answer) => seen.push(`${r.client} ${r.method} ${r.path} ${answer.status}`) })
      cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "a" } } })
      cluster.injectFault({ status: 503, match: (r) => r.method === "GET" })
      yield* failureOf(cluster, request({ method: "GET", path: "/api/v1/namespaces/a" }))
      yield* failureOf(cluster, request({ method: "GET", path: "/api/v1/namespaces/b" }))
      assert.deepStrictEqual(seen, ["controller GET /api/v1/namespaces/a 503", "controller GET /api/v1/namespaces/b 404"])
    }))

  it.live("a gate holds requests until it opens", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      let open: () => void = () => {}
      const opened = new Promise<void>((resolve) => (open = resolve))
      cluster.setGate((info) => (info.method === "POST" ? opened : Promise.resolve()))
      const fiber = yield* request({ method: "POST", path: "/api/v1/namespaces/a/secrets", body: { metadata: { name: "held" } } }).pipe(
        Effect.provide(cluster.layer),
        Effect.forkChild
      )
      yield* Effect.sleep(5)
      assert.isUndefined(cluster.get("/api/v1/namespaces/a/secrets/held"))
      open()
      yield* Fiber.join(fiber)
      assert.isDefined(cluster.get("/api/v1/namespaces/a/secrets/held"))
    }))
})

describe("the kube informer against the memory cluster", () => {
  it.live("syncs, follows changes, and recovers from dropped watches and a compacted history", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a", { historyLimit: 5 })
      const informer = yield* makeInformer<any>({ name: "serviceaccounts", path: "/api/v1/serviceaccounts", pageSize: 2 }).pipe(
        Effect.provide(cluster.layer)
      )
      yield* informer.awaitSynced
      const names = () => [...informer.values()].map((sa) => sa.metadata.name).sort()
      const eventually = (check: () => boolean) =>
        Effect.gen(function*() {
          while (!check()) yield* Effect.sleep(2)
        })
      assert.deepStrictEqual(names(), ["default"])
      createServiceAccount(cluster, "a", "one")
      yield* eventually(() => informer.size() === 2)
      // A broken connection: the informer watches again from where it was.
      cluster.dropWatches({ how: "error" })
      createServiceAccount(cluster, "a", "two")
      yield* eventually(() => informer.size() === 3)
      // Silent, then the history is gone: the watch resumes from a compacted version, gets 410 and relists.
      cluster.silenceWatches()
      cluster.call({ method: "DELETE", path: "/api/v1/namespaces/a/serviceaccounts/one" })
      createServiceAccount(cluster, "a", "three")
      cluster.compact()
      cluster.expireWatches()
      yield* eventually(() => names().join() === "default,three,two")
      assert.isAtLeast(informer.health().relists, 2)
    }))
})

describe("an informer with a projection", () => {
  it.live("caches only what the projection keeps, for listed and watched objects alike, and says how", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      createServiceAccount(cluster, "a", "listed", ["pull"])
      const slim = projection<KubeObject & { readonly imagePullSecrets?: unknown }>(
        ["uid"],
        (sa) => (sa.imagePullSecrets !== undefined ? { imagePullSecrets: sa.imagePullSecrets } : {})
      )
      const informer = yield* makeInformer({ name: "serviceaccounts", path: "/api/v1/serviceaccounts", transform: slim }).pipe(
        Effect.provide(cluster.layer)
      )
      yield* informer.awaitSynced
      createServiceAccount(cluster, "a", "watched", ["pull"])
      while (informer.size() < 3) yield* Effect.sleep(2)
      for (const name of ["listed", "watched"]) {
        const cached = informer.get(`a/${name}`)!
        assert.deepStrictEqual(Object.keys(cached).sort(), ["imagePullSecrets", "metadata"])
        assert.deepStrictEqual(Object.keys(cached.metadata).sort(), ["name", "namespace", "resourceVersion", "uid"])
        assert.deepStrictEqual(cached.imagePullSecrets, [{ name: "pull" }])
        // What the informer keeps is what it would keep of its own output: our writes' answers pass through it too.
        assert.deepStrictEqual(informer.project(cached), cached)
      }
      const raw = cluster.get("/api/v1/namespaces/a/serviceaccounts/watched") as KubeObject
      assert.deepStrictEqual(informer.project(raw), informer.get("a/watched"))
    }))
})

describe("an informer with a view", () => {
  it.live("keeps an object that does not decode out of its cache, says which fields are wrong (never a value), and counts it", () =>
    Effect.gen(function*() {
      const cluster = withNamespace("a")
      const secretValue = "hunter2-never-logged"
      createServiceAccount(cluster, "a", "good")
      cluster.call({
        method: "POST",
        path: "/api/v1/namespaces/a/serviceaccounts",
        body: { metadata: { name: "bad", labels: { team: { password: secretValue } } } }
      })
      const view = objectView(
        "ServiceAccount",
        Schema.Struct({ metadata: metadataOf(["namespace", "resourceVersion", "labels"]) })
      )
      const lines: Array<string> = []
      const logging = jsonLogging({ write: (line) => void lines.push(line) })
      const informer = yield* makeInformer({ name: "serviceaccounts", path: "/api/v1/serviceaccounts", view }).pipe(
        Effect.provide([cluster.layer, logging])
      )
      yield* informer.awaitSynced
      assert.deepStrictEqual([...informer.values()].map((sa) => sa.metadata.name).sort(), ["default", "good"])
      const reports = () => lines.map((line) => JSON.parse(line)).filter((record) => record.msg.includes("does not decode"))
      assert.deepStrictEqual(
        reports().map(({ informer, kind, level, name, namespace, problem }) => ({ informer, kind, level, name, namespace, problem })),
        [{
          informer: "serviceaccounts",
          kind: "ServiceAccount",
          level: "warn",
          name: "bad",
          namespace: "a",
          problem: "metadata.labels.team: has the wrong type"
        }]
      )
      assert.notInclude(lines.join("\n"), secretValue)
      const undecodable = () =>
        Metric.snapshot.pipe(Effect.map((snapshots) =>
          snapshots.filter((s) => s.id === "tcr_assistant_informer_undecodable_objects_total" && s.attributes?.informer === "serviceaccounts")
            .reduce((sum, s) => sum + (s.type === "Counter" ? Number(s.state.count) : 0), 0)
        ))
      const counted = yield* undecodable()
      assert.isAtLeast(counted, 1)

      // A changed object that no longer decodes keeps its last version that did; fixed, it enters the cache.
      const before = informer.get("a/good")!.metadata.resourceVersion
      cluster.call({
        method: "PATCH",
        path: "/api/v1/namespaces/a/serviceaccounts/good",
        contentType: "application/merge-patch+json",
        body: { metadata: { labels: { team: 7 } } }
      })
      cluster.call({
        method: "PATCH",
        path: "/api/v1/namespaces/a/serviceaccounts/bad",
        contentType: "application/merge-patch+json",
        body: { metadata: { labels: { team: "web" } } }
      })
      while (informer.get("a/bad") === undefined) yield* Effect.sleep(2)
      assert.strictEqual(informer.get("a/good")!.metadata.resourceVersion, before)
      assert.strictEqual(yield* undecodable(), counted + 1)
      assert.notInclude(lines.join("\n"), secretValue)
    }))
})
