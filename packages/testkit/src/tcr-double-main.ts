// Owns `npm run tcr-double`: the TCR API double in the foreground with the sample instance (tcr-double-sample.ts),
// printing the environment that points tcr-assistant at it, and one line per API call, until Ctrl-C.
import { renameSync, rmSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { type RecordedCall, startTcrDouble, type TcrDouble } from "./tcr-double.ts"
import { seedDemoInstance } from "./tcr-double-sample.ts"

const usage = `Usage: npm run tcr-double -- [--port <port>] [--env-out <file>]

Starts a local stand-in for the Tencent Cloud TCR API on 127.0.0.1 (the real protocol and TC3 signatures) with a
sample TCR Enterprise instance, and prints the environment that points tcr-assistant at it. Ctrl-C stops it.
  --port <port>      port on 127.0.0.1 (default: a free one)
  --env-out <file>   also write the environment to <file>, for \`source <file>\` (removed again on exit)`

/** A value in single quotes, safe for any POSIX shell. */
const shellQuote = (value: string): string => `'${value.replaceAll("'", `'"'"'`)}'`

/** What tcr-assistant reads: the endpoint override and the key pair (no session token: the double wants none). */
export const demoEnvironment = (double: TcrDouble): ReadonlyArray<readonly [string, string]> => [
  ["TCR_API_ENDPOINT", double.endpoint],
  ["TENCENTCLOUD_SECRET_ID", double.secretId],
  ["TENCENTCLOUD_SECRET_KEY", double.secretKey],
  ["TENCENTCLOUD_SESSION_TOKEN", ""]
]

const exportLines = (environment: ReadonlyArray<readonly [string, string]>): string =>
  environment.map(([name, value]) => `export ${name}=${shellQuote(value)}\n`).join("")

/** Written under a temporary name first, so that a script polling for the file never reads half of it. */
const writeAtomically = (path: string, text: string) => {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, text, { mode: 0o600 })
  renameSync(temporary, path)
}

const describeCall = (call: RecordedCall): string =>
  `${new Date().toISOString()} ${call.action} ${call.region} ${call.errorCode ?? "ok"}`

const main = async () => {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      "env-out": { type: "string" },
      help: { type: "boolean", short: "h", default: false }
    }
  })
  if (values.help) {
    console.log(usage)
    return
  }
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`error: --port must be a port number, not ${values.port}\n\n${usage}`)
    process.exit(2)
  }
  const envOut = values["env-out"] === undefined ? undefined : resolve(values["env-out"])

  const double = await startTcrDouble({ port, onCall: (call) => console.log(describeCall(call)) })
  const instance = seedDemoInstance(double)
  const environment = exportLines(demoEnvironment(double))
  if (envOut !== undefined) writeAtomically(envOut, environment)

  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    if (envOut !== undefined) rmSync(envOut, { force: true })
    void double.close().then(() => process.exit(signal === "SIGINT" ? 130 : 143))
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)

  const links = instance.vpcLinks.map((link) => `${link.vpcId} ${link.accessIp} ${link.status}`).join(", ")
  console.log(`TCR API double on ${double.endpoint}, API version 2019-09-24, account ${double.uin}
instance:   ${instance.id} (${instance.name}, ${instance.region}, ${instance.status})
domains:    ${instance.defaultDomain}, ${instance.privateDomain} (private DNS on in ${instance.vpcLinks[0]?.vpcId}), custom ${
    instance.customDomains.map((domain) => domain.domain).join(", ")
  }
VPC links:  ${links}

Point tcr-assistant at it${envOut === undefined ? "" : ` (also written to ${envOut}: source it)`}:
${environment}
Press Ctrl-C to stop. API calls:`)
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
