// The lifecycle of one target as an xstate machine. It is used only as pure logic, stepped by `stepTarget`: the
// machine decides (which state, whether to execute the planned request, refresh a stale read or a conflict, back off,
// stop until something changes, or wait for a namespace being deleted) and the interpreter executes the one request
// asked for and feeds the outcome back as an event. One Busy state holds the request in flight; its substate names
// it (Applying, Removing) for status; a reconcile that ends before sending it says so (POSTPONED), and nothing is in
// flight any more. Removed is final: the registry forgets the target.
import { backoffDelay, targetBackoff } from "@tcr-assistant/kube/backoff"
import { Duration } from "effect"
import {
  type ActorScope,
  and,
  assign,
  createActor,
  type ExecutableActionObject,
  initialTransition,
  not,
  setup,
  type SnapshotFrom
} from "xstate"
import type { Command, Plan } from "./plan.ts"

/** The states a target reports; Applying and Removing are the machine's one Busy state, named by its request. */
export type TargetState =
  | "Pending"
  | "Applying"
  | "Ready"
  | "BackingOff"
  | "Failed"
  | "Skipped"
  | "Conflict"
  | "Removing"
  | "Removed"

export type TargetEvent =
  /** A reconcile of the target begins, before anything is planned. */
  | { readonly type: "RECONCILING"; readonly now: number }
  /**
   * The policy's verdict on the current observation; `basis` names what it was computed from (the spec's generation,
   * the target object's revision), so that a request that cannot succeed is not sent again until one of them changes.
   */
  | { readonly type: "PLANNED"; readonly plan: Plan; readonly basis: string; readonly now: number }
  | { readonly type: "SUCCEEDED"; readonly now: number }
  /** The request lost a race (409): read again before the next plan. */
  | { readonly type: "STALE"; readonly now: number }
  | { readonly type: "FAILED"; readonly retryable: boolean; readonly reason: string; readonly message: string; readonly now: number }
  /** The request met a namespace being deleted: nothing can be written there until it is gone. */
  | { readonly type: "NAMESPACE_TERMINATING"; readonly now: number }
  /** The reconcile ends (its steps for this turn are used) before sending the request asked for: none is in flight. */
  | { readonly type: "POSTPONED"; readonly now: number }

export interface TargetContext {
  /** Consecutive failed attempts; drives the backoff. */
  readonly attempts: number
  readonly reason: string | undefined
  readonly message: string | undefined
  /** When the externally visible state last changed (epoch ms); in Failed, when the request was refused. */
  readonly since: number
  /** The basis of the last request planned: a Failed target waits for a plan on another basis. */
  readonly basis: string | undefined
}

export type TargetAction =
  | { readonly type: "execute"; readonly command: Command }
  | { readonly type: "refresh" }
  | { readonly type: "retryAfter"; readonly millis: number }

export const backoffBaseMillis = Duration.toMillis(Duration.fromInputUnsafe(targetBackoff.base))
export const backoffCapMillis = Duration.toMillis(Duration.fromInputUnsafe(targetBackoff.cap))

/**
 * A request refused for good is sent again after this long all the same (jittered over its upper half, like every
 * delay): granting a missing RBAC rule or removing an admission policy changes neither the spec nor the object.
 */
export const failedRecheckMillis = Duration.toMillis(Duration.minutes(10))

/** The capped exponential delay (the kube package's one backoff) after `attempts` failures; the interpreter adds jitter. */
export const backoffMillis = (attempts: number) => Duration.toMillis(backoffDelay(targetBackoff, attempts))

