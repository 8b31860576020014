// Rendering a repair's plan or results (report.actions): a table of the first rows and a tally.
import {table} from './render.js'
import {humanBytes, type Style} from './style.js'
import type {ActionRecord, ActionStatus} from './types.js'

export const ACTIONS_SHOWN = 50

const ORDER: ActionStatus[] = ['planned', 'applied', 'skipped', 'failed', 'not-reached']

function paint(style: Style, status: ActionStatus): string {
  switch (status) {
    case 'applied':
      return style.color.green(status)
    case 'skipped':
      return style.color.yellow(status)
    case 'failed':
      return style.color.red.bold(status)
    case 'not-reached':
      return style.color.dim(status)
    default:
      return style.color.cyan(status)
  }
}

function clipCell(text: string | undefined, max: number): string {
  if (!text) return ''
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

export function tallyActions(actions: readonly ActionRecord[]): string {
  const counts = new Map<ActionStatus, number>()
  for (const a of actions) counts.set(a.status, (counts.get(a.status) ?? 0) + 1)
  return ORDER.filter((s) => counts.get(s))
    .map((s) => `${counts.get(s)} ${s === 'not-reached' ? 'not reached' : s}`)
    .join(', ')
}

export function renderActions(style: Style, actions: readonly ActionRecord[], max = ACTIONS_SHOWN): string {
  if (actions.length === 0) return 'Nothing to do: the plan is empty.'
  const rows = actions.slice(0, max).map((a, i) => [
    String(i + 1),
    a.step,
    clipCell(a.key, 40),
    paint(style, a.status),
    clipCell(a.detail, 110),
    a.bytes === undefined ? '' : humanBytes(a.bytes),
  ])
  const lines = [table(style, ['#', 'step', 'key', 'status', 'detail', 'bytes'], rows)]
  if (actions.length > max) lines.push(style.color.dim(`… and ${actions.length - max} more actions (--json lists them all)`))
  // Bytes of what is planned or was done (skipped actions freed nothing).
  const bytes = actions.reduce((sum, a) => sum + (a.status === 'planned' || a.status === 'applied' ? (a.bytes ?? 0) : 0), 0)
  lines.push(`${actions.length} actions: ${tallyActions(actions)}${bytes ? ` (${humanBytes(bytes)})` : ''}`)
  return lines.join('\n')
}
