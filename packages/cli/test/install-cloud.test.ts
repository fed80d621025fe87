// install's questions to Tencent Cloud, asked through the real SDK of the TCR service against the TCR API double:
// whether the VPC already resolves each domain privately (and what `--private-resolution auto` makes of the
// answer), what a CAM denial turns into, and how the user's own password is read (never from the command line).
import { assert, describe, it } from "@effect/vitest"
import { TcrApi, type TcrCredentials, TcrCredentials as Credentials } from "@tcr-assistant/tcr"
import { type TcrDouble, tcrDoubleScoped } from "@tcr-assistant/testkit/tcr-double"
import { demoInstanceId, demoRegion, demoVpcId, seedDemoInstance } from "@tcr-assistant/testkit/tcr-double-sample"
import { Context, Effect, Layer, Result } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { tcrFailure } from "../src/addon-failure.ts"
import { type InstallOptions, type InstallPlan, planInstall } from "../src/addon-plan.ts"
import { readPrivateDns } from "../src/install.ts"

const options = (overrides: Partial<InstallOptions> = {}): InstallOptions => ({
  region: demoRegion,
  instanceId: demoInstanceId,
  clusterId: "cls-demo0001",
  namespaces: "*",
  serviceAccounts: "*",
  description: undefined,
  privateResolution: "auto",
  vpcId: undefined,
  domains: { default: true, private: true, custom: "all" },
  ...overrides
})

/** The sample account in a fresh double, and a TcrApi pointed at it. */
const setup = Effect.fnUntraced(function*() {
  const double = yield* tcrDoubleScoped()
  seedDemoInstance(double)
  const services = yield* Layer.build(
    TcrApi.layerWith({ endpoint: double.endpoint, retry: { baseDelay: "5 millis", maxDelay: "20 millis", maxRetries: 2 } })
  )
  const credentials = Credentials.make({ secretId: double.secretId, secretKey: double.secretKey })
  return { double, tcr: Context.get(services, TcrApi), credentials }
})

/** What install reads from the cloud and plans from it, for an empty cluster. */
const planAgainst = (double: TcrDouble, tcr: TcrApi["Service"], credentials: TcrCredentials, installOptions: InstallOptions) =>
  Effect.gen(function*() {
    const target = { credentials, region: installOptions.region, instanceId: installOptions.instanceId }
    const instance = yield* tcr.getInstance(target)
    const vpcLinks = yield* tcr.describeInternalEndpoints(target)
    const customDomains = yield* tcr.describeCustomizedDomains(target)
    const privateDns = yield* readPrivateDns(installOptions, credentials, instance, vpcLinks).pipe(Effect.provideService(TcrApi, tcr))
    const plan = planInstall({
      options: installOptions,
      instance,
      vpcLinks,
      customDomains,
      tokens: undefined,
      existing: [],
      now: new Date(),
      privateDns
    })
    if (Result.isFailure(plan)) return assert.fail(plan.failure.message)
    return { plan: plan.success, privateDns, calls: double.calls().map((call) => call.action) }
  })

const byHosts = (plan: InstallPlan) =>
  plan.privateResolution.enabled ? plan.privateResolution.domains.map((entry) => [entry.domain, entry.by]) : []

