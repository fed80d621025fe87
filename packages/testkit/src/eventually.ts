// Polling for a state to be reached: tests assert the state of the cluster, and reach it at the cluster's pace.

/** Poll until `check` returns without throwing; rethrow its last error if it never does within `patienceMillis`. */
export const eventually = async <A>(check: () => Promise<A> | A, patienceMillis = 60_000): Promise<A> => {
  const deadline = Date.now() + patienceMillis
  let delay = 20
  while (true) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, 200)
    }
  }
}
