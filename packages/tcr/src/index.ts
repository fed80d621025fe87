// The public surface of @tcr-assistant/tcr: the TcrApi service, its credentials, typed errors and domain helpers.
export * from "./tcr-api.ts"
export * from "./tcr-credentials.ts"
export * from "./tcr-domains.ts"
export * from "./tcr-errors.ts"
export { defaultRetryPolicy, type TcrRetryPolicy } from "./tcr-retry.ts"
export { defaultTcrEndpoint } from "./tcr-transport.ts"
export { type TokenType, tcrApiVersion } from "./tcr-wire.ts"
export * from "./tcr-api-config.ts"
