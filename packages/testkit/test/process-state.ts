// Test helpers about processes: whether one is gone, and waiting for a condition without a tight time limit.
import { readFileSync } from "node:fs"
import { setTimeout as sleep } from "node:timers/promises"

/** True once the process has exited. A zombie counts as gone: it is dead, only not yet reaped by init. */
export const processGone = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && process.platform === "linux") return true
  }
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}


/** Polls until `check` returns a value other than undefined; generous deadline, so a loaded machine cannot flake. */
export const eventually = async <A>(what: string, check: () => A | undefined | Promise<A | undefined>,
  timeoutMillis = 120_000): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  for (;;) {
    const result = await check()
    if (result !== undefined) return result
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}
