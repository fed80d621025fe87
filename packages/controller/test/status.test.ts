// Status aggregation on its own: counts, the bounded list of targets that are not ready (failing first), counts per
// state, and a Ready condition with observedGeneration that keeps its transition time while its status holds.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { type Distribution, toDistribution } from "../src/distribution.ts"
import { aggregateStatus, type StatusInput, type TargetView } from "../src/status.ts"

const docker = { server: "registry.example.com", username: "robot", password: "s3cret-PASS" }

const distribution = (spec: Record<string, unknown> = { namespaces: "*", docker }, extra: Record<string, unknown> = {}): Distribution =>
  toDistribution({ metadata: { name: "alpha", uid: "uid-1", generation: 4, ...extra }, spec })

const view = (kind: TargetView["kind"], namespace: string, state: TargetView["state"], reason?: string): TargetView => ({
  kind,
  namespace,
  name: kind === "Secret" ? "tcr.ipsalpha" : "default",
  state,
  reason,
  message: reason === undefined ? undefined : `because ${reason}`,
  since: Date.UTC(2024, 0, 2, 3, 4, 5, 678)
})

const input = (overrides: Partial<StatusInput> = {}): StatusInput => ({
  distribution: distribution(),
  secretsDesired: 2,
  serviceAccountsDesired: 2,
  targets: [],
  previous: undefined,
  now: new Date(Date.UTC(2024, 5, 1, 12, 0, 0, 999)),
  maxTargets: 20,
  ...overrides
})

const ready = (status: ReturnType<typeof aggregateStatus>) => status.conditions?.find((condition) => condition.type === "Ready")

describe("token expiry", () => {
  test("the distributed token's expiry, to the second, only when it is known", () => {
    expect(aggregateStatus(input({ tokenExpiresAt: new Date("2036-01-02T03:04:05.678Z") })).tokenExpiresAt).toBe("2036-01-02T03:04:05Z")
    expect(aggregateStatus(input())).not.toHaveProperty("tokenExpiresAt")
  })
})

describe("counts", () => {
  test("Ready targets count as successes by kind; the rest are listed, failing first, then by place", () => {
    const status = aggregateStatus(input({
      targets: [
        view("Secret", "a", "Ready"),
        view("ServiceAccount", "a", "Ready"),
        view("Secret", "c", "Pending", "WaitingForSecret"),
        view("Secret", "b", "Conflict", "SecretNotOwned"),
        view("ServiceAccount", "b", "BackingOff", "KubeUnavailable"),
        view("ServiceAccount", "a", "Skipped", "NamespaceTerminating")
      ]
    }))
    expect(status).toMatchObject({
      observedGeneration: 4,
      secretsDesired: 2,
      secretsSuccess: 1,
      serviceAccountsDesired: 2,
      serviceAccountsSuccess: 1,
      targetsByState: { Ready: 2, Pending: 1, Conflict: 1, BackingOff: 1, Skipped: 1 },
      targetsOmitted: 0
    })
    expect(status.targets?.map((t) => `${t.state} ${t.namespace}`)).toEqual(["BackingOff b", "Conflict b", "Skipped a", "Pending c"])
    expect(status.targets?.[0]).toEqual({
      kind: "ServiceAccount",
      namespace: "b",
      name: "default",
      state: "BackingOff",
      reason: "KubeUnavailable",
      message: "because KubeUnavailable",
      lastTransitionTime: "2024-01-02T03:04:05Z"
    })
  })

  const state = fc.constantFrom<TargetView["state"]>("Pending", "Applying", "Ready", "BackingOff", "Skipped", "Conflict", "Removing")
  const target = fc
    .record({ kind: fc.constantFrom<TargetView["kind"]>("Secret", "ServiceAccount"), namespace: fc.stringMatching(/^[a-z]{1,3}$/), state })
    .map(({ kind, namespace, state }) => view(kind, namespace, state))

  test.prop([fc.array(target, { maxLength: 60 }), fc.integer({ min: 0, max: 10 })])(
    "every target is counted once, and the listing is bounded with the rest counted as omitted",
    (targets, maxTargets) => {
      const status = aggregateStatus(input({ targets, maxTargets }))
      const notReady = targets.filter((t) => t.state !== "Ready").length
      expect(Object.values(status.targetsByState ?? {}).reduce((a, b) => a + b, 0)).toBe(targets.length)
      expect((status.secretsSuccess ?? 0) + (status.serviceAccountsSuccess ?? 0) + notReady).toBe(targets.length)
      expect(status.targets?.length).toBe(Math.min(maxTargets, notReady))
      expect((status.targets?.length ?? 0) + (status.targetsOmitted ?? 0)).toBe(notReady)
      const failing = (s: string) => s === "BackingOff" || s === "Conflict"
      const listed = status.targets ?? []
      // Failing targets come first, so a bounded list never hides a failure behind work in progress.
      for (let i = 1; i < listed.length; i++) expect(failing(listed[i]!.state) && !failing(listed[i - 1]!.state)).toBe(false)
    }
  )
})