describe("--private-resolution auto asks TCR's private DNS", () => {
  it.live("hosts entries only for what the VPC does not resolve privately: the default and custom domains", () =>
    Effect.gen(function*() {
      const { double, tcr, credentials } = yield* setup()
      const { plan, privateDns, calls } = yield* planAgainst(double, tcr, credentials, options())
      assert.include(calls, "DescribeInternalEndpointDnsStatus")
      assert.deepStrictEqual(privateDns?._tag, "Answered")
      assert.deepStrictEqual(byHosts(plan), [
        ["demo.tencentcloudcr.com", "hosts"],
        ["demo-vpc.tencentcloudcr.com", "tcr-dns"],
        ["registry.demo.example", "hosts"]
      ])
      assert.strictEqual(
        plan.hosts.split("\n").filter((line) => line !== "" && !line.startsWith("#")).join("\n"),
        "10.0.8.15 demo.tencentcloudcr.com\n10.0.8.15 registry.demo.example"
      )
    }))

  it.live("once TCR resolves the default domain too, it gets no hosts entry either", () =>
    Effect.gen(function*() {
      const { double, tcr, credentials } = yield* setup()
      double.setPrivateDns(demoInstanceId, demoVpcId, true, { usePublicDomain: true })
      const { plan } = yield* planAgainst(double, tcr, credentials, options({ domains: { default: true, private: true, custom: [] } }))
      assert.deepStrictEqual(byHosts(plan).map(([, by]) => by), ["tcr-dns", "tcr-dns"])
      assert.strictEqual(plan.hosts, "")
    }))

  it.live("a CAM policy without tcr:DescribeInternalEndpointDnsStatus leaves it unknown: every entry, with the reason", () =>
    Effect.gen(function*() {
      const { double, tcr, credentials } = yield* setup()
      double.denyActions(["DescribeInternalEndpointDnsStatus"])
      const { plan, privateDns } = yield* planAgainst(double, tcr, credentials, options({ domains: { default: true, private: true, custom: [] } }))
      assert.deepStrictEqual(privateDns, {
        _tag: "Unknown",
        reason: "the key's CAM policy does not allow tcr:DescribeInternalEndpointDnsStatus"
      })
      assert.deepStrictEqual(byHosts(plan).map(([, by]) => by), ["hosts", "hosts"])
    }))

  it.live("off asks nothing; a link that is not Running leaves auto without private resolution", () =>
    Effect.gen(function*() {
      const { double, tcr, credentials } = yield* setup()
      const off = yield* planAgainst(double, tcr, credentials, options({ privateResolution: "off" }))
      assert.notInclude(off.calls, "DescribeInternalEndpointDnsStatus")
      double.setVpcLinkStatus(demoInstanceId, demoVpcId, "Creating")
      const creating = yield* planAgainst(double, tcr, credentials, options())
      assert.deepStrictEqual(creating.plan.privateResolution.enabled, false)
      assert.include(JSON.stringify(creating.plan.privateResolution), "vpc-demo0001 10.0.8.15 Creating")
    }))
})

describe("CAM denials", () => {
  it.live("a key that may not create tokens gets a message naming the action and what to grant", () =>
    Effect.gen(function*() {
      const { double, tcr, credentials } = yield* setup()
      double.denyActions(["CreateInstanceToken"])
      const error = yield* Effect.flip(
        tcr.createInstanceToken({ credentials, region: demoRegion, instanceId: demoInstanceId, tokenType: "longterm" })
      )
      const failed = tcrFailure(error)
      assert.include(failed.message, "the Tencent Cloud key may not call tcr:CreateInstanceToken")
      assert.include(failed.hint, "grant tcr:CreateInstanceToken")
      assert.notInclude(failed.message + failed.hint, double.secretKey)
    }))
})

describe("install --username reads the password from the environment or stdin, never from argv", () => {
  const mainPath = fileURLToPath(new URL("../src/main.ts", import.meta.url))
  const { TCR_REGISTRY_PASSWORD: _, ...withoutPassword } = process.env
  const install = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [mainPath, "install", "--region", demoRegion, "--instance-id", demoInstanceId, "--cluster-id", "cls-1", ...args], {
      encoding: "utf8",
      input: "",
      env: { ...withoutPassword, ...env }
    })

  it("without a password it is a usage error naming where it looked", () => {
    const result = install(["--username", "robot"])
    assert.strictEqual(result.status, 2)
    assert.include(result.stderr, "--username needs a password, and TCR_REGISTRY_PASSWORD is not set")
    assert.include(install(["--username", "robot"], { TCR_REGISTRY_PASSWORD: "" }).stderr, "--username needs a password")
    const stdin = install(["--username", "robot", "--password-from", "stdin"])
    assert.strictEqual(stdin.status, 2)
    assert.include(stdin.stderr, "stdin held no password")
  })

  it("a value that is not a source is refused without being echoed", () => {
    const result = install(["--username", "robot", "--password-from", "S3cret-typed-here"])
    assert.strictEqual(result.status, 2)
    assert.include(result.stderr, "--password-from must be env:NAME or stdin")
    assert.notInclude(result.stderr + result.stdout, "S3cret-typed-here")
  })

  it("--password-from without --username, or --description with it, is a usage error", () => {
    assert.include(install(["--password-from", "stdin"]).stderr, "--password-from goes with --username")
    const described = install(["--username", "robot", "--description", "x"], { TCR_REGISTRY_PASSWORD: "pw" })
    assert.strictEqual(described.status, 2)
    assert.include(described.stderr, "with --username none is created")
  })
})
