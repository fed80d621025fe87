// `npm start` with no cluster configured, on a machine that can run the kit's node: it must end with the add-on's
// pods and a demo pod that pulled a private image with no imagePullSecrets in its YAML, print commands that work,
// and leave nothing behind on Ctrl-C.
import { execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, it } from "vitest"
import { eventually } from "@tcr-assistant/testkit/eventually"

const start = fileURLToPath(new URL("../src/start.ts", import.meta.url))

it("runs the add-on as pods on a local node, shows a private pull, and stops cleanly on Ctrl-C", async () => {
  const child = spawn(process.execPath, [start], {
    env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  try {
    await eventually(() => {
      if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`)
      if (!output.includes("Ctrl-C stops everything.")) throw new Error("not ready yet")
    }, 1_100_000)
    assert.include(output, "starting a local cluster with a real node")
    // Run the printed commands as a user would copy them.
    const command = (pattern: RegExp) => {
      const line = output.split("\n").find((candidate) => pattern.test(candidate))
      assert.isDefined(line, `no line matching ${pattern} in:\n${output}`)
      const [program, ...args] = line!.trim().split("#")[0]!.trim().split(/\s+/)
      return execFileSync(program!, args.map((arg) => arg.replace(/^'(.*)'$/, "$1")), { encoding: "utf8" })
    }
    assert.include(command(/ logs -n demo hello/), "pulled from the private registry")
    assert.include(command(/get pod hello -n demo -o jsonpath/), "tcr.ipsdemo-registry")
    assert.match(command(/^\s*cat .*\/etc\/hosts/), /^10\.244\.255\.254\s+demo\.tencentcloudcr\.com$/m)
    const nodeDir = /cat (\/\S+)\/etc\/hosts/.exec(output)![1]!
    child.kill("SIGINT")
    assert.strictEqual(await exited, 130)
    assert.isFalse(existsSync(nodeDir))
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- npm start printed ---\n${output}`)
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL")
  }
}, 1_200_000) // A first run builds the image (minutes on a loaded machine) before anything else.
