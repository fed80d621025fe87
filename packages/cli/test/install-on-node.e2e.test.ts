// `tcr-assistant install --wait` as the seeds describe it, on the kit's real node, against the TCR API double: the
// add-on comes up as pods, the long-term token install creates is what the node pulls with, from the registry under
// the domain the double reports, reached at the VPC link's private IP that hosts-updater writes into the node's
// hosts file. Then `uninstall --revoke-token` removes everything, the token included.
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, it } from "vitest"
import { importAddonImage, keepAddonPodLogs } from "@tcr-assistant/testkit/addon-on-node"
import { writeBusyboxImage } from "@tcr-assistant/testkit/busybox-image"
import { type ControlPlane, startControlPlane } from "@tcr-assistant/testkit/control-plane"
import { eventually } from "@tcr-assistant/testkit/eventually"
import { type RealNode, startNode } from "@tcr-assistant/testkit/node"
import { kubectlOn } from "@tcr-assistant/testkit/processes"
import { type Registry, startRegistry } from "@tcr-assistant/testkit/registry"
import { startTcrDouble, type TcrDouble } from "@tcr-assistant/testkit/tcr-double"
import { demoAccessIp, demoInstanceId, demoRegion, seedDemoInstance } from "@tcr-assistant/testkit/tcr-double-sample"

const cli = fileURLToPath(new URL("../bin/tcr-assistant.js", import.meta.url))
const domain = "demo.tencentcloudcr.com"

let plane: ControlPlane
let registry: Registry
let node: RealNode
let double: TcrDouble
let scratch: string
let imageRef: string
let hostsBefore: string

const runCli = (args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args, "--kubeconfig", plane.kubeconfigPath], {
      env: { ...process.env, TCR_API_ENDPOINT: double.endpoint, TENCENTCLOUD_SECRET_ID: double.secretId,
        TENCENTCLOUD_SECRET_KEY: double.secretKey, TENCENTCLOUD_SESSION_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("close", (status) => resolve({ status, output }))
  })

const { run } = kubectlOn(() => plane.kubeconfigPath)

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "install-on-node-"))
  plane = await startControlPlane({ workloads: true })
  double = await startTcrDouble()
  seedDemoInstance(double)
  // Until install has made the token, the registry knows no user the node could have.
  registry = await startRegistry({ domain, user: { username: "nobody-yet", password: "not-the-token" } })
  const image = await writeBusyboxImage(scratch, { name: `${domain}/team/app:1`,
    cmd: ["/bin/sh", "-c", "echo pulled with the install token; exec sleep 3600"] })
  await registry.push(image.layoutDir, image.tag, "team/app")
  imageRef = `${domain}/team/app:1`
  // The VPC link's private IP, on the registry's usual port: where the hosts entry install writes sends pulls.
  node = await startNode(plane, { forwards: [{ address: demoAccessIp, port: 443, target: registry.port }] })
  node.trustRegistry(domain, registry.caCertPem)
  hostsBefore = readFileSync(node.hostsFile, "utf8")
  await importAddonImage(node)
  await run(["create", "namespace", "team"])
})

afterAll(async () => {
  await node?.stop()
  await registry?.stop()
  await double?.close()
  await plane?.stop()
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
})

it("installs with --wait, pulls with the token it created from the private IP, and uninstalls with --revoke-token", async () => {
  const installed = await runCli(["install", "--region", demoRegion, "--instance-id", demoInstanceId,
    "--cluster-id", "cls-node0001", "--domains", "default", "--namespaces", "team", "--wait"])
  assert.strictEqual(installed.status, 0, installed.output)
  assert.include(readFileSync(node.hostsFile, "utf8"), `${demoAccessIp} ${domain}`)
  const pods = await run(["get", "pods", "-n", "tcr-assistant-system", "-o",
    "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}"])
  assert.match(pods, /controller-manager.* Running/)
  assert.match(pods, /hosts-updater.* Running/)

  // The registry accepts exactly the credential install distributed: the token the double issued.
  const secretName = (await run(["get", "secrets", "-n", "team", "-o",
    "jsonpath={.items[?(@.type=='kubernetes.io/dockerconfigjson')].metadata.name}"])).trim()
  assert.match(secretName, /^tcr\.ips/)
  const data = JSON.parse(await run(["get", "secret", "-n", "team", secretName, "-o", "json"])) as {
    data: Record<string, string> }
  const config = JSON.parse(Buffer.from(data.data[".dockerconfigjson"]!, "base64").toString("utf8")) as {
    auths: Record<string, { username: string; password: string }> }
  const token = config.auths[domain]!
  assert.notInclude(installed.output, token.password)
  await registry.setUser({ username: token.username, password: token.password })

  await run(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "app", namespace: "team" },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "app", image: imageRef, imagePullPolicy: "Always" }] } }))
  await eventually(async () => {
    const phase = await run(["get", "pod", "-n", "team", "app", "-o", "jsonpath={.status.phase}"])
    if (phase !== "Running") throw new Error(`pod is ${phase}`)
  }, 180_000)
  assert.include(await run(["logs", "-n", "team", "app"]), "pulled with the install token")
  await run(["delete", "pod", "-n", "team", "app", "--wait=true"])

  // The pods go with the uninstall: their logs are kept for the run's log check first.
  await keepAddonPodLogs(plane)
  const removed = await runCli(["uninstall", "--revoke-token"])
  assert.strictEqual(removed.status, 0, removed.output)
  assert.notInclude(await run(["get", "namespaces", "-o", "name"]), "namespace/tcr-assistant-system")
  assert.notInclude(await run(["get", "secrets", "-n", "team", "-o", "name"]), secretName)
  assert.strictEqual(readFileSync(node.hostsFile, "utf8"), hostsBefore)
  assert.isTrue(double.calls().some((call) => call.action === "DeleteInstanceToken" && call.errorCode === undefined))
})
