// TcrApi options from the environment: the endpoint override and the proxy the conventional variables ask for,
// with NO_PROXY honoured (which the SDK itself does not do).
import { Config, Layer, Option } from "effect"
import { TcrApi, type TcrApiOptions, type TcrConfigError } from "./tcr-api.ts"
import { defaultTcrEndpoint, parseEndpoint } from "./tcr-transport.ts"

/** Whether a NO_PROXY list (comma or space separated; `*`, `host`, `.domain`, `host:port`) exempts this host. */
export const exemptFromProxy = (hostname: string, noProxy: string): boolean =>
  noProxy
    .split(/[\s,]+/)
    .map((entry) => entry.trim().toLowerCase().replace(/:\d+$/, ""))
    .filter((entry) => entry.length > 0)
    .some((entry) => {
      if (entry === "*") return true
      const domain = entry.startsWith("*.") ? entry.slice(2) : entry.startsWith(".") ? entry.slice(1) : entry
      return hostname === domain || hostname.endsWith(`.${domain}`)
    })

const optionalString = (name: string) =>
  Config.option(Config.String(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

/**
 * TCR_API_ENDPOINT (default https://tcr.tencentcloudapi.com); HTTPS_PROXY / https_proxy for an https endpoint,
 * HTTP_PROXY / http_proxy for an http one; NO_PROXY / no_proxy exemptions.
 */
export const tcrApiOptionsConfig: Config.Config<TcrApiOptions> = Config.all({
  endpoint: optionalString("TCR_API_ENDPOINT"),
  httpsProxy: Config.all([optionalString("HTTPS_PROXY"), optionalString("https_proxy")]),
  httpProxy: Config.all([optionalString("HTTP_PROXY"), optionalString("http_proxy")]),
  noProxy: Config.all([optionalString("NO_PROXY"), optionalString("no_proxy")])
}).pipe(
  Config.map(({ endpoint, httpsProxy, httpProxy, noProxy }) => {
    const endpointUrl = Option.getOrElse(endpoint, () => defaultTcrEndpoint)
    const parsed = parseEndpoint(endpointUrl)
    const first = (pair: readonly [Option.Option<string>, Option.Option<string>]) =>
      Option.getOrUndefined(Option.orElse(pair[0], () => pair[1]))
    if (typeof parsed === "string") return { endpoint: endpointUrl }
    const proxy = first(parsed.protocol === "https://" ? httpsProxy : httpProxy)
    const exempt = parsed.loopback || exemptFromProxy(parsed.hostname, first(noProxy) ?? "")
    return { endpoint: endpointUrl, proxy: exempt ? undefined : proxy }
  })
)

/** TcrApi configured from the environment (see {@link tcrApiOptionsConfig}). */
export const tcrApiLayerFromEnv: Layer.Layer<TcrApi, TcrConfigError | Config.ConfigError> = Layer.unwrap(
  Config.map(tcrApiOptionsConfig, (options) => TcrApi.layerWith(options))
)
