// End-to-end tests of the local control plane: the shared one from the global setup serves our CRD and runs the
// controllers we rely on; private ones prove the kit itself (isolation, stop, restart, no orphans).
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  ApiextensionsV1Api,
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig
} from "@kubernetes/client-node"
import { afterAll, assert, beforeAll, describe, inject, it } from "vitest"
import { resolveControlPlaneBinaries } from "../src/control-plane-binaries.ts"
import { startControlPlane, type ControlPlane } from "../src/control-plane.ts"
import { spawnTied } from "../src/process-lifeline.ts"
import { eventually, processGone } from "./process-state.ts"

const group = "tcr.tencentcloudcr.com"
const version = "v1"
const plural = "imagepullsecrets"

const suffix = () => randomBytes(4).toString("hex")

const clients = (kubeconfigPath: string) => {
  const config = new KubeConfig()
  config.loadFromFile(kubeconfigPath)
  return {
    core: config.makeApiClient(CoreV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    extensions: config.makeApiClient(ApiextensionsV1Api)
  }
}

const apiErrorCode = async (request: Promise<unknown>) => {
  try {
    await request
  } catch (error) {
    if (error instanceof ApiException) return { code: error.code, body: String(error.body) }
    throw error
  }
  return { code: 200, body: "" }
}

// Selectors that match nothing, so a controller another test file runs against the shared plane leaves
// these objects' targets alone.
const imagePullSecret = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: `${group}/${version}`,
  kind: "ImagePullSecret",
  metadata: { name },
  spec
})

describe("the shared control plane", () => {
  const kubeconfigPath = inject("kubeconfigPath")
  const { core, custom, extensions } = clients(kubeconfigPath)

  it("has the ImagePullSecret CRD established with its short names", async () => {
    const crd = await extensions.readCustomResourceDefinition({ name: `${plural}.${group}` })
    const established = crd.status?.conditions?.find((condition) => condition.type === "Established")
    assert.strictEqual(established?.status, "True")
    assert.strictEqual(crd.spec.scope, "Cluster")
    assert.includeMembers(crd.status?.acceptedNames?.shortNames ?? [], ["ips", "ipss"])
  })

  it("prints the NAMESPACES, SERVICE-ACCOUNTS, SECRETS-DESIRED and SECRETS-SUCCESS columns in kubectl", async () => {
    const name = `testkit-columns-${suffix()}`
    await custom.createClusterCustomObject({
      group,
      version,
      plural,
      body: imagePullSecret(name, {
        namespaces: "testkit-absent-a, testkit-absent-b",
        serviceAccounts: "builder",
        docker: { server: "example.tencentcloudcr.com", username: "100012345678", password: "not-a-real-token" }
      })
    })
    try {
      const output = execFileSync("kubectl", ["--kubeconfig", kubeconfigPath, "get", "ipss", name], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      })
      const [header, row] = output.trimEnd().split("\n")
      const columns = header?.trim().split(/\s+/) ?? []
      for (const column of ["NAME", "NAMESPACES", "SERVICE-ACCOUNTS", "SECRETS-DESIRED", "SECRETS-SUCCESS"]) {
        assert.include(columns, column)
      }
      assert.isBelow(columns.indexOf("NAMESPACES"), columns.indexOf("SERVICE-ACCOUNTS"))
      assert.isBelow(columns.indexOf("SECRETS-DESIRED"), columns.indexOf("SECRETS-SUCCESS"))
      assert.match(row ?? "", new RegExp(`^${name}\\s+testkit-absent-a, testkit-absent-b\\s+builder\\b`))
    } finally {
      await custom.deleteClusterCustomObject({ group, version, plural, name })
    }
  })

  it("rejects an ImagePullSecret with no source of credentials (docker, tcr or secretRef)", async () => {
    const name = `testkit-invalid-${suffix()}`
    const { code, body } = await apiErrorCode(
      custom.createClusterCustomObject({ group, version, plural, body: imagePullSecret(name, { namespaces: "*" }) })
    )
    assert.strictEqual(code, 422)
    assert.match(body, /exactly one of spec\.docker, spec\.tcr and spec\.secretRef must be set/)
    const after = await apiErrorCode(custom.getClusterCustomObject({ group, version, plural, name }))
    assert.strictEqual(after.code, 404)
  })

  it("gives a new namespace its default ServiceAccount through the controller manager", async () => {
    const namespace = `testkit-sa-${suffix()}`
    await core.createNamespace({ body: { metadata: { name: namespace } } })
    try {
      const serviceAccount = await eventually("the default ServiceAccount", async () => {
        const result = await core.readNamespacedServiceAccount({ name: "default", namespace }).catch(
          (error: unknown) => {
            if (error instanceof ApiException && error.code === 404) return undefined
            throw error
          }
        )
        return result
      })
      assert.strictEqual(serviceAccount.metadata?.namespace, namespace)
    } finally {
      await core.deleteNamespace({ name: namespace })
    }
  })
})

