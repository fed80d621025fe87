// Owns the flags of the /metrics endpoint, the same on every long-running program: HTTPS with apiserver
// authentication and authorization by default (kubebuilder's --metrics-secure), or plain HTTP beside the probes.
import { Option } from "effect"
import { Flag } from "effect/cli"

export const metricsFlags = {
  metricsSecure: Flag.Boolean("metrics-secure").pipe(
    Flag.withDescription(
      "Serve /metrics over HTTPS to callers the apiserver authorizes (TokenReview, then SubjectAccessReview for get on /metrics); " +
        "--metrics-secure=false serves it over plain HTTP beside the probes"
    ),
    Flag.withDefault(true)
  ),
  metricsHost: Flag.String("metrics-host").pipe(Flag.withDescription("Address of the secure /metrics server (default 0.0.0.0)"), Flag.optional),
  metricsPort: Flag.Int("metrics-port").pipe(Flag.withDescription("Port of the secure /metrics server (default 8443)"), Flag.optional)
}

/** The programs' `metrics` option from the flags above. */
export const metricsOptions = (flags: {
  readonly metricsSecure: boolean
  readonly metricsHost: Option.Option<string>
  readonly metricsPort: Option.Option<number>
}) => ({ secure: flags.metricsSecure, host: Option.getOrUndefined(flags.metricsHost), port: Option.getOrUndefined(flags.metricsPort) })
