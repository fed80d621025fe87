// Owns the guarantee that child processes and their scratch directories do not outlive this Node process,
// however it ends: stop(), normal exit, a signal, an uncaught crash, or SIGKILL.
//
// Three layers, because no single one covers every case:
// - On Linux each child is started through `setpriv --pdeathsig KILL`, so the kernel kills it the moment the
//   thread that spawned it (here: the process's main thread) is gone, even after SIGKILL of the parent.
// - A detached watchdog process holds a pipe from this process. The kernel closes the pipe when this process
//   dies for any reason; the watchdog then kills the registered children and removes registered directories.
//   This also covers systems without setpriv and the short window before setpriv has armed the signal.
// - Exit and signal handlers kill the children synchronously while this process is still running, so even
//   the directories are gone by the time a normally ending process has exited.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process"
import { rmSync } from "node:fs"
import { createRequire } from "node:module"

export interface TiedChild {
  readonly child: ChildProcess
  /** Resolves with the exit code or signal once the child has exited (never rejects). */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

type WatchdogMessage =
  | { readonly watch: number }
  | { readonly release: number }
  | { readonly dir: string }
  | { readonly releaseDir: string }
  | { readonly cgroup: string }
  | { readonly releaseCgroup: string }

// cgroupfs directories are removed with rmdir, deepest first; an rmdir fails while a process is still inside.
// Written as source so that the watchdog, which must not import this module, runs the same function.
const removeCgroupTreeSource = `
function removeCgroupTree(root) {
  const fs = require("node:fs"), path = require("node:path")
  const visit = (dir) => {
    let entries
    try { entries = fs.readdirSync(dir, { withFileTypes: true }) } catch (error) { return error.code === "ENOENT" }
    let ok = true
    for (const entry of entries) if (entry.isDirectory()) ok = visit(path.join(dir, entry.name)) && ok
    try { fs.rmdirSync(dir) } catch (error) { if (error.code !== "ENOENT") ok = false }
    return ok
  }
  return visit(root)
}
`

/** Removes a cgroup directory and every cgroup below it; false if one is still in use (a process inside). */
export const removeCgroupTree: (root: string) => boolean =
  new Function("require", `${removeCgroupTreeSource}; return removeCgroupTree`)(createRequire(import.meta.url))

// The watchdog reads JSON lines on stdin; at end of input it kills what is still watched and removes the dirs.
const watchdogSource = `
const pids = new Set(), dirs = new Set(), cgroups = new Set()
let buffer = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk) => {
  buffer += chunk
  let newline
  while ((newline = buffer.indexOf("\\n")) >= 0) {
    const line = buffer.slice(0, newline)
    buffer = buffer.slice(newline + 1)
    try {
      const m = JSON.parse(line)
      if (m.watch) pids.add(m.watch)
      if (m.release) pids.delete(m.release)
      if (m.dir) dirs.add(m.dir)
      if (m.releaseDir) dirs.delete(m.releaseDir)
      if (m.cgroup) cgroups.add(m.cgroup)
      if (m.releaseCgroup) cgroups.delete(m.releaseCgroup)
    } catch {}
  }
})
${removeCgroupTreeSource}
const finish = () => {
  for (const pid of pids) { try { process.kill(pid, "SIGKILL") } catch {} }
  const rm = () => { for (const dir of dirs) { try { require("node:fs").rmSync(dir, { recursive: true, force: true }) } catch {} } }
  // Killed processes leave their cgroups only once the kernel has torn them down: retry for a few seconds.
  let tries = 0
  const rmCgroups = () => {
    for (const tree of cgroups) if (removeCgroupTree(tree)) cgroups.delete(tree)
    if (cgroups.size > 0 && ++tries < 50) setTimeout(rmCgroups, 100); else { rm(); process.exit(0) }
  }
  // Give the kernel a moment to tear down killed processes that still write into the directories.
  if (pids.size > 0 && (dirs.size > 0 || cgroups.size > 0)) setTimeout(rmCgroups, 500); else rmCgroups()
}
process.stdin.on("end", finish)
process.stdin.on("error", finish)
`

const live = new Map<number, ChildProcess>()
const scratchDirs = new Set<string>()
const cgroupTrees = new Set<string>()
let watchdog: ChildProcess | undefined
let handlersInstalled = false
let setprivAvailable: boolean | undefined

const hasSetpriv = () => {
  if (setprivAvailable === undefined) {
    // The variable exists so tests can prove the watchdog alone is enough.
    setprivAvailable =
      process.platform === "linux" &&
      process.env["TCR_ASSISTANT_TESTKIT_NO_PDEATHSIG"] !== "1" &&
      spawnSync("setpriv", ["--pdeathsig", "KILL", "--", "true"], { stdio: "ignore" }).status === 0
  }
  return setprivAvailable
}

const tellWatchdog = (message: WatchdogMessage) => {
  const stdin = ensureWatchdog()?.stdin
  if (stdin !== undefined && stdin !== null && stdin.writable) stdin.write(`${JSON.stringify(message)}\n`)
}

const ensureWatchdog = () => {
  // The variable exists so tests can prove the parent-death signal alone is enough.
  if (process.env["TCR_ASSISTANT_TESTKIT_NO_WATCHDOG"] === "1") return undefined
  if (watchdog !== undefined && watchdog.exitCode === null && watchdog.signalCode === null) return watchdog
  // Detached: a Ctrl-C sent to our process group must not kill the watchdog before it has done its job.
  const started = spawn(process.execPath, ["--input-type=commonjs", "-e", watchdogSource], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"]
  })
  started.unref()
  // The pipe must not keep this process alive either; it only has to close when this process ends.
  const stdin = started.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null
  stdin?.unref?.()
  started.stdin?.on("error", () => {})
  watchdog = started
  for (const pid of live.keys()) started.stdin?.write(`${JSON.stringify({ watch: pid })}\n`)
  for (const dir of scratchDirs) started.stdin?.write(`${JSON.stringify({ dir })}\n`)
  for (const cgroup of cgroupTrees) started.stdin?.write(`${JSON.stringify({ cgroup })}\n`)
  return started
}