export const targetMachine = setup({
  types: {
    context: {} as TargetContext,
    events: {} as TargetEvent,
    input: {} as { readonly now: number }
  },
  guards: {
    planIs: ({ event }, tag: Plan["_tag"]) => event.type === "PLANNED" && event.plan._tag === tag,
    /** The same request, planned from the same observation as the one that failed for good. */
    sameRequestAsFailed: ({ context, event }) =>
      event.type === "PLANNED" && (event.plan._tag === "Apply" || event.plan._tag === "Remove") && event.basis === context.basis,
    /** The slow re-check of a refused request is due: the earliest its jittered delay can bring it back. */
    recheckDue: ({ context, event }) => event.now - context.since >= failedRecheckMillis / 2,
    retryable: ({ event }) => event.type === "FAILED" && event.retryable
  },
  actions: {
    // Effect-free markers: the interpreter reads them from `transition` and performs them.
    execute: () => {},
    refresh: () => {},
    retryAfter: () => {},
    retryLater: () => {},
    recheckLater: () => {},
    settle: assign(({ event }) => ({ attempts: 0, reason: undefined, message: undefined, since: event.now })),
    clearNote: assign(({ event }) => ({ reason: undefined, message: undefined, since: event.now })),
    noteRequest: assign(({ event }) => ({
      reason: undefined,
      message: undefined,
      since: event.now,
      basis: event.type === "PLANNED" ? event.basis : undefined
    })),
    notePlan: assign(({ event }) =>
      event.type === "PLANNED" && "reason" in event.plan
        ? { reason: event.plan.reason, message: event.plan.message, since: event.now }
        : { since: event.now }
    ),
    resetAttempts: assign({ attempts: 0 }),
    countFailure: assign(({ context, event }) =>
      event.type === "FAILED"
        ? { attempts: context.attempts + 1, reason: event.reason, message: event.message, since: event.now }
        : {}
    ),
    noteTerminating: assign(({ event }) => ({
      attempts: 0,
      reason: "NamespaceTerminating",
      message: "the namespace is being deleted",
      since: event.now
    }))
  }
}).createMachine({
  id: "target",
  // `transition` builds its throwaway actor without input: tolerate that, or each step pays for a caught exception.
  context: ({ input }) => ({ attempts: 0, reason: undefined, message: undefined, since: input?.now ?? 0, basis: undefined }),
  initial: "Pending",
  // A new observation can arrive in any state except while a request is in flight.
  on: {
    PLANNED: [
      { guard: { type: "planIs", params: "InSync" }, target: ".Ready", actions: "settle" },
      { guard: { type: "planIs", params: "Gone" }, target: ".Removed", actions: "clearNote" },
      { guard: { type: "planIs", params: "Wait" }, target: ".Pending", actions: "notePlan" },
      { guard: { type: "planIs", params: "Skip" }, target: ".Skipped", actions: "notePlan" },
      { guard: { type: "planIs", params: "Conflict" }, target: ".Conflict", actions: ["notePlan", "retryLater"] },
      { guard: { type: "planIs", params: "Apply" }, target: ".Busy.Applying", actions: ["noteRequest", "execute"] },
      { guard: { type: "planIs", params: "Remove" }, target: ".Busy.Removing", actions: ["noteRequest", "execute"] }
    ]
  },
  states: {
    Pending: {},
    // Found in sync again (the re-plan after every watch event of its object): nothing changes, so no step is taken.
    Ready: { on: { PLANNED: { guard: { type: "planIs", params: "InSync" } } } },
    Skipped: {},
    // Someone else's object, which we do not watch: look at it again whenever the target is reconciled.
    Conflict: { on: { RECONCILING: { actions: "refresh" } } },
    BackingOff: {},
    // The apiserver refused the request for good (403 Forbidden, 422 Invalid): sending it again soon cannot help. Any
    // other plan proceeds; the same request waits for a new spec generation, a change to the target object, or the
    // slow re-check (a permission granted since changes neither), which it asks for again until it is due.
    Failed: { on: { PLANNED: { guard: and(["sameRequestAsFailed", not("recheckDue")]), actions: "recheckLater" } } },
    Removed: { type: "final" },
    // One request in flight; the substate only names it for status. New plans wait for its outcome.
    Busy: {
      on: {
        PLANNED: {},
        SUCCEEDED: { target: "Pending", actions: "resetAttempts" },
        STALE: { target: "Pending", actions: "refresh" },
        FAILED: [
          { guard: "retryable", target: "BackingOff", actions: ["countFailure", "retryAfter"] },
          { target: "Failed", actions: ["countFailure", "recheckLater"] }
        ],
        NAMESPACE_TERMINATING: { target: "Skipped", actions: "noteTerminating" },
        POSTPONED: { target: "Pending" }
      },
      // Entered only through .Busy.Applying or .Busy.Removing; xstate asks for an initial substate regardless.
      initial: "Applying",
      states: {
        Applying: {},
        Removing: {}
      }
    }
  }
})

