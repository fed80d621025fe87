// What one ImagePullSecret asks for, decoded once per change of the object: selectors, the Secret payload and its
// owner reference, or the violations that make it unusable.
import {
  apiVersion,
  dockerConfigSecretData,
  kind,
  managedSecretName,
  parseSelector,
  type Selection,
  selectionOf,
  type SelectionSpec,
  type Selector,
  type SourceSecretRef,
  type TcrSource,
  validateImagePullSecret,
  type Violation
} from "@tcr-assistant/api"
import type { OwnerRef } from "./plan.ts"

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
  readonly status?: unknown
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
  /** Where the credentials come from: inline, or minted from a TCR instance (then `data` waits for a token). */
  readonly source:
    | { readonly _tag: "Docker" }
    | { readonly _tag: "Tcr"; readonly tcr: TcrSource; readonly fingerprint: string }
    // Credentials by reference: `data` waits for the watched Secret (see source-secrets.ts).
    | { readonly _tag: "SecretRef"; readonly secretRef: SourceSecretRef; readonly fingerprint: string }
  /** The Secret `data` of inline credentials, present only when the spec is valid. */
  readonly data: Readonly<Record<string, string>> | undefined
}

export const toDistribution = (object: RawImagePullSecret): Distribution => {
  const violations = validateImagePullSecret(object)
  const spec = (object.spec ?? {}) as SelectionSpec & {
    docker?: { server: string; username: string; password: string }
    tcr?: TcrSource
    secretRef?: SourceSecretRef
  }
  return {
    name: object.metadata.name,
    generation: object.metadata.generation ?? 0,
    deleting: object.metadata.deletionTimestamp !== undefined,
    secretName: managedSecretName(object.metadata.name),
    owner: { apiVersion, kind, name: object.metadata.name, uid: object.metadata.uid ?? "" },
    violations,
    namespaces: parseSelector(spec.namespaces),
    serviceAccounts: parseSelector(spec.serviceAccounts),
    selection: selectionOf(violations.length === 0 ? spec : {}),
    source: spec.tcr !== undefined && violations.length === 0
      ? { _tag: "Tcr", tcr: spec.tcr, fingerprint: `${object.metadata.uid ?? ""}:${JSON.stringify(spec.tcr)}` }
      : spec.secretRef !== undefined && violations.length === 0
      ? { _tag: "SecretRef", secretRef: spec.secretRef, fingerprint: `${object.metadata.uid ?? ""}:${JSON.stringify(spec.secretRef)}` }
      : { _tag: "Docker" },
    data: violations.length === 0 && spec.docker !== undefined ? dockerConfigSecretData(spec.docker) : undefined
  }
}