describe("the Ready condition", () => {
  test("Distributed when every desired target is done", () => {
    const condition = ready(aggregateStatus(input({
      secretsDesired: 1,
      serviceAccountsDesired: 1,
      targets: [view("Secret", "a", "Ready"), view("ServiceAccount", "a", "Ready")]
    })))
    expect(condition).toMatchObject({ type: "Ready", status: "True", reason: "Distributed", observedGeneration: 4 })
    expect(condition?.message).toBe("Secret ready in 1 namespaces, referenced by 1 ServiceAccounts")
  })

  test("Progressing while work remains, TargetsFailing when a target fails or conflicts", () => {
    expect(ready(aggregateStatus(input({ targets: [view("Secret", "a", "Ready"), view("Secret", "b", "Applying")] })))).toMatchObject({
      status: "False",
      reason: "Progressing",
      message: "1/2 Secrets and 0/2 ServiceAccounts done"
    })
    expect(ready(aggregateStatus(input({ targets: [view("Secret", "b", "Conflict", "SecretNotOwned")] })))).toMatchObject({
      status: "False",
      reason: "TargetsFailing"
    })
  })

  test("InvalidSpec names the fields at fault and never the credentials", () => {
    const status = aggregateStatus(input({ distribution: distribution({ namespaces: "ok,Not_A_Namespace", docker: { ...docker, server: "https://x" } }) }))
    const condition = ready(status)
    expect(condition).toMatchObject({ status: "False", reason: "InvalidSpec", observedGeneration: 4 })
    expect(condition?.message).toContain("spec.namespaces")
    expect(condition?.message).toContain("spec.docker.server")
    expect(JSON.stringify(status)).not.toContain(docker.password)
  })

  test("Deleting while the object is being deleted, TokenUnavailable when the registry token cannot be had", () => {
    expect(ready(aggregateStatus(input({ distribution: distribution(undefined, { deletionTimestamp: "2024-01-01T00:00:00Z" }) })))).toMatchObject({
      status: "False",
      reason: "Deleting"
    })
    expect(ready(aggregateStatus(input({ credentialProblem: "AuthFailure" })))).toMatchObject({
      status: "False",
      reason: "TokenUnavailable",
      message: "cannot obtain a registry token: AuthFailure"
    })
  })

  test("keeps its lastTransitionTime while its status holds, and takes the current time when it changes", () => {
    const done = { secretsDesired: 1, serviceAccountsDesired: 0, targets: [view("Secret", "a", "Ready")] }
    const first = aggregateStatus(input(done))
    expect(ready(first)?.lastTransitionTime).toBe("2024-06-01T12:00:00Z")
    const later = aggregateStatus(input({ ...done, previous: first, now: new Date(Date.UTC(2024, 6, 1)) }))
    expect(ready(later)?.lastTransitionTime).toBe("2024-06-01T12:00:00Z")
    const broken = aggregateStatus(input({
      secretsDesired: 1,
      serviceAccountsDesired: 0,
      targets: [view("Secret", "a", "BackingOff")],
      previous: later,
      now: new Date(Date.UTC(2024, 7, 1))
    }))
    expect(ready(broken)).toMatchObject({ status: "False", lastTransitionTime: "2024-08-01T00:00:00Z" })
  })
})
