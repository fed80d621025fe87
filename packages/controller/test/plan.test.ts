// The pure policies on their own. Their patches are applied with the test kit's JSON patch (and sent to its in-memory
// apiserver where the resourceVersion guard matters): a ServiceAccount keeps everyone else's entries in their order
// and gets ours exactly once or not at all; a Secret we do not own is never touched; finalizers of others stay put.
import { dockerConfigJsonType, dockerConfigSecretData } from "@tcr-assistant/api"
import { Redacted } from "effect"
import { makeMemoryCluster } from "@tcr-assistant/testkit/memory-cluster"
import { applyJsonPatch } from "@tcr-assistant/testkit/memory-cluster-patch"
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import {
  finalizerName,
  isOurSecret,
  managedByLabel,
  managedByValue,
  type ObservedSecret,
  type ObservedServiceAccount,
  ownerAnnotation,
  type OwnerRef,
  planImagePullSecret,
  planSecret,
  secretDataHash,
  secretDataOf,
  planServiceAccount,
  type SecretDesire,
  type ServiceAccountDesire
} from "../src/plan.ts"

const ips = "alpha"
const ours = "tcr.ipsalpha"
const owner: OwnerRef = { apiVersion: "tcr.tencentcloudcr.com/v1", kind: "ImagePullSecret", name: ips, uid: "uid-alpha" }
const credentials = { server: "registry.example.com", username: "puller", password: Redacted.make("s3cret") }
const data = secretDataOf(credentials)

// --- ServiceAccounts --------------------------------------------------------------------------------------------------

const entry = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom("user-a", "user-b", "user-c", "tcr.ipsbeta", ours).map((name) => ({ name })) },
  // Entries without a name are not ours to judge either: they stay.
  { weight: 1, arbitrary: fc.constant({}) }
)

const observedServiceAccount: fc.Arbitrary<ObservedServiceAccount> = fc
  .record({
    entries: fc.option(fc.array(entry, { maxLength: 8 }), { nil: undefined }),
    resourceVersion: fc.integer({ min: 1, max: 10_000 }).map(String),
    deleting: fc.boolean()
  })
  .map(({ entries, resourceVersion, deleting }) => ({
    metadata: { name: "app", namespace: "ns", resourceVersion, ...(deleting ? { deletionTimestamp: "2024-01-01T00:00:00Z" } : {}) },
    ...(entries !== undefined ? { imagePullSecrets: entries } : {})
  }))

const serviceAccountDesire: fc.Arbitrary<ServiceAccountDesire> = fc.oneof(
  fc.boolean().map((secretReady): ServiceAccountDesire => ({ _tag: "Present", namespace: "ns", serviceAccount: "app", secretName: ours, secretReady })),
  fc.constant<ServiceAccountDesire>({ _tag: "Absent", namespace: "ns", serviceAccount: "app", secretName: ours }),
  fc.constant<ServiceAccountDesire>({ _tag: "Skip", reason: "NamespaceTerminating", message: "terminating" })
)

const entriesOf = (sa: { imagePullSecrets?: ReadonlyArray<{ name?: string }> }) => sa.imagePullSecrets ?? []
const othersOf = (sa: { imagePullSecrets?: ReadonlyArray<{ name?: string }> }) => entriesOf(sa).filter((e) => e.name !== ours)
const oursIn = (sa: { imagePullSecrets?: ReadonlyArray<{ name?: string }> }) => entriesOf(sa).filter((e) => e.name === ours).length

