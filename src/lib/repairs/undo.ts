// Undo: a journal's entries become conditional "put back" actions, newest first. Only entries that
// took effect (or may have: "in doubt") are undone; skipped and failed ones changed nothing.
import type {UndoAction} from './actions.js'
import type {Journal, JournalEntry} from './journal.js'

export interface UndoPlan {
  actions: UndoAction[]
  /** Intent lines in the journal. */
  entries: number
  /** Entries the run recorded as applied. */
  applied: number
  /** Entries whose outcome was never recorded (the run stopped between the intent and the outcome). */
  inDoubt: number
  /** Entries the run skipped or that failed before writing: nothing to undo. */
  notApplied: number
  /** Bytes of DUMP payloads the plan would restore. */
  bytes: number
}

export function isInDoubt(entry: JournalEntry): boolean {
  return !entry.outcome || entry.outcome.status === 'unknown'
}

export function planUndo(journal: Journal, options: {force?: boolean} = {}): UndoPlan {
  const force = options.force ?? false
  let applied = 0
  let inDoubt = 0
  let notApplied = 0
  let bytes = 0
  const actions: UndoAction[] = []
  for (const entry of [...journal.entries].reverse()) {
    const doubt = isInDoubt(entry)
    if (doubt) inDoubt++
    else if (entry.outcome!.status === 'applied') applied++
    else {
      notApplied++
      continue
    }
    bytes += entry.dumpBytes ?? 0
    actions.push({
      kind: 'undo',
      entry,
      inDoubt: doubt,
      force,
      ...(entry.dumpBytes !== undefined ? {loadDump: () => journal.loadDump(entry)} : {}),
    })
  }
  return {actions, entries: journal.entries.length, applied, inDoubt, notApplied, bytes}
}
