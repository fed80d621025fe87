// Small process helpers for tests: a free loopback port, a GET on one, and kubectl run without blocking the event
// loop (a webhook served by the test process must keep answering while kubectl waits for it).
import { spawn } from "node:child_process"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"

/** A memory field of /proc/<pid>/status in MiB (VmRSS, VmHWM, RssAnon, RssFile, ...); 0 when the kernel has none. */
export const processStatusMiB = (pid: number, field: string): number =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0") / 1024

/** A port on 127.0.0.1 that was free a moment ago. */
export const freePort = (): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

export interface KubectlResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run kubectl against a kubeconfig, asynchronously, with optional standard input. */
export const kubectl = (kubeconfig: string, args: ReadonlyArray<string>, input?: string): Promise<KubectlResult> =>
  new Promise<KubectlResult>((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", kubeconfig, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(input ?? "")
  })

/**
 * kubectl against the kubeconfig `kubeconfig()` returns when called (a test's control plane starts in `beforeAll`):
 * `run` returns the output and throws with kubectl's error output when it exits non-zero, `json` parses `-o json`.
 */
export const kubectlOn = (kubeconfig: () => string) => {
  const run = async (args: ReadonlyArray<string>, input?: string): Promise<string> => {
    const result = await kubectl(kubeconfig(), args, input)
    if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`)
    return result.stdout
  }
  const json = async <A>(args: ReadonlyArray<string>): Promise<A> => JSON.parse(await run([...args, "-o", "json"])) as A
  return { run, json }
}

/** Seconds since `since` (a `Date.now()`), to a tenth: the figures the real-node tests print. */
export const secondsSince = (since: number): number => Math.round((Date.now() - since) / 100) / 10

export interface LoopbackReply {
  readonly status: number
  readonly body: string
  readonly contentType: string
}

/**
 * GET `http(s)://127.0.0.1:port/path`, as `curl` (with `-k` for https: our servers' certificates are self-signed),
 * with a bearer token when given. Times out after 30 s.
 */
export const loopbackGet = (options: { readonly port: number; readonly path: string; readonly secure?: boolean; readonly token?: string | undefined }) =>
  new Promise<LoopbackReply>((resolve, reject) => {
    const get = options.secure === true ? httpsRequest : httpRequest
    const req = get({
      host: "127.0.0.1",
      port: options.port,
      path: options.path,
      ...(options.secure === true ? { rejectUnauthorized: false } : {}),
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
      timeout: 30_000
    }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers["content-type"] ?? "") }))
    })
    req.on("timeout", () => req.destroy(new Error(`GET ${options.path} on port ${options.port}: timed out`)))
    req.on("error", reject)
    req.end()
  })