describe("planServiceAccount", () => {
  test.prop([serviceAccountDesire, observedServiceAccount])(
    "never reorders, duplicates or drops anyone else's entry, and leaves ours exactly once or not at all",
    (desire, observed) => {
      const plan = planServiceAccount(desire, observed)
      if (plan._tag !== "Apply" && plan._tag !== "Remove") return
      expect(plan.command._tag).toBe("PatchServiceAccount")
      if (plan.command._tag !== "PatchServiceAccount") return
      const after = applyJsonPatch(observed, plan.command.patch) as ObservedServiceAccount
      expect(othersOf(after)).toEqual(othersOf(observed))
      expect(oursIn(after)).toBe(plan._tag === "Apply" ? 1 : 0)
      expect(after.metadata).toEqual(observed.metadata)
    }
  )

  test.prop([serviceAccountDesire, observedServiceAccount])("decides by what is there", (desire, observed) => {
    const plan = planServiceAccount(desire, observed)
    const present = oursIn(observed) > 0
    if (desire._tag === "Skip") expect(plan).toEqual({ _tag: "Skip", reason: "NamespaceTerminating", message: "terminating" })
    else if (desire._tag === "Absent") expect(plan._tag).toBe(present ? "Remove" : "Gone")
    else if (present) expect(plan._tag).toBe("InSync")
    else if (observed.metadata.deletionTimestamp !== undefined) expect(plan._tag).toBe("Gone")
    else expect(plan._tag).toBe(desire.secretReady ? "Apply" : "Wait")
  })

  test.prop([serviceAccountDesire])("a ServiceAccount that is not there needs nothing", (desire) => {
    expect(planServiceAccount(desire, undefined)._tag).toBe(desire._tag === "Skip" ? "Skip" : "Gone")
  })

  test.prop([serviceAccountDesire, observedServiceAccount])(
    "every patch is guarded by the resourceVersion it was planned from",
    (desire, observed) => {
      const plan = planServiceAccount(desire, observed)
      if (plan._tag !== "Apply" && plan._tag !== "Remove") return
      if (plan.command._tag !== "PatchServiceAccount") return
      expect(plan.command.patch[0]).toEqual({ op: "replace", path: "/metadata/resourceVersion", value: observed.metadata.resourceVersion })
    }
  )

  const userEdit = fc.oneof(
    fc.constantFrom("user-x", "user-y").map((name) => (entries: Array<{ name?: string }>) => [...entries, { name }]),
    fc.nat().map((i) => (entries: Array<{ name?: string }>) => entries.filter((_, index) => entries.length === 0 || index !== i % entries.length)),
    fc.constant((entries: Array<{ name?: string }>) => [...entries].reverse())
  )

  test.prop([
    fc.array(fc.constantFrom("user-a", "user-b", ours), { maxLength: 5 }),
    serviceAccountDesire,
    fc.option(userEdit, { nil: undefined })
  ])(
    "on the apiserver, a patch planned before someone else's write is refused and their write survives",
    (initial, desire, edit) => {
      const cluster = makeMemoryCluster({ serviceAccounts: "manual" })
      cluster.call({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: "ns" } } })
      const path = "/api/v1/namespaces/ns/serviceaccounts/app"
      cluster.call({
        method: "POST",
        path: "/api/v1/namespaces/ns/serviceaccounts",
        body: { metadata: { name: "app" }, imagePullSecrets: initial.map((name) => ({ name })) }
      })
      const read = cluster.get(path)
      const plan = planServiceAccount(desire, read)
      if (plan._tag !== "Apply" && plan._tag !== "Remove") return
      if (plan.command._tag !== "PatchServiceAccount") return
      let expected = entriesOf(read) as Array<{ name?: string }>
      let raced = false
      if (edit !== undefined) {
        const written = cluster.call({ method: "PUT", path, body: { ...read, imagePullSecrets: edit(entriesOf(read).map((e) => ({ ...e }))) } })
        expect(written.status).toBe(200)
        expected = entriesOf(written.body) as Array<{ name?: string }>
        raced = written.body.metadata.resourceVersion !== read.metadata.resourceVersion
      }
      const answer = cluster.call({ method: "PATCH", path, body: plan.command.patch })
      const now = cluster.get(path)
      if (raced) {
        // 409 from the resourceVersion guard, or 422 when a guarded removal's test fails first.
        expect([409, 422]).toContain(answer.status)
        expect(entriesOf(now)).toEqual(expected)
        return
      }
      expect(answer.status).toBe(200)
      expect(othersOf(now)).toEqual(expected.filter((e) => e.name !== ours))
      expect(oursIn(now)).toBe(plan._tag === "Apply" ? 1 : 0)
    }
  )
})

// --- Secrets ------------------------------------------------------------------------------------------------------------

const observedSecret: fc.Arbitrary<ObservedSecret> = fc
  .record({
    managed: fc.boolean(),
    annotation: fc.constantFrom(ips, "beta", undefined),
    type: fc.constantFrom(dockerConfigJsonType, "Opaque", undefined),
    sameData: fc.boolean(),
    ownedBy: fc.constantFrom(owner.uid, "uid-old", undefined),
    resourceVersion: fc.integer({ min: 1, max: 10_000 }).map(String)
  })
  .map(({ managed, annotation, type, sameData, ownedBy, resourceVersion }) => ({
    metadata: {
      name: ours,
      namespace: "ns",
      uid: "secret-uid",
      resourceVersion,
      labels: managed ? { [managedByLabel]: managedByValue, keep: "me" } : ({ keep: "me" } as Record<string, string>),
      ...(annotation !== undefined ? { annotations: { [ownerAnnotation]: annotation } } : {}),
      ownerReferences: [
        { uid: "someone-else", kind: "Deployment", name: "web" },
        ...(ownedBy !== undefined ? [{ uid: ownedBy, kind: owner.kind, name: owner.name }] : [])
      ]
    },
    ...(type !== undefined ? { type } : {}),
    data: sameData ? data : { ".dockerconfigjson": Buffer.from("{}").toString("base64") }
  }))

