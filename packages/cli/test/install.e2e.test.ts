// The CLI end to end, run as a user runs it (child processes), against a private control plane and the TCR API
// double, with the controller and a hosts-updater (on a temporary hosts file, for a Node we create) running as the
// CLI's own subcommands: install, reconfigure in place, status, every failure path, and uninstall --revoke-token.
import type { TiedChild } from "@tcr-assistant/testkit/process-lifeline"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import {
  controllerTestFlags,
  type CliResult,
  type CliWorld,
  createNamespace,
  createNode,
  decodeDockerConfig,
  eventually,
  expectNoCredentials,
  imagePullSecretNames,
  ipsPath,
  namespacesWithSecret,
  readText,
  serviceAccountEntries,
  type RunningWebhook,
  startCliWorld,
  startWebhook,
  writeText
} from "./install-e2e-support.ts"

let world: CliWorld
let webhook: RunningWebhook
let controller: TiedChild
let hostsPath: string
const originalHosts = "127.0.0.1 localhost\n# the user's own entry\n192.168.1.9 build-cache.internal\n"
const nodeName = "node-e2e-1"
const domain = "demo.tencentcloudcr.com"
const privateDomain = "demo-vpc.tencentcloudcr.com"
const configMapPath = "/api/v1/namespaces/tcr-assistant-system/configmaps/updater-config"
const credentialSecretPath = "/api/v1/namespaces/tcr-assistant-system/secrets/tcr-assistant-registry-credential"
const decodeBase64 = (text: string) => Buffer.from(text, "base64").toString("utf8")
const figures: Record<string, number> = {}

const base = (instanceId = world.instance.id) => [
  "install",
  "--region",
  "ap-guangzhou",
  "--instance-id",
  instanceId,
  "--cluster-id",
  "cls-e2e0001",
  "--kubeconfig",
  world.kubeconfigPath,
  "--webhook-url",
  webhook.url
]

/** Every token value the double has issued in this file (revoked ones included), for the final leak check. */
const issued = new Set<string>()

/** Every credential the CLI must keep out of its output: each token the double issued, and the API key. */
const secrets = () => {
  for (const token of world.double.tokens()) issued.add(token.token)
  return [...issued, world.double.secretKey]
}

const ok = (result: CliResult) => {
  expect(result.stderr).not.toMatch(/^\s+at /m)
  expect(result.code, `stderr:\n${result.stderr}`).toBe(0)
  expectNoCredentials(result, secrets())
  return result
}

/** What install must not have touched when it fails: our CRs, updater-config and the double's tokens. */
const snapshot = async () => ({
  // The controller writes status meanwhile; generation, labels, annotations and spec are what install owns.
  imagePullSecrets: (await world.cluster.list(`/apis/tcr.tencentcloudcr.com/v1/imagepullsecrets`)).map((object: any) => ({
    name: object.metadata.name,
    generation: object.metadata.generation,
    labels: object.metadata.labels,
    annotations: object.metadata.annotations,
    spec: object.spec
  })),
  configMap: (await world.cluster.get<any>(configMapPath))?.metadata.resourceVersion,
  tokens: world.double.tokens().map((token) => token.id)
})

const userSecret = {
  metadata: { name: "users-own", namespace: "team-a" },
  type: "kubernetes.io/dockerconfigjson",
  data: { ".dockerconfigjson": Buffer.from(JSON.stringify({ auths: {} })).toString("base64") }
}

beforeAll(async () => {
  world = await startCliWorld()
  hostsPath = join(world.dir, "hosts")
  writeText(hostsPath, originalHosts)
  for (const namespace of ["team-a", "team-b", "team-c"]) await createNamespace(world.cluster, namespace)
  await world.cluster.request({ method: "POST", path: "/api/v1/namespaces/team-a/secrets", body: userSecret })
  await world.cluster.request({
    method: "POST",
    path: "/api/v1/namespaces/team-a/serviceaccounts",
    body: { metadata: { name: "builder" }, imagePullSecrets: [{ name: "users-own" }] }
  })
  await createNode(world.cluster, nodeName)
  webhook = await startWebhook(world)
  controller = world.spawn("controller", ["controller", "--kubeconfig", world.kubeconfigPath, ...controllerTestFlags])
  world.spawn("hosts-updater", [
    "hosts-updater",
    "--kubeconfig",
    world.kubeconfigPath,
    "--hosts-file",
    hostsPath,
    "--node-name",
    nodeName,
    "--health-port",
    "0",
    "--metrics-port",
    "0"
  ])
  // Every namespace gets its default ServiceAccount from the controller manager; wait so counts are stable.
  await eventually(async () => expect(await serviceAccountEntries(world.cluster, "team-c", "default")).toEqual([]))
})