export type TargetSnapshot = SnapshotFrom<typeof targetMachine>

// Every transition out of the initial state stamps `since`, so one initial snapshot serves every target; building
// it per target costs more than the rest of a reconcile.
const sharedInitial = initialTransition(targetMachine, { now: 0 })[0]

export const initialTarget = (): TargetSnapshot => sharedInitial

/** Translate the machine's markers into the work the interpreter does for this event. */
const workFor = (
  markers: ReadonlyArray<{ readonly type: string }>,
  event: TargetEvent,
  next: TargetSnapshot
): ReadonlyArray<TargetAction> => {
  const todo: Array<TargetAction> = []
  for (const marker of markers) {
    switch (marker.type) {
      case "execute":
        if (event.type === "PLANNED" && (event.plan._tag === "Apply" || event.plan._tag === "Remove")) {
          todo.push({ type: "execute", command: event.plan.command })
        }
        break
      case "refresh":
        todo.push({ type: "refresh" })
        break
      case "retryAfter":
        todo.push({ type: "retryAfter", millis: backoffMillis(next.context.attempts) })
        break
      case "retryLater":
        // A conflict is resolved by someone else's change to an object we do not watch: look again now and then.
        todo.push({ type: "retryAfter", millis: backoffCapMillis })
        break
      case "recheckLater":
        todo.push({ type: "retryAfter", millis: failedRecheckMillis })
        break
    }
  }
  return todo
}

/**
 * The actor scope of every step. xstate's pure `transition(machine, snapshot, event)` builds a throwaway actor per
 * call, whose constructor computes a whole initial snapshot: in the 1000-namespace convergence bench that was a
 * quarter of the bytes the controller allocated (a sampling heap profile), with GC 30% of its CPU. This
 * calls the same method `transition` calls, the ActorLogic contract's `machine.transition(snapshot, event, scope)`,
 * with one scope, typed as xstate declares it, whose action executor only collects the markers. The machine spawns
 * nothing, emits nothing and defers nothing, so nothing else in the scope is ever used; a property test checks that
 * every step agrees with `transition`.
 */
let collected: Array<ExecutableActionObject> = []
const scopeActor = createActor(targetMachine, { input: { now: 0 } })
const stepScope: ActorScope<TargetSnapshot, TargetEvent> = {
  self: scopeActor,
  id: "",
  sessionId: "",
  logger: () => {},
  defer: () => {},
  emit: () => {},
  system: scopeActor.system,
  stopChild: () => {},
  actionExecutor: (action) => void collected.push(action)
}

/** One macrostep of the machine through the shared scope: what `transition(targetMachine, snapshot, event)` returns. */
export const machineStep = (snapshot: TargetSnapshot, event: TargetEvent): readonly [TargetSnapshot, ReadonlyArray<ExecutableActionObject>] => {
  collected = []
  const next = targetMachine.transition(snapshot, event, stepScope)
  return [next, collected]
}

/** Apply one event; returns the next snapshot and what the interpreter must do, in order. */
export const stepTarget = (
  snapshot: TargetSnapshot,
  event: TargetEvent
): readonly [TargetSnapshot, ReadonlyArray<TargetAction>] => {
  // An actor takes no event once done; `transition` leaves that to its caller. An event no transition takes (most
  // RECONCILINGs, plans while Busy) changes nothing: `can` answers that without stepping.
  if (snapshot.status === "done" || !snapshot.can(event)) return [snapshot, []]
  const [stepped, markers] = machineStep(snapshot, event)
  // `since` is when the visible state last changed: a plan that leaves state and reason as they were (a conflict's
  // periodic re-check, a re-plan of a ready target) must not move it.
  const unchanged = targetState(stepped) === targetState(snapshot) && stepped.context.reason === snapshot.context.reason &&
    stepped.context.message === snapshot.context.message
  const next = unchanged && stepped.context.since !== snapshot.context.since
    ? targetMachine.resolveState({ value: stepped.value, context: { ...stepped.context, since: snapshot.context.since } })
    : stepped
  return [next, workFor(markers, event, next)]
}

export const targetState = (snapshot: TargetSnapshot): TargetState => {
  const value = snapshot.value
  return typeof value === "string" ? value : value.Busy
}
