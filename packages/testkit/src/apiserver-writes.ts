// What a controller process wrote to the apiserver, read from its client's request counter in a /metrics text
// (`tcr_assistant_apiserver_requests_total{verb,resource,code}`): the tests and benches that assert or print "no
// writes at quiet" or "one status write per interval" count from here.
import { prometheusSamples } from "@tcr-assistant/kube/prometheus"

const requestCounter = "tcr_assistant_apiserver_requests_total"
const writeVerbs: ReadonlySet<string> = new Set(["create", "update", "patch", "delete", "deletecollection"])

/** Writes counted so far by `verb resource` (e.g. `patch serviceaccounts`), over every answer code. */
export type Writes = ReadonlyMap<string, number>

/**
 * The writes in one exposition, leaving out the resources in `except` (e.g. `leases`, which a replica renews all the
 * time, or `tokenreviews` and `subjectaccessreviews`, which the secure /metrics creates for each scrape and the
 * apiserver does not store).
 */
export const writesByResource = (metricsText: string, except: ReadonlyArray<string> = []): Writes => {
  const writes = new Map<string, number>()
  for (const { name, labels, value } of prometheusSamples(metricsText)) {
    const { verb = "", resource = "" } = labels
    if (name !== requestCounter || !writeVerbs.has(verb) || except.includes(resource)) continue
    const key = `${verb} ${resource}`
    writes.set(key, (writes.get(key) ?? 0) + value)
  }
  return writes
}

/** What was written between two readings of the same process. */
export const writesBetween = (before: Writes, after: Writes): Writes =>
  new Map([...after].map(([key, count]) => [key, count - (before.get(key) ?? 0)] as const).filter(([, count]) => count > 0))

export const totalWrites = (writes: Writes): number => [...writes.values()].reduce((sum, count) => sum + count, 0)

/** `2 patch serviceaccounts, 1 create events`, or `none`. */
export const describeWrites = (writes: Writes): string =>
  writes.size === 0 ? "none" : [...writes].map(([key, count]) => `${count} ${key}`).join(", ")