const killAllNow = () => {
  for (const [pid, child] of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
  }
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
  // Processes just killed may still be inside: wait for them a little, synchronously (this may run on exit).
  for (let tries = 0; cgroupTrees.size > 0 && tries < 50; tries++) {
    for (const tree of cgroupTrees) if (removeCgroupTree(tree)) cgroupTrees.delete(tree)
    if (cgroupTrees.size > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
  }
}

const onSignal = (signal: NodeJS.Signals) => {
  // Someone else handles this signal (vitest, `npm run cluster`): they decide whether the process ends, and
  // the exit handler or the watchdog cleans up when it does. Alone, restore the default: clean up and die.
  if (process.listenerCount(signal) > 1) return
  killAllNow()
  removeHandlers()
  process.kill(process.pid, signal)
}

const signals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP"]

const removeHandlers = () => {
  for (const signal of signals) process.removeListener(signal, onSignal)
  process.removeListener("exit", killAllNow)
  handlersInstalled = false
}

const installHandlers = () => {
  if (handlersInstalled) return
  handlersInstalled = true
  for (const signal of signals) process.on(signal, onSignal)
  process.on("exit", killAllNow)
}

/**
 * Spawns `command` so that it dies with this process. Its stdio should be "ignore" or file descriptors: a pipe
 * to the parent would keep a killed child blocked on a full pipe.
 */
export const spawnTied = (command: string, args: ReadonlyArray<string>, options: SpawnOptions): TiedChild => {
  installHandlers()
  ensureWatchdog()
  const [file, argv] = hasSetpriv()
    ? ["setpriv", ["--pdeathsig", "KILL", "--", command, ...args]]
    : [command, [...args]]
  // Detached, so a terminal's Ctrl-C reaches only us and we can stop the children in order.
  const child = spawn(file, argv, { ...options, detached: true })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }))
    child.once("error", () => resolve({ code: null, signal: null }))
  })
  const pid = child.pid
  if (pid !== undefined) {
    live.set(pid, child)
    tellWatchdog({ watch: pid })
    void exited.then(() => {
      live.delete(pid)
      tellWatchdog({ release: pid })
    })
  }
  return { child, exited }
}

/** Registers a directory to delete if this process dies before `releaseScratchDir` is called. */
export const registerScratchDir = (dir: string) => {
  installHandlers()
  scratchDirs.add(dir)
  tellWatchdog({ dir })
}

export const releaseScratchDir = (dir: string) => {
  scratchDirs.delete(dir)
  if (watchdog !== undefined) tellWatchdog({ releaseDir: dir })
}

/** Registers a cgroup directory to remove (with everything below it) if this process dies before releasing it. */
export const registerCgroupTree = (dir: string) => {
  installHandlers()
  cgroupTrees.add(dir)
  tellWatchdog({ cgroup: dir })
}

export const releaseCgroupTree = (dir: string) => {
  cgroupTrees.delete(dir)
  if (watchdog !== undefined) tellWatchdog({ releaseCgroup: dir })
}

/** The pids this process has spawned through `spawnTied` and that have not exited yet. */
export const tiedProcessIds = (): ReadonlyArray<number> => [...live.keys()]
