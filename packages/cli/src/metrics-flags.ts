// Owns the flags of the /metrics endpoint, the same on every long-running program: HTTPS with apiserver
// authentication and authorization by default (kubebuilder's --metrics-secure), or plain HTTP beside the probes.
import { Option } from "effect"
import { Flag } from "effect/cli"
import { optionalWithShownDefault, withShownDefault } from "./flag-default.ts"

export const metricsFlags = {
  metricsSecure: Flag.Boolean("metrics-secure").pipe(
    withShownDefault(
      "Serve /metrics over HTTPS to callers the apiserver authorizes (TokenReview, then SubjectAccessReview for get on /metrics); " +
        "--metrics-secure=false serves it over plain HTTP beside the probes",
      true
    )
  ),
  metricsHost: Flag.String("metrics-host").pipe(optionalWithShownDefault("Address of the secure /metrics server", "0.0.0.0")),
  metricsPort: Flag.Int("metrics-port").pipe(optionalWithShownDefault("Port of the secure /metrics server", "8443"))
}

/** The programs' `metrics` option from the flags above. */
export const metricsOptions = (flags: {
  readonly metricsSecure: boolean
  readonly metricsHost: Option.Option<string>
  readonly metricsPort: Option.Option<number>
}) => ({ secure: flags.metricsSecure, host: Option.getOrUndefined(flags.metricsHost), port: Option.getOrUndefined(flags.metricsPort) })
