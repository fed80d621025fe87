// Owns a private image registry for the real node: Debian's docker-registry (distribution) on a free loopback port,
// TLS from the kit's own CA under a TCR-like domain, htpasswd (bcrypt) authentication, and pushing an OCI layout
// into it with skopeo.
import { spawnSync } from "node:child_process"
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { createCertificateAuthority, issueCertificate } from "@tcr-assistant/kube/pki"
import { ensureDebianPackages } from "./debian-packages.ts"
import { registerScratchDir, releaseScratchDir, spawnTied } from "./process-lifeline.ts"
import { freePort } from "./processes.ts"
import { setTimeout as sleep } from "node:timers/promises"

export interface RegistryUser {
  readonly username: string
  readonly password: string
}

export interface RegistryOptions {
  /** The name in the serving certificate and in image references; defaults to `demo.tencentcloudcr.com`. */
  readonly domain?: string
  readonly user: RegistryUser
  readonly parentDir?: string
}

export interface Registry {
  readonly domain: string
  readonly port: number
  /** `domain:port`: the registry's name in image references and in a dockerconfigjson. */
  readonly host: string
  /** PEM of the CA that signed the serving certificate. */
  readonly caCertPem: string
  readonly caCertPath: string
  readonly dir: string
  readonly logPath: string
  /** The registry's log so far. */
  readonly log: () => string
  /** Replaces the registry's user (a password rotation): from now on only the new credentials are accepted. */
  readonly setUser: (user: RegistryUser) => Promise<void>
  /** Pushes an OCI layout's tag to `<host>/<repository>:<tag>` as the registry's user; returns that reference. */
  readonly push: (layoutDir: string, tag: string, repository: string) => Promise<string>
  readonly stop: () => Promise<void>
}

export class RegistryError extends Error {
  override readonly name = "RegistryError"
}

export const defaultRegistryDomain = "demo.tencentcloudcr.com"


const runOrThrow = (command: string, args: ReadonlyArray<string>, what: string) => {
  const result = spawnSync(command, args, { encoding: "utf8" })
  if (result.error !== undefined || result.status !== 0) {
    throw new RegistryError(`${what} failed: ${result.error?.message ?? result.stderr.trim()}`)
  }
  return result.stdout
}

// `/v2/` answers 401 to anonymous clients once the registry serves: that is readiness.
const answers = (port: number, domain: string, caCertPem: string) =>
  new Promise<boolean>((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/v2/", servername: domain, ca: caCertPem,
      timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 401)
    })
    req.on("error", () => resolve(false))
    req.on("timeout", () => req.destroy())
    req.end()
  })

export const startRegistry = async (options: RegistryOptions): Promise<Registry> => {
  await ensureDebianPackages("the test kit's registry", [
    { file: "docker-registry", pkg: "docker-registry" },
    { file: "htpasswd", pkg: "apache2-utils" },
    { file: "skopeo", pkg: "skopeo" }
  ])
  const domain = options.domain ?? defaultRegistryDomain
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), "tcr-registry-"))
  registerScratchDir(dir)
  const { ca, serving } = await Effect.runPromise(Effect.gen(function*() {
    const ca = yield* createCertificateAuthority({ commonName: "tcr-assistant-registry-ca", validityDays: 7 })
    const serving = yield* issueCertificate(ca, { commonName: domain, dnsNames: [domain], ipAddresses: ["127.0.0.1"],
      usage: "server", validityDays: 7 })
    return { ca, serving }
  }))
  const certsDir = join(dir, "certs")
  mkdirSync(certsDir)
  writeFileSync(join(certsDir, "ca.crt"), ca.certPem)
  writeFileSync(join(dir, "tls.crt"), serving.certPem)
  writeFileSync(join(dir, "tls.key"), serving.keyPem, { mode: 0o600 })
  const htpasswd = runOrThrow("htpasswd", ["-Bbn", options.user.username, options.user.password], "htpasswd")
  writeFileSync(join(dir, "htpasswd"), htpasswd, { mode: 0o600 })
  const port = await freePort()
  writeFileSync(join(dir, "config.yml"), [
    "version: 0.1",
    "log: { level: info, formatter: text }",
    `storage: { filesystem: { rootdirectory: ${join(dir, "data")} }, delete: { enabled: true } }`,
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  tls: { certificate: ${join(dir, "tls.crt")}, key: ${join(dir, "tls.key")} }`,
    "  debug: { addr: '' }",
    `auth: { htpasswd: { realm: ${domain}, path: ${join(dir, "htpasswd")} } }`,
    ""
  ].join("\n"))
  const logPath = join(dir, "registry.log")
  const log = () => readFileSync(logPath, "utf8")
  const launch = () => {
    const logFd = openSync(logPath, "a")
    const tied = spawnTied("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", logFd, logFd] })
    closeSync(logFd)
    const running = { tied, exited: false }
    void tied.exited.then(() => (running.exited = true))
    return running
  }
  const halt = async (running: ReturnType<typeof launch>) => {
    if (!running.exited) running.tied.child.kill("SIGTERM")
    await running.tied.exited
  }
  const untilServing = async (running: ReturnType<typeof launch>) => {
    const deadline = Date.now() + 60_000
    while (!(await answers(port, domain, ca.certPem))) {
      if (running.exited || Date.now() > deadline) {
        throw new RegistryError(`docker-registry did not start serving on 127.0.0.1:${port}:\n${log().slice(-2000)}`)
      }
      await sleep(100)
    }
  }
  let current = launch()
  const stop = async () => {
    await halt(current)
    rmSync(dir, { recursive: true, force: true })
    releaseScratchDir(dir)
  }
  try {
    await untilServing(current)
  } catch (error) {
    await stop()
    throw error
  }
  let currentUser = options.user
  // docker-registry reads its htpasswd file once: a rotation rewrites it and restarts the registry on its port.
  const setUser = async (user: RegistryUser) => {
    writeFileSync(join(dir, "htpasswd"), runOrThrow("htpasswd", ["-Bbn", user.username, user.password], "htpasswd"),
      { mode: 0o600 })
    currentUser = user
    await halt(current)
    current = launch()
    await untilServing(current)
  }
  const host = `${domain}:${port}`
  const push = async (layoutDir: string, tag: string, repository: string) => {
    // skopeo reaches the registry by IP (the machine's resolver knows nothing of the domain); the certificate
    // carries IP 127.0.0.1 too. The reference the node pulls uses the domain.
    runOrThrow("skopeo", ["--insecure-policy", "copy", "--quiet",
      "--dest-creds", `${currentUser.username}:${currentUser.password}`, "--dest-cert-dir", certsDir,
      `oci:${layoutDir}:${tag}`, `docker://127.0.0.1:${port}/${repository}:${tag}`], `push of ${repository}:${tag}`)
    return `${host}/${repository}:${tag}`
  }
  return { domain, port, host, caCertPem: ca.certPem, caCertPath: join(certsDir, "ca.crt"), dir, logPath, log, push,
    setUser, stop }
}