const secretDesire: fc.Arbitrary<SecretDesire> = fc.constantFrom<SecretDesire>(
  { _tag: "Present", namespace: "ns", name: ours, credentials, owner },
  { _tag: "Absent", namespace: "ns", name: ours, ips },
  { _tag: "Skip", reason: "NamespaceTerminating", message: "terminating" }
)

describe("planSecret", () => {
  test.prop([secretDesire, observedSecret])("never touches a Secret that is not ours", (desire, observed) => {
    fc.pre(!isOurSecret(observed, ips))
    const plan = planSecret(desire, observed)
    expect(["Conflict", "Gone", "Skip"]).toContain(plan._tag)
    expect("command" in plan).toBe(false)
    if (desire._tag === "Present") expect(plan).toMatchObject({ _tag: "Conflict", reason: "SecretNotOwned" })
  })

  test.prop([secretDesire, observedSecret])("every write to an existing Secret is guarded by what was read", (desire, observed) => {
    const plan = planSecret(desire, observed)
    if (plan._tag !== "Apply" && plan._tag !== "Remove") return
    expect(isOurSecret(observed, ips)).toBe(true)
    const command = plan.command
    if (command._tag === "DeleteSecret") {
      expect(command).toMatchObject({ uid: "secret-uid", resourceVersion: observed.metadata.resourceVersion })
    } else if (command._tag === "PatchSecret") {
      expect(command.patch[0]).toEqual({ op: "replace", path: "/metadata/resourceVersion", value: observed.metadata.resourceVersion })
    } else {
      expect.unreachable(`an existing Secret must not be created: ${command._tag}`)
    }
  })

  test.prop([observedSecret])("our Secret is brought to the desired data and owner in place, keeping everything else", (observed) => {
    fc.pre(isOurSecret(observed, ips) && (observed.type === undefined || observed.type === dockerConfigJsonType))
    const desire: SecretDesire = { _tag: "Present", namespace: "ns", name: ours, credentials, owner }
    const plan = planSecret(desire, observed)
    const owned = observed.metadata.ownerReferences?.some((ref) => ref.uid === owner.uid) ?? false
    if (plan._tag === "InSync") {
      expect(observed.data).toEqual(data)
      expect(owned).toBe(true)
      return
    }
    expect(plan._tag).toBe("Apply")
    if (plan._tag !== "Apply" || plan.command._tag !== "PatchSecret") return expect.unreachable("a patch")
    const after = applyJsonPatch(observed, plan.command.patch) as ObservedSecret
    expect(after.data).toEqual(data)
    expect(after.metadata.labels).toEqual(observed.metadata.labels)
    expect(after.metadata.annotations).toEqual(observed.metadata.annotations)
    expect(after.metadata.ownerReferences?.filter((ref) => ref.kind !== owner.kind)).toEqual(
      observed.metadata.ownerReferences?.filter((ref) => ref.kind !== owner.kind)
    )
    expect(after.metadata.ownerReferences?.filter((ref) => ref.uid === owner.uid)).toHaveLength(1)
  })

  test("our Secret of the wrong type is deleted, to be created again (the type is immutable)", () => {
    const observed: ObservedSecret = {
      metadata: { name: ours, uid: "u1", resourceVersion: "7", labels: { [managedByLabel]: managedByValue }, annotations: { [ownerAnnotation]: ips } },
      type: "Opaque",
      data
    }
    expect(planSecret({ _tag: "Present", namespace: "ns", name: ours, credentials, owner }, observed)).toEqual({
      _tag: "Remove",
      command: { _tag: "DeleteSecret", namespace: "ns", name: ours, uid: "u1", resourceVersion: "7" }
    })
  })

  test("a missing Secret is created labelled, annotated, typed and owned", () => {
    const plan = planSecret({ _tag: "Present", namespace: "ns", name: ours, credentials, owner }, undefined)
    expect(plan).toEqual({
      _tag: "Apply",
      command: {
        _tag: "CreateSecret",
        namespace: "ns",
        body: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: {
            name: ours,
            namespace: "ns",
            labels: { [managedByLabel]: managedByValue },
            annotations: { [ownerAnnotation]: ips },
            ownerReferences: [{ ...owner, blockOwnerDeletion: false, controller: true }]
          },
          type: dockerConfigJsonType,
          data
        }
      }
    })
    expect(isOurSecret((plan as any).command.body, ips)).toBe(true)
  })

  test("nothing there and nothing wanted is gone; a skip is a skip whatever is there", () => {
    expect(planSecret({ _tag: "Absent", namespace: "ns", name: ours, ips }, undefined)).toEqual({ _tag: "Gone" })
    expect(planSecret({ _tag: "Skip", reason: "InvalidSpec", message: "m" }, undefined)).toEqual({ _tag: "Skip", reason: "InvalidSpec", message: "m" })
  })
})

