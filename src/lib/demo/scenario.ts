// What `qdoctor demo` runs against its seeded Redis: doctor settings scaled to a small dataset (the
// user's own config file is not read: the demo is the same everywhere), and the commands to try next.
import {FAMILIES} from '../checks/families/registry.js'
import {type DoctorConfig, mergeSettings, resolveConfig} from '../doctor/config.js'

/** Settings per family for the demo (only those of families this build has). */
const DEMO_SETTINGS: Record<string, Record<string, unknown>> = {
  // The seeded idle connections are seconds old, not hours.
  connections: {'idle-after': '2s'},
  // No worker runs on the demo server, so nothing can move between the ghost hunt's passes: a short
  // settle keeps the demo quick (on a real Redis it is two heartbeats).
  batches: {settle: '1s'},
}

export function loadDemoConfig(): DoctorConfig {
  const present = Object.fromEntries(Object.entries(DEMO_SETTINGS).filter(([name]) => FAMILIES.some((f) => f.name === name)))
  return resolveConfig(mergeSettings(present), 'the demo settings')
}

export interface NextStep {
  /** The topic command it needs (steps whose command this build lacks are left out). */
  topic: string
  command: string
  why: string
}

const STEPS: Array<Omit<NextStep, 'command'> & {args: string}> = [
  {topic: 'batches', args: 'batches --ghosts', why: 'where every pending job of every batch is: alive, retrying, stranded or a ghost'},
  {topic: 'batches', args: 'batches --ghosts --repair rescue --dry-run', why: 'plan moving the stranded jobs out of the dead process’s private queue'},
  {topic: 'failinfo', args: 'failinfo --purge --orphans-only --dry-run', why: 'plan removing failinfo whose batch is gone (drop --dry-run to do it; qdoctor undo puts it back)'},
  {topic: 'dead', args: 'dead --loops --watch 2s', why: 'the retry-loop traces in the dead set'},
  {topic: 'processes', args: 'processes --prune --dry-run', why: 'plan removing the stale process and its leftovers'},
  {topic: 'connections', args: 'connections --idle-after 1s', why: 'who holds the idle connections'},
  {topic: 'queues', args: 'queues --deep', why: 'every queue, and every unreadable payload in them'},
]

export function nextSteps(url: string, hasCommand: (id: string) => boolean): NextStep[] {
  return STEPS.filter((s) => hasCommand(s.topic)).map(({topic, args, why}) => ({topic, command: `qdoctor ${args} --url ${url}`, why}))
}
