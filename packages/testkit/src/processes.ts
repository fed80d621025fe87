// Small process helpers for tests: a free loopback port, and kubectl run without blocking the event loop (a webhook
// served by the test process must keep answering while kubectl waits for it).
import { spawn } from "node:child_process"
import { createServer } from "node:net"

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