// --- the ImagePullSecret's finalizer ---------------------------------------------------------------------------------------

const otherFinalizers = fc.array(fc.constantFrom<string>("example.com/a", "example.com/b", "foregroundDeletion"), { maxLength: 3 })

describe("planImagePullSecret", () => {
  test.prop([otherFinalizers, fc.nat(3), fc.boolean()])(
    "adds our finalizer once, after the others, and keeps it while the object lives",
    (others, at, listed) => {
      const metadata = { name: ips, resourceVersion: "5", ...(listed || others.length > 0 ? { finalizers: others } : {}) }
      const plan = planImagePullSecret({ metadata }, 0)
      expect(plan._tag).toBe("Apply")
      if (plan._tag !== "Apply" || plan.command._tag !== "PatchImagePullSecret") return
      expect(plan.command.patch[0]).toEqual({ op: "replace", path: "/metadata/resourceVersion", value: "5" })
      const after = applyJsonPatch({ metadata }, plan.command.patch) as { metadata: { finalizers: Array<string> } }
      expect(after.metadata.finalizers).toEqual([...others, finalizerName])
      const withOurs = [...others]
      withOurs.splice(Math.min(at, withOurs.length), 0, finalizerName)
      expect(planImagePullSecret({ metadata: { ...metadata, finalizers: withOurs } }, 0)).toEqual({ _tag: "InSync" })
    }
  )

  test.prop([otherFinalizers, fc.nat(3), fc.nat(5)])(
    "on deletion waits for every distributed object, then removes only our finalizer",
    (others, at, remaining) => {
      const finalizers = [...others]
      finalizers.splice(Math.min(at, finalizers.length), 0, finalizerName)
      const observed = { metadata: { name: ips, resourceVersion: "9", deletionTimestamp: "2024-01-01T00:00:00Z", finalizers } }
      const plan = planImagePullSecret(observed, remaining)
      if (remaining > 0) {
        expect(plan).toMatchObject({ _tag: "Wait", reason: "CleaningUp" })
        return
      }
      expect(plan._tag).toBe("Remove")
      if (plan._tag !== "Remove" || plan.command._tag !== "PatchImagePullSecret") return
      const after = applyJsonPatch(observed, plan.command.patch) as { metadata: { finalizers: Array<string> } }
      expect(after.metadata.finalizers).toEqual(others)
    }
  )

  test("an object that is gone, or deleting without our finalizer, needs nothing", () => {
    expect(planImagePullSecret(undefined, 3)).toEqual({ _tag: "Gone" })
    expect(planImagePullSecret({ metadata: { name: ips, deletionTimestamp: "2024-01-01T00:00:00Z", finalizers: ["example.com/a"] } }, 3)).toEqual({
      _tag: "Gone"
    })
  })
})

describe("a Secret the cache keeps as a digest of its data", () => {
  const withoutData = ({ data: kept, ...secret }: ObservedSecret): ObservedSecret => ({ ...secret, dataHash: secretDataHash(kept) })

  test.prop([observedSecret, fc.boolean()])("plans exactly as the whole Secret does", (observed, desired) => {
    const desire: SecretDesire = desired
      ? { _tag: "Present", namespace: "ns", name: ours, credentials, owner }
      : { _tag: "Absent", namespace: "ns", name: ours, ips }
    expect(planSecret(desire, withoutData(observed))).toEqual(planSecret(desire, observed))
  })

  test.prop([fc.dictionary(fc.string(), fc.string()), fc.dictionary(fc.string(), fc.string())])(
    "digests differ whenever the data differs",
    (a, b) => {
      const same = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())
      expect(secretDataHash(a) === secretDataHash(b)).toBe(same)
    }
  )
})

describe("the Secret data of Redacted credentials", () => {
  test("is the dockerconfigjson of the revealed password, built once per credentials object", () => {
    expect(data).toEqual(dockerConfigSecretData({ server: "registry.example.com", username: "puller", password: "s3cret" }))
    expect(secretDataOf(credentials)).toBe(data)
    expect(String(credentials.password)).not.toContain("s3cret")
    expect(JSON.stringify(credentials)).not.toContain("s3cret")
  })
})
