// Every check family `qdoctor doctor` runs, in report order, and the --only/--skip selection over
// family names and check ids.
import {batchesFamily} from './batches.js'
import {connectionsFamily} from './connections.js'
import {deadFamily} from './dead.js'
import {failinfoFamily} from './failinfo.js'
import type {AnyFamily, CheckInfo} from './family.js'
import {processesFamily} from './processes.js'
import {queuesFamily} from './queues.js'
import {serverFamily} from './server.js'

// Adding a family: export a CheckFamily from families/<name>.ts whose `run` is the code its topic
// command runs (the command calls it, as queues.ts and failinfo.ts do); every reader that needs keys
// by pattern takes a `source` (so the shared pass serves it) and the family lists those patterns.
// Then add it here; the order is the report's: the server and its clients first, then the jobs.
export const FAMILIES: readonly AnyFamily[] = [serverFamily, connectionsFamily, processesFamily, queuesFamily, batchesFamily, deadFamily, failinfoFamily]

export function familyNamed(name: string): AnyFamily | undefined {
  return FAMILIES.find((f) => f.name === name)
}

/** Every check id a family can report, with its family. */
export function checkCatalog(families: readonly AnyFamily[] = FAMILIES): Array<CheckInfo & {family: string}> {
  return families.flatMap((f) => f.checks.map((c) => ({...c, family: f.name})))
}

export interface Selection {
  /** Families to run, each with the check ids kept. */
  families: Array<{family: AnyFamily; checks: Set<string>}>
  /** Keeps a finding (by check id) of a family that runs. */
  keeps: (family: string, check: string) => boolean
}

export class SelectionError extends Error {}

/**
 * `only` and `skip` name families (`queues`) or check ids (`queue/latency`), or a family's checks by
 * area (`queue/*`). Unknown names are an error listing what exists. A finding whose check id a family
 * did not declare is kept unless its family or id is skipped. A check superseded by a selected check of
 * another family (the same fact) is left out.
 */
export function selectChecks(only: readonly string[] = [], skip: readonly string[] = [], families: readonly AnyFamily[] = FAMILIES): Selection {
  const catalog = checkCatalog(families)
  const resolve = (name: string): {families: Set<string>; checks: Set<string>} => {
    if (families.some((f) => f.name === name)) return {families: new Set([name]), checks: new Set()}
    const matches = name.endsWith('/*') ? catalog.filter((c) => c.id.startsWith(name.slice(0, -1))) : catalog.filter((c) => c.id === name)
    if (matches.length === 0)
      throw new SelectionError(
        `"${name}" is neither a check family nor a check id. Families: ${families.map((f) => f.name).join(', ')}. Check ids: ${catalog.map((c) => c.id).join(', ')}.`,
      )
    return {families: new Set(matches.map((c) => c.family)), checks: new Set(matches.map((c) => c.id))}
  }
  const onlyR = only.map(resolve)
  const skipR = skip.map(resolve)
  const onlyFamilies = new Set(onlyR.flatMap((r) => (r.checks.size ? [] : [...r.families])))
  const onlyChecks = new Set(onlyR.flatMap((r) => [...r.checks]))
  const skipFamilies = new Set(skipR.flatMap((r) => (r.checks.size ? [] : [...r.families])))
  const skipChecks = new Set(skipR.flatMap((r) => [...r.checks]))
  const keeps = (family: string, check: string): boolean => {
    if (skipFamilies.has(family) || skipChecks.has(check)) return false
    if (only.length === 0) return true
    return onlyFamilies.has(family) || onlyChecks.has(check)
  }
  const selected = families
    .map((family) => ({family, checks: new Set(family.checks.map((c) => c.id).filter((id) => keeps(family.name, id)))}))
    .filter(({family, checks}) => {
      if (skipFamilies.has(family.name)) return false
      if (only.length === 0) return true
      return onlyFamilies.has(family.name) || checks.size > 0
    })
  // One fact, one finding: a check another running check supersedes is left out.
  const superseded = new Set(
    selected.flatMap(({family, checks}) => family.checks.filter((c) => c.supersedes && checks.has(c.id)).map((c) => c.supersedes!)),
  )
  for (const {checks} of selected) for (const id of superseded) checks.delete(id)
  return {families: selected, keeps: (family, check) => !superseded.has(check) && keeps(family, check)}
}
