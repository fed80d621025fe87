// What one ImagePullSecret asks for, decoded once per change of the object: selectors, where the credentials come
// from (inline ones Redacted), the owner reference of its Secrets, or the violations that make it unusable.
import {
  apiVersion,
  checkImagePullSecret,
  kind,
  managedSecretName,
  type Selection,
  selectionOf,
  type Selector,
  type SourceSecretRef,
  type TcrSource,
  type Violation
} from "@tcr-assistant/api"
import { Redacted } from "effect"
import type { OwnerRef } from "./plan.ts"

/** What decoding reads of an ImagePullSecret: the informer's view (cluster-objects.ts) satisfies it. */
export interface RawImagePullSecret {
  readonly metadata: {
    readonly name: string
    readonly uid?: string
    readonly generation?: number
    readonly resourceVersion?: string
    readonly deletionTimestamp?: string
    readonly finalizers?: ReadonlyArray<string>
  }
  readonly spec?: unknown
}

/**
 * One registry's credentials as the controller carries them: the password stays Redacted until the Secret body is
 * built (`secretDataOf` in plan.ts), so that no log, event or status can show it by accident.
 */
export interface RegistryCredentials {
  readonly server: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

export interface Distribution {
  readonly name: string
  readonly generation: number
  readonly deleting: boolean
  readonly secretName: string
  readonly owner: OwnerRef
  /** Empty when the spec is usable. */
  readonly violations: ReadonlyArray<Violation>
  readonly namespaces: Selector
  readonly serviceAccounts: Selector
  /** The whole selection: the lists above with the label selector, the exclusions and the opt-out label. */
  readonly selection: Selection
  /** Where the credentials come from: inline, or minted from a TCR instance (then the Secret waits for a token). */
  readonly source:
    | { readonly _tag: "Docker" }
    | { readonly _tag: "Tcr"; readonly tcr: TcrSource; readonly fingerprint: string }
    // Credentials by reference: the Secret waits for the watched source Secret (see source-secrets.ts).
    | { readonly _tag: "SecretRef"; readonly secretRef: SourceSecretRef; readonly fingerprint: string }
  /** The inline credentials (spec.docker), present only when the spec is valid. */
  readonly credentials: RegistryCredentials | undefined
}

/** Validate the object once, and carry the spec validation decoded (never the raw one) into what is distributed. */
export const toDistribution = (object: RawImagePullSecret): Distribution => {
  const validation = checkImagePullSecret(object)
  const spec = validation._tag === "Valid" ? validation.spec : undefined
  const selection = selectionOf(spec ?? {})
  const uid = object.metadata.uid ?? ""
  return {
    name: object.metadata.name,
    generation: object.metadata.generation ?? 0,
    deleting: object.metadata.deletionTimestamp !== undefined,
    secretName: managedSecretName(object.metadata.name),
    owner: { apiVersion, kind, name: object.metadata.name, uid },
    violations: validation._tag === "Invalid" ? validation.violations : [],
    namespaces: selection.namespaces,
    serviceAccounts: selection.serviceAccounts,
    selection,
    source: spec?.tcr !== undefined
      ? { _tag: "Tcr", tcr: spec.tcr, fingerprint: `${uid}:${JSON.stringify(spec.tcr)}` }
      : spec?.secretRef !== undefined
      ? { _tag: "SecretRef", secretRef: spec.secretRef, fingerprint: `${uid}:${JSON.stringify(spec.secretRef)}` }
      : { _tag: "Docker" },
    credentials: spec?.docker === undefined
      ? undefined
      : { server: spec.docker.server, username: spec.docker.username, password: Redacted.make(spec.docker.password) }
  }
}
