// Polling for a state to be reached: tests assert the state of the cluster, and reach it at the cluster's pace.
import { setTimeout as sleep } from "node:timers/promises"

/** Poll until `check` returns without throwing; rethrow its last error if it never does within `patienceMillis`. */
export const eventually = async <A>(check: () => Promise<A> | A, patienceMillis = 60_000): Promise<A> => {
  const deadline = Date.now() + patienceMillis
  let delay = 20
  while (true) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(delay)
      delay = Math.min(delay * 2, 200)
    }
  }
}

/**
 * Poll `check` every `everyMillis` until it returns true, for measuring when something happened: the
 * `performance.now()` of the first true, or undefined once `stop()` says to give up. A rejection is the caller's to
 * turn into false (a server not yet listening) or to let through.
 */
export const firstTrue = async (check: () => Promise<boolean>, everyMillis: number, stop: () => boolean = () => false) => {
  while (!stop()) {
    if (await check()) return performance.now()
    await sleep(everyMillis)
  }
  return undefined
}