afterAll(async () => {
  console.log("figures (ms):", JSON.stringify(figures))
  await webhook?.stop()
  await world?.stop()
})

describe("tcr-assistant install, status and uninstall", () => {
  test("install --wait returns once the token is distributed for both domains and the node's hosts file is filled", async () => {
    const result = ok(await world.cli([...base(), "--private-resolution", "on", "--wait"]))
    figures["install --wait"] = result.millis
    expect(result.stderr).toContain("creating a long-term token")
    expect(result.stderr).toContain(`applied ImagePullSecret ${domain} (created)`)
    expect(result.stderr).toContain("applied Secret tcr-assistant-system/tcr-assistant-registry-credential (created)")
    expect(result.stderr).toContain("every ImagePullSecret is Ready and every reporting node holds the current hosts config")

    // No polling below: --wait promised all of it.
    const [token] = world.double.tokens(world.instance.id)
    expect(world.double.tokens()).toHaveLength(1)
    expect(token).toMatchObject({ type: "longterm", description: "TKE cluster (cls-e2e0001) dedicated access credential" })
    expect(await imagePullSecretNames(world.cluster)).toEqual([privateDomain, domain])
    // The token is in one Secret of the add-on's namespace, with its ID and expiry; the cluster-scoped CRs only
    // reference it.
    const credential = await world.cluster.get<any>(credentialSecretPath)
    expect(credential.type).toBe("kubernetes.io/basic-auth")
    expect(credential.metadata.annotations).toMatchObject({
      "tcr.tencentcloudcr.com/token-id": token!.id,
      "tcr.tencentcloudcr.com/token-expires-at": token!.expiresAt.toISOString()
    })
    expect(world.double.checkToken(decodeBase64(credential.data.username), decodeBase64(credential.data.password))).toBe("valid")
    for (const server of [domain, privateDomain]) {
      const ips = await world.cluster.get<any>(`${ipsPath}/${server}`)
      expect(ips.spec).toEqual({
        namespaces: "*",
        serviceAccounts: "*",
        secretRef: { name: "tcr-assistant-registry-credential", namespace: "tcr-assistant-system", server }
      })
      expect(JSON.stringify(ips)).not.toContain(token!.token)
    }
    for (const server of [domain, privateDomain]) {
      const secretName = `tcr.ips${server}`
      const namespaces = await namespacesWithSecret(world.cluster, secretName)
      for (const namespace of ["default", "team-a", "team-b", "team-c"]) expect(namespaces).toContain(namespace)
      const secret = await world.cluster.get(`/api/v1/namespaces/team-b/secrets/${secretName}`)
      const auth = decodeDockerConfig(secret).auths[server]!
      expect(world.double.checkToken(auth.username, auth.password)).toBe("valid")
      expect(await serviceAccountEntries(world.cluster, "team-a", "builder")).toEqual(expect.arrayContaining(["users-own", secretName]))
    }
    const configMap = await world.cluster.get<any>(configMapPath)
    expect(configMap.data.hosts).toContain(`10.0.8.15 ${domain}`)
    expect(configMap.data.hosts).toContain(`10.0.8.15 ${privateDomain}`)
    const hosts = readText(hostsPath)
    expect(hosts.startsWith(originalHosts)).toBe(true)
    expect(hosts).toContain(`10.0.8.15 ${domain}\n`)
    expect(hosts).toContain(`10.0.8.15 ${privateDomain}\n`)
  })

  test("--dry-run prints the plan as data and changes nothing in the cloud or the cluster", async () => {
    const before = await snapshot()
    const calls = world.double.calls().length
    const result = ok(await world.cli([...base(), "--namespaces", "team-a", "--dry-run", "-o", "json"]))
    const plan = JSON.parse(result.stdout)
    expect(plan.dryRun).toBe(true)
    expect(plan.token).toMatchObject({ action: "reuse", tokenId: before.tokens[0] })
    expect(plan.imagePullSecrets.map((entry: any) => [entry.name, entry.action])).toEqual([
      [domain, "update"],
      [privateDomain, "update"]
    ])
    expect(plan.credentialSecret).toMatchObject({ name: "tcr-assistant-registry-credential", action: "unchanged" })
    expect(plan.objects).toContain("CustomResourceDefinition imagepullsecrets.tcr.tencentcloudcr.com")
    expect(await snapshot()).toEqual(before)
    const actions = world.double.calls().slice(calls).map((call) => call.action)
    expect(actions.filter((action) => action === "CreateInstanceToken" || action === "DeleteInstanceToken")).toEqual([])
  })

  test("install again with other options converges in place, reusing the token", async () => {
    // From here on every write of our CRs passes the add-on's own validating webhook.
    await eventually(async () => {
      const configuration = await world.cluster.get<any>(
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tcr-assistant-validating-webhook-configuration"
      )
      expect(configuration.webhooks[0].clientConfig).toMatchObject({ url: webhook.url, caBundle: expect.any(String) })
      expect(configuration.webhooks[0].failurePolicy).toBe("Fail")
    })
    const tokenBefore = world.double.tokens()[0]!.id
    const result = ok(await world.cli([...base(), "--namespaces", "team-a,team-b", "--domains", "default", "--private-resolution", "off"]))
    figures["reconfigure"] = result.millis
    expect(result.stderr).toContain(`reuse long-term token ${tokenBefore}`)
    expect(world.double.tokens().map((token) => token.id)).toEqual([tokenBefore])
    await eventually(async () => {
      expect(await imagePullSecretNames(world.cluster)).toEqual([domain])
      expect(await namespacesWithSecret(world.cluster, `tcr.ips${domain}`)).toEqual(["team-a", "team-b"])
      expect(await namespacesWithSecret(world.cluster, `tcr.ips${privateDomain}`)).toEqual([])
      expect(await serviceAccountEntries(world.cluster, "team-a", "builder")).toEqual(["users-own", `tcr.ips${domain}`])
      expect(await serviceAccountEntries(world.cluster, "team-c", "default")).toEqual([])
    })
    expect((await world.cluster.get<any>(configMapPath)).data.hosts).toBe("")
    await eventually(() => expect(readText(hostsPath)).toBe(originalHosts))

    // The installed Pod mutation, at the webhook's own path on the same server: a Pod with an entry of its own (so the
    // ServiceAccount admission plugin copies nothing) gets ours appended.
    await eventually(async () => {
      const mutating = await world.cluster.get<any>(
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tcr-assistant-mutating-webhook-configuration"
      )
      expect(mutating.webhooks[0].clientConfig).toMatchObject({ url: webhook.url.replace(/\/validate$/, "/mutate-pods"), caBundle: expect.any(String) })
      const pod = await world.cluster.request<any>({
        method: "POST",
        path: "/api/v1/namespaces/team-a/pods",
        query: { dryRun: "All" },
        body: { metadata: { name: "app" }, spec: { containers: [{ name: "app", image: `${domain}/team/app:1` }], imagePullSecrets: [{ name: "users-own" }] } }
      })
      expect(pod.spec.imagePullSecrets).toEqual([{ name: "users-own" }, { name: `tcr.ips${domain}` }])
    })

    const again = ok(await world.cli([...base(), "--namespaces", "team-a,team-b", "--domains", "default"]))
    expect(again.stderr).toContain(`applied ImagePullSecret ${domain} (unchanged)`)
    expect(world.double.tokens()).toHaveLength(1)

    // With the webhook down (no controller replica up), the same install again does not trip over validation: an
    // unchanged spec is not sent to it.
    await webhook.stop()
    const down = ok(await world.cli([...base(), "--namespaces", "team-a,team-b", "--domains", "default"]))
    expect(down.stderr).toContain(`applied ImagePullSecret ${domain} (unchanged)`)
    webhook = await startWebhook(world, Number(new URL(webhook.url).port))
  })

  test("status reports counts, readiness and which nodes applied the current hosts config", async () => {
    ok(await world.cli([...base(), "--namespaces", "team-a,team-b", "--domains", "default,private", "--private-resolution", "on"]))
    const report = await eventually(async () => {
      const result = ok(await world.cli(["status", "--kubeconfig", world.kubeconfigPath, "-o", "json"]))
      const parsed = JSON.parse(result.stdout)
      expect(parsed.imagePullSecrets.map((entry: any) => [entry.name, entry.ready])).toEqual([
        [privateDomain, "True"],
        [domain, "True"]
      ])
      expect(parsed.hosts.nodes).toEqual([expect.objectContaining({ name: nodeName, state: "UpToDate" })])
      return parsed
    })
    const [token] = world.double.tokens()
    expect(report.installation).toEqual({
      instanceId: world.instance.id,
      region: "ap-guangzhou",
      clusterId: "cls-e2e0001",
      tokenId: token!.id,
      tokenExpiresAt: token!.expiresAt.toISOString(),
      credentialSecret: "tcr-assistant-system/tcr-assistant-registry-credential"
    })
    expect(report.imagePullSecrets[0]).toMatchObject({
      namespaces: "team-a,team-b",
      secrets: { ready: 2, desired: 2 },
      serviceAccountEntries: { ready: 3, desired: 3 },
      failingTargets: []
    })
    expect(report.hosts.entries).toBe(2)

    // Each ImagePullSecret's own status carries the expiry too (from the Secret's annotation, to the second).
    await eventually(async () => {
      for (const server of [domain, privateDomain]) {
        expect((await world.cluster.get<any>(`${ipsPath}/${server}`)).status.tokenExpiresAt)
          .toBe(token!.expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z"))
      }
    })
    const text = ok(await world.cli(["status", "--kubeconfig", world.kubeconfigPath]))
    expect(text.stdout).toContain(`${domain}: Ready; Secrets 2/2, ServiceAccounts 3/3`)
    expect(text.stdout).toContain(`token ${token!.id} (expires ${token!.expiresAt.toISOString()})`)
    expect(text.stdout).toContain(`${nodeName}: up to date since`)
    expect(text.stdout).toContain("1 of 1 reporting node applied the current config")
  })

  test("every failure path says what went wrong and what to do, and changes nothing", async () => {
    const before = await snapshot()
    const failing = async (
      args: ReadonlyArray<string>,
      env: NodeJS.ProcessEnv,
      expected: RegExp,
      instanceId = world.instance.id
    ) => {
      const result = await world.cli([...base(instanceId), "--namespaces", "team-c", ...args], env)
      expect(result.code, result.stderr).toBe(1)
      expect(result.stderr).toMatch(expected)
      expect(result.stderr).toMatch(/^next: /m)
      expect(result.stderr).not.toMatch(/^\s+at /m)
      expectNoCredentials(result, [...secrets(), "wrong-key-S3NTINEL"])
      expect(await snapshot()).toEqual(before)
      return result
    }

    await failing([], { TENCENTCLOUD_SECRET_KEY: "wrong-key-S3NTINEL" }, /Tencent Cloud refused the request: .*AuthFailure/)
    await failing([], {}, /TCR instance tcr-missing0 does not exist in region ap-guangzhou/, "tcr-missing0")

    world.double.setVpcLinkStatus(world.instance.id, "vpc-cluster", "Creating")
    await failing(["--private-resolution", "on"], {}, /install refused: .*vpc-cluster 10\.0\.8\.15 Creating/)
    world.double.setVpcLinkStatus(world.instance.id, "vpc-cluster", "Running")

    world.double.injectFailure("DescribeInstances", { code: "RequestLimitExceeded", message: "Your request rate is too high." }, 100)
    const limited = await failing([], {}, /rate limit/)
    world.double.clearInjectedFailures()
    expect(limited.stderr).toMatch(/^warning: TCR API call failed, retrying \(action=DescribeInstances code=RequestLimitExceeded/m)
    expect(limited.stdout).toBe("")
    figures["rateLimitedFailure"] = limited.millis

    for (const command of ["install", "status", "uninstall"]) {
      const help = await world.cli([command, "--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain(`tcr-assistant ${command} [flags]`)
    }
    const usage = await world.cli(["install", "--region", "ap-guangzhou"])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain("Missing required flag")
    const badNamespaces = await world.cli([...base(), "--namespaces", "Team_A"])
    expect(badNamespaces.code).toBe(2)
    expect(badNamespaces.stderr).toContain('"Team_A" is not a valid namespace name')
    expect(await snapshot()).toEqual(before)
  })

  test("rotate-token switches every copy to a new token before deleting the old one; an interrupted rotation is finished by running it again", async () => {
    const rotate = (...args: Array<string>) => world.cli(["rotate-token", "--kubeconfig", world.kubeconfigPath, ...args])
    const holdsEverywhere = async (tokenValue: string) => {
      for (const namespace of ["team-a", "team-b"]) {
        const secret = await world.cluster.get(`/api/v1/namespaces/${namespace}/secrets/tcr.ips${domain}`)
        expect(decodeDockerConfig(secret).auths[domain]!.password).toBe(tokenValue)
      }
    }
    const [first] = world.double.tokens()
    const dry = ok(await rotate("--dry-run"))
    expect(dry.stderr).toContain(`would create a new long-term token on ${world.instance.id} ("${first!.description}")`)
    expect(world.double.tokens().map((entry) => entry.id)).toEqual([first!.id])

    const rotated = ok(await rotate())
    figures["rotate-token"] = rotated.millis
    const [second] = world.double.tokens()
    expect(world.double.tokens()).toHaveLength(1)
    expect(second!.id).not.toBe(first!.id)
    expect(second!.description).toBe(first!.description)
    expect(rotated.stderr).toContain(`deleted the old token ${first!.id}`)
    expect(rotated.stderr).toContain(`rotated: token ${second!.id} (expires ${second!.expiresAt.toISOString()}) replaces ${first!.id}`)
    // No polling: the command waited for every copy.
    await holdsEverywhere(second!.token)
    const copy = decodeDockerConfig((await world.cluster.get<any>(`/api/v1/namespaces/team-b/secrets/tcr.ips${domain}`))).auths[domain]!
    expect(world.double.checkToken(copy.username, copy.password)).toBe("valid")
    const credential = await world.cluster.get<any>(credentialSecretPath)
    expect(Object.keys(credential.metadata.annotations)).not.toContain("tcr.tencentcloudcr.com/previous-token-id")
    expect(credential.metadata.annotations["tcr.tencentcloudcr.com/token-id"]).toBe(second!.id)

    // With the controller stopped, no copy changes: the rotation gives up, keeping the old token in service.
    process.kill(controller.child.pid!, "SIGSTOP")
    let third: string
    try {
      const stuck = await rotate("--timeout", "3")
      expect(stuck.code, stuck.stderr).toBe(1)
      expectNoCredentials(stuck, secrets())
      expect(stuck.stderr).toMatch(/but not every copy holds it after 3s: .*copies hold the new token/)
      expect(stuck.stderr).toContain(`token ${second!.id} is kept so that pulls keep working`)
      expect(world.double.tokens()).toHaveLength(2)
      third = world.double.tokens().find((entry) => entry.id !== second!.id)!.id
      expect((await world.cluster.get<any>(credentialSecretPath)).metadata.annotations["tcr.tencentcloudcr.com/previous-token-id"])
        .toBe(second!.id)
      await holdsEverywhere(second!.token)
    } finally {
      process.kill(controller.child.pid!, "SIGCONT")
    }
    const finished = ok(await rotate())
    expect(finished.stderr).toContain(`finishing the rotation to token ${third}`)
    expect(finished.stderr).not.toContain("creating a new long-term token")
    expect(world.double.tokens().map((entry) => entry.id)).toEqual([third])
    await holdsEverywhere(world.double.tokens()[0]!.token)
  })

  test("a new --description renames the token in place; --username swaps the token for the user's own credential", async () => {
    const [before] = world.double.tokens()
    const renamed = ok(await world.cli([...base(), "--namespaces", "team-a,team-b", "--domains", "default", "--description", "prod pulls"]))
    expect(renamed.stderr).toContain(`applied ImagePullSecret ${domain} (unchanged)`)
    expect(renamed.stderr).toContain(`token ${before!.id}: description changed to "prod pulls"`)
    expect(world.double.tokens()).toEqual([expect.objectContaining({ id: before!.id, description: "prod pulls", enabled: true })])

    const password = "users-own-S3CRET-password"
    const own = await world.cli(
      [...base(), "--namespaces", "team-a,team-b", "--domains", "default", "--username", "robot$ci"],
      { TCR_REGISTRY_PASSWORD: password }
    )
    ok(own)
    expectNoCredentials(own, [password])
    expect(own.stderr).toContain("credential: your own, user robot$ci (no token is created)")
    expect(own.stderr).toContain(`revoked the replaced token ${before!.id}`)
    expect(world.double.tokens()).toEqual([])
    await eventually(async () => {
      const secret = await world.cluster.get(`/api/v1/namespaces/team-a/secrets/tcr.ips${domain}`)
      expect(decodeDockerConfig(secret).auths[domain]).toMatchObject({ username: "robot$ci", password })
    })
    const ips = await world.cluster.get<any>(`${ipsPath}/${domain}`)
    expect(Object.keys(ips.metadata.annotations)).not.toContain("tcr.tencentcloudcr.com/token-id")
  })

  test("uninstall --revoke-token leaves nothing of ours and everything of the user's", async () => {
    // Uninstall removes the webhook configuration first, so it needs no webhook server.
    await webhook.stop()
    const result = ok(await world.cli(["uninstall", "--revoke-token", "--kubeconfig", world.kubeconfigPath]))
    figures["uninstall"] = result.millis
    expect(world.double.tokens()).toEqual([])

    expect(await world.cluster.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagepullsecrets.tcr.tencentcloudcr.com"))
      .toBeUndefined()
    expect(await world.cluster.get("/api/v1/namespaces/tcr-assistant-system")).toBeUndefined()
    for (const resource of ["validating", "mutating"]) {
      const path = `/apis/admissionregistration.k8s.io/v1/${resource}webhookconfigurations/tcr-assistant-${resource}-webhook-configuration`
      expect(await world.cluster.get(path), path).toBeUndefined()
    }
    expect(await world.cluster.list("/api/v1/secrets", { labelSelector: "app.kubernetes.io/managed-by=tcr-assistant" })).toEqual([])
    for (const namespace of ["default", "team-a", "team-b", "team-c"]) {
      for (const entry of (await serviceAccountEntries(world.cluster, namespace, "default")) ?? []) expect(entry).not.toMatch(/^tcr\.ips/)
    }
    expect(await serviceAccountEntries(world.cluster, "team-a", "builder")).toEqual(["users-own"])
    expect(await world.cluster.get("/api/v1/namespaces/team-a/secrets/users-own")).toBeDefined()
    const node = await world.cluster.get<any>(`/api/v1/nodes/${nodeName}`)
    expect(Object.keys(node.metadata.annotations ?? {}).filter((key) => key.startsWith("tcr.tencentcloudcr.com/"))).toEqual([])
    expect(readText(hostsPath)).toBe(originalHosts)

    const status = await world.cli(["status", "--kubeconfig", world.kubeconfigPath])
    expect(status.code).toBe(1)
    expect(status.stderr).toContain("tcr-assistant is not installed in this cluster")
  })

  test("no token, password or API key appears in any Event or in the controller's and hosts-updater's logs", async () => {
    const leaked = (text: string) => [...secrets(), "users-own-S3CRET-password"].filter((secret) => text.includes(secret))
    expect(issued.size).toBeGreaterThanOrEqual(3)
    const events = await world.cluster.list("/api/v1/events")
    expect(events.length).toBeGreaterThan(0)
    expect(leaked(JSON.stringify(events))).toEqual([])
    for (const name of ["controller", "hosts-updater"]) {
      const log = readText(join(world.dir, `${name}.log`))
      expect(log.length, name).toBeGreaterThan(0)
      expect(leaked(log), name).toEqual([])
    }
  })
})
