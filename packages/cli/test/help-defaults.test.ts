// Every command's `--help` says, for each of its flags, what happens when the flag is left out: its default, or that
// it is required. The shown default is the value the parser falls back to.
import * as NodeServices from "@effect/platform-node/NodeServices"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { describe, expect, test } from "vitest"
import { defaultSuffix, optionalWithShownDefault, requiredSuffix, withShownDefault } from "../src/flag-default.ts"

const mainPath = fileURLToPath(new URL("../src/main.ts", import.meta.url))

const help = (args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [mainPath, ...args, "--help"], { encoding: "utf8" })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout
}

/** The rows of one section of the help text (FLAGS, SUBCOMMANDS), each a flag or command and its description. */
const section = (text: string, title: string): ReadonlyArray<string> => {
  const lines = text.split("\n")
  const start = lines.indexOf(title)
  if (start < 0) return []
  const rows: Array<string> = []
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "") break
    rows.push(line.trim())
  }
  return rows
}

const subcommands = section(help([]), "SUBCOMMANDS").map((row) => row.split(/\s+/)[0]!)

test("the root help lists every command", () => {
  expect(subcommands).toEqual(["controller", "hosts-updater", "render", "install", "status", "uninstall", "rotate-token", "helm-hook"])
})

/** Every runnable command: a subcommand, or each of a group's own subcommands (helm-hook's). */
const commands = subcommands.flatMap((command) => {
  const nested = section(help([command]), "SUBCOMMANDS").map((row) => row.split(/\s+/)[0]!)
  return nested.length === 0 ? [command] : nested.map((inner) => `${command} ${inner}`)
})

test("the helm-hook group holds the chart's two hook commands", () => {
  expect(commands.filter((command) => command.startsWith("helm-hook"))).toEqual([
    "helm-hook upgrade-crd",
    "helm-hook delete-image-pull-secrets"
  ])
})

describe.each(commands)("tcr-assistant %s --help", (command) => {
  test("shows the default of every flag, or that it is required", () => {
    const rows = section(help(command.split(" ")), "FLAGS")
    for (const row of rows) {
      expect(/\(default: [^)]/.test(row) || row.endsWith(requiredSuffix), row).toBe(true)
    }
  })
})

test("install --help shows the defaults the install runs with", () => {
  const rows = section(help(["install"]), "FLAGS")
  const row = (flag: string) => rows.find((candidate) => candidate.startsWith(`--${flag} `)) ?? ""
  expect(row("namespaces")).toContain(defaultSuffix("*"))
  expect(row("domains")).toContain(defaultSuffix("default,private"))
  expect(row("timeout")).toContain(defaultSuffix("300"))
  expect(row("region").endsWith(requiredSuffix)).toBe(true)
})

/** What a one-flag command parses from `args`. */
const parsed = <A>(flag: Flag.Flag<A>, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let value: A | undefined
    const command = Command.make("probe", { flag }, ({ flag }) => Effect.sync(() => {
      value = flag
    }))
    yield* Command.runWith(command, { version: "0" })(args)
    return value
  }).pipe(Effect.provide(NodeServices.layer), Effect.runPromise)

describe("withShownDefault", () => {
  const timeout = Flag.Int("timeout").pipe(withShownDefault("Seconds to wait", 300))

  test("falls back to the value it shows", async () => {
    expect(await parsed(timeout, [])).toBe(300)
    expect(await parsed(timeout, ["--timeout", "5"])).toBe(5)
  })
})

describe("optionalWithShownDefault", () => {
  test("leaves the flag absent, for the command to resolve", async () => {
    const node = Flag.String("node-name").pipe(optionalWithShownDefault("This node's name", "NODE_NAME"))
    const absent = await parsed(node, [])
    expect(absent?._tag).toBe("None")
  })
})