describe("a private control plane", () => {
  let plane: ControlPlane

  beforeAll(async () => {
    plane = await startControlPlane()
  })

  afterAll(async () => {
    await plane?.stop()
  })

  it("runs beside the shared one on its own ports and directory", async () => {
    const shared = readFileSync(inject("kubeconfigPath"), "utf8")
    const sharedServer = /server: (\S+)/.exec(shared)?.[1]
    assert.isDefined(sharedServer)
    assert.notStrictEqual(plane.server, sharedServer)
    assert.match(plane.server, /^https:\/\/127\.0\.0\.1:\d+$/)
    assert.isTrue(existsSync(join(plane.dir, "kube-apiserver.log")))
    // The CRD is installed on the shared plane only: the two share no storage.
    const { extensions, core } = clients(plane.kubeconfigPath)
    const { code } = await apiErrorCode(extensions.readCustomResourceDefinition({ name: `${plural}.${group}` }))
    assert.strictEqual(code, 404)
    const namespaces = await core.listNamespace()
    assert.includeMembers(namespaces.items.map((namespace) => namespace.metadata?.name), ["default", "kube-system"])
  })

  it("restarts kube-apiserver on the same port and keeps the data in etcd", async () => {
    const { core } = clients(plane.kubeconfigPath)
    const before = plane.processIds()
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "survives-restart" }, data: { answer: "42" } }
    })
    await plane.restartApiServer()
    const after = plane.processIds()
    assert.isDefined(after.kubeApiServer)
    assert.notStrictEqual(after.kubeApiServer, before.kubeApiServer)
    assert.isTrue(processGone(before.kubeApiServer!))
    assert.strictEqual(after.etcd, before.etcd)
    const configMap = await core.readNamespacedConfigMap({ name: "survives-restart", namespace: "default" })
    assert.strictEqual(configMap.data?.["answer"], "42")
  })

  it("leaves no process and no directory behind after stop()", async () => {
    // etcd, kube-apiserver, kube-controller-manager; kube-scheduler runs only for workloads.
    const pids = Object.values(plane.processIds()).filter((pid) => pid !== undefined)
    assert.strictEqual(pids.length, 3)
    await plane.stop()
    for (const pid of pids) assert.isTrue(processGone(pid!), `pid ${pid} is still running`)
    assert.isFalse(existsSync(plane.dir))
    assert.isTrue(Object.values(plane.processIds()).every((pid) => pid === undefined))
    await plane.stop()
  })
})

describe("a control plane whose port was taken", () => {
  it("starts again on fresh ports", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "testkit-port-"))
    try {
      const binaries = await resolveControlPlaneBinaries()
      // The first etcd fails the way a lost race for its port does; later ones are the real etcd.
      const marker = join(scratch, "failed-once")
      const etcd = join(scratch, "etcd")
      writeFileSync(etcd, [
        "#!/bin/sh",
        `if [ ! -e '${marker}' ]; then`,
        `  : > '${marker}'`,
        "  echo 'listen tcp 127.0.0.1:2379: bind: address already in use' >&2",
        "  exit 1",
        "fi",
        `exec '${binaries.etcd}' "$@"`,
        ""
      ].join("\n"))
      chmodSync(etcd, 0o755)
      const plane = await startControlPlane({ binaries: { ...binaries, etcd } })
      try {
        assert.isTrue(existsSync(marker))
        assert.match(readFileSync(join(plane.dir, "etcd.log"), "utf8"), /address already in use/)
        const { core } = clients(plane.kubeconfigPath)
        await core.readNamespace({ name: "default" })
      } finally {
        await plane.stop()
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})

describe("a control plane whose parent is killed with SIGKILL", () => {
  const fixture = fileURLToPath(new URL("./fixtures/hold-control-plane.ts", import.meta.url))

  // Each layer alone must be enough: the kernel's parent-death signal (Linux, through setpriv) and the
  // watchdog (everywhere; it also removes the run directory).
  for (const [label, extraEnv, removesDir] of [
    ["the parent-death signal alone", { TCR_ASSISTANT_TESTKIT_NO_WATCHDOG: "1" }, false],
    ["the watchdog alone", { TCR_ASSISTANT_TESTKIT_NO_PDEATHSIG: "1" }, true]
  ] as const) {
    it(`takes etcd, kube-apiserver and kube-controller-manager down with ${label}`, async () => {
      const scratch = mkdtempSync(join(tmpdir(), "testkit-orphan-"))
      const output = join(scratch, "plane.json")
      let runDir: string | undefined
      try {
        const parent = spawnTied(process.execPath, [fixture, output], {
          env: { ...process.env, ...extraEnv },
          stdio: ["ignore", "ignore", "inherit"]
        })
        const started = await eventually("the fixture's control plane", () => {
          if (parent.child.exitCode !== null) throw new Error(`fixture exited with ${parent.child.exitCode}`)
          return existsSync(output)
            ? (JSON.parse(readFileSync(output, "utf8")) as Record<"etcd" | "kubeApiServer" | "kubeControllerManager",
              number> & { dir: string })
            : undefined
        })
        runDir = started.dir
        const pids = [started.etcd, started.kubeApiServer, started.kubeControllerManager]
        for (const pid of pids) assert.isFalse(processGone(pid))
        parent.child.kill("SIGKILL")
        await parent.exited
        await eventually("the children to die", () => (pids.every(processGone) ? true : undefined))
        if (removesDir) {
          await eventually("the run directory to be removed", () => (existsSync(started.dir) ? undefined : true))
        }
      } finally {
        rmSync(scratch, { recursive: true, force: true })
        if (runDir !== undefined && !removesDir) rmSync(runDir, { recursive: true, force: true })
      }
    })
  }
})
