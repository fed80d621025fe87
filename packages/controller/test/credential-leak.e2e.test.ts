// A known password goes into an ImagePullSecret and the controller-manager runs into failures with it (a namespace
// whose quota forbids the Secret, a foreign Secret in the way, a webhook denial of an edit): the password reaches
// the distributed Secret, and nowhere else — not the logs (at debug level), the Events, the status, kubectl's error
// messages, the probes or the metrics. The same holds when the password comes by reference from a source Secret
// (spec.secretRef), and when that Secret turns malformed.
import { freePort, kubectl as runKubectl } from "@tcr-assistant/testkit/processes"
import { afterAll, beforeAll, expect, inject, test } from "vitest"
import { type ManagerProcess, startManagerProcess } from "./manager-process.ts"
import { connect, createNamespace, decodeDockerConfig, eventually, ipsPath, registerWebhookByUrl, type TestCluster, uniqueName } from "./support.ts"

const namespace = "tcr-assistant-system"
const password = "Leak-Sentinel-7f3a9c-pa55"
const username = "robot$leak"
const runId = uniqueName("leak")
const vwcName = `tcr-assistant-e2e-${runId}`
const vwcPath = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${vwcName}`
const selectorLabel = "tcr-assistant.test/webhook"

/** Every form the password could take on the way out: plain, base64 alone, and inside the Docker auth field. */
const forbidden = [
  password,
  Buffer.from(password).toString("base64"),
  Buffer.from(`${username}:${password}`).toString("base64"),
  JSON.stringify(password).slice(1, -1)
]

let cluster: TestCluster
let manager: ManagerProcess | undefined

const kubectl = (args: ReadonlyArray<string>, input?: string) => runKubectl(inject("kubeconfigPath"), args, input)

beforeAll(async () => {
  cluster = connect(inject("kubeconfigPath"))
  await createNamespace(cluster, namespace).catch((error: { _tag?: string }) => {
    if (error._tag !== "KubeConflict") throw error
  })
})

afterAll(async () => {
  await cluster?.request({ method: "DELETE", path: vwcPath }).catch(() => undefined)
  if (manager !== undefined && !manager.exited()) {
    manager.tied.child.kill("SIGTERM")
    await manager.tied.exited
  }
  await cluster?.dispose()
})

test("the password appears in the distributed Secret and in no log, event, status or error message", async () => {
  const port = await freePort()
  await registerWebhookByUrl(cluster, { name: vwcName, port, label: selectorLabel, value: runId })
  manager = startManagerProcess("leak", {
    kubeconfig: inject("kubeconfigPath"),
    identity: "leak",
    statusIntervalMillis: 200,
    leaderElection: { leaseName: runId },
    webhook: { host: "127.0.0.1", port, extraHosts: ["127.0.0.1"], secretName: `${runId}-cert`, configurationName: vwcName, mutatingConfigurationName: null },
    log: { level: "Debug" }
  })
  const running = manager
  await eventually(async () => expect((await running.get("/readyz")).status).toBe(200), 120_000)
  await eventually(async () => expect((await cluster.get<any>(vwcPath)).webhooks[0].clientConfig.caBundle).toBeTruthy())

  const ok = uniqueName("leak-ok")
  const quota = uniqueName("leak-quota")
  const taken = uniqueName("leak-taken")
  for (const ns of [ok, quota, taken]) await createNamespace(cluster, ns)
  await cluster.request({
    method: "POST",
    path: `/api/v1/namespaces/${quota}/resourcequotas`,
    body: { metadata: { name: "no-secrets" }, spec: { hard: { "count/secrets": "0" } } }
  })
  // No quota controller runs here: fill in the status it would compute, which is what admission enforces.
  await cluster.request({
    method: "PATCH",
    path: `/api/v1/namespaces/${quota}/resourcequotas/no-secrets/status`,
    contentType: "application/merge-patch+json",
    body: { status: { hard: { "count/secrets": "0" }, used: { "count/secrets": "0" } } }
  })
  const name = uniqueName("leak-ips")
  await cluster.request({ method: "POST", path: `/api/v1/namespaces/${taken}/secrets`, body: { metadata: { name: `tcr.ips${name}` }, stringData: { owner: "someone else" } } })

  const object = (spec: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: "tcr.tencentcloudcr.com/v1",
      kind: "ImagePullSecret",
      metadata: { name, labels: { [selectorLabel]: runId } },
      spec
    })
  const outputs: Array<string> = []
  // Server-side apply: client-side apply would copy the whole object, password included, into an annotation and
  // print it back in its own error messages, which says nothing about our code.
  const created = await kubectl(["apply", "--server-side", "-f", "-"], object({ namespaces: [ok, quota, taken].join(","), docker: { server: "leak.tencentcloudcr.com", username, password } }))
  outputs.push(created.stdout, created.stderr)
  expect(created.status).toBe(0)

  // Positive control: the password did travel, to the one place it belongs.
  await eventually(async () => {
    const secret = await cluster.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${ok}/secrets/tcr.ips${name}`)
    expect(decodeDockerConfig(secret!).auths["leak.tencentcloudcr.com"].password).toBe(password)
  })
  // The failures happened and were reported.
  await eventually(async () => {
    const status = (await cluster.get<any>(`${ipsPath}/${name}`)).status
    const states = Object.fromEntries((status?.targets ?? []).filter((target: any) => target.kind === "Secret").map((target: any) => [target.namespace, target.state]))
    expect(states[quota]).toBe("BackingOff")
    expect(states[taken]).toBe("Conflict")
  }, 120_000)
  await eventually(async () => {
    const events = await cluster.get<any>("/api/v1/namespaces/default/events")
    expect(events.items.some((event: any) => event.involvedObject.name === name && event.type === "Warning")).toBe(true)
  }, 120_000)

  // The same password by reference: a source Secret in the add-on's namespace, then that Secret made malformed.
  const refName = uniqueName("leak-ref")
  const sourceName = uniqueName("leak-source")
  const sourceSecret = (dockerConfigJson: string) => ({
    metadata: { name: sourceName },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(dockerConfigJson).toString("base64") }
  })
  await cluster.request({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/secrets`,
    body: sourceSecret(JSON.stringify({ auths: { "ref.tencentcloudcr.com": { username, password } } }))
  })
  const byReference = await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify({
    apiVersion: "tcr.tencentcloudcr.com/v1",
    kind: "ImagePullSecret",
    metadata: { name: refName },
    spec: { namespaces: [ok, quota, taken].join(","), secretRef: { name: sourceName } }
  }))
  outputs.push(byReference.stdout, byReference.stderr)
  expect(byReference.status).toBe(0)
  await eventually(async () => {
    const secret = await cluster.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${ok}/secrets/tcr.ips${refName}`)
    expect(decodeDockerConfig(secret!).auths["ref.tencentcloudcr.com"].password).toBe(password)
  })
  // Malformed (the apiserver admits only JSON here): the entry is the password itself instead of an object.
  await cluster.request({
    method: "PUT",
    path: `/api/v1/namespaces/${namespace}/secrets/${sourceName}`,
    body: sourceSecret(JSON.stringify({ auths: { "ref.tencentcloudcr.com": password } }))
  })
  await eventually(async () => {
    const events = await cluster.get<any>("/api/v1/namespaces/default/events")
    expect(events.items.some((event: any) => event.involvedObject.name === refName && event.reason === "CredentialSourceUnavailable")).toBe(true)
  }, 120_000)
  // With no password in the spec, describe has none to print either.
  const describeRef = await kubectl(["describe", "ipss", refName])
  expect(describeRef.stdout).toContain("CredentialSourceUnavailable")
  outputs.push(describeRef.stdout, describeRef.stderr)
  await cluster.request({ method: "DELETE", path: `${ipsPath}/${refName}` })
  await eventually(async () => expect(await cluster.get(`${ipsPath}/${refName}`)).toBeUndefined(), 120_000)
  await cluster.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}/secrets/${sourceName}` })

  const denied = await kubectl(["apply", "--server-side", "-f", "-"], object({ namespaces: "Not_Valid", docker: { server: "leak.tencentcloudcr.com", username, password } }))
  expect(denied.status).not.toBe(0)
  expect(denied.stderr).toContain("denied the request")
  outputs.push(denied.stdout, denied.stderr)
  // (kubectl describe would print the spec, password included: that is the object itself, not a leak.)
  const getWide = await kubectl(["get", "ipss", name, "-o", "wide"])
  outputs.push(getWide.stdout, getWide.stderr)

  await cluster.request({ method: "DELETE", path: `${ipsPath}/${name}` })
  await eventually(async () => expect(await cluster.get(`${ipsPath}/${name}`)).toBeUndefined(), 120_000)

  const status = JSON.stringify((await cluster.get<any>(`${ipsPath}`)).items.map((item: any) => item.status))
  const events = JSON.stringify(await cluster.get("/api/v1/events"))
  const probes = [(await running.get("/readyz?verbose")).body, (await running.get("/metrics")).body].join("\n")
  const logs = running.output()
  expect(logs).toContain("\"level\":\"debug\"")
  // The failures were logged, with the object's kind and name.
  expect(running.logs().some((record) => record.msg === "target failed" && record.kind === "ImagePullSecret" && record.name === name)).toBe(true)
  expect(running.logs().some((record) => record.msg === "admission refused" && record.name === name)).toBe(true)
  const places = { logs, events, status, kubectl: outputs.join("\n"), probes }
  for (const [place, text] of Object.entries(places)) {
    for (const form of forbidden) {
      const at = text.indexOf(form)
      expect(at, `${place} contains the password (as ${JSON.stringify(form)}): ...${text.slice(Math.max(0, at - 200), at + 50)}...`).toBe(-1)
    }
  }
})
