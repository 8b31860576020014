// The interactive confirmation before a repair writes: names the target, the number of actions and
// the bytes they free, and goes ahead only on "y". Streams are parameters so it can be tested
// without a terminal.
import {createInterface} from 'node:readline'

import {humanBytes} from '../report/style.js'

export interface ConfirmRequest {
  /** The redacted URL (host:port/db, never a password). */
  target: string
  count: number
  /** Bytes the actions free (omitted when unknown). */
  bytes?: number
  /** e.g. "apply 12 actions to" / "undo 12 journal entries on". */
  verb?: string
  noun?: string
  /** Extra lines shown above the question (warnings). */
  notes?: string[]
}

export function confirmText(req: ConfirmRequest): string {
  const noun = req.noun ?? (req.count === 1 ? 'action' : 'actions')
  const bytes = req.bytes ? ` (about ${humanBytes(req.bytes)})` : ''
  const lines = [...(req.notes ?? []), `About to ${req.verb ?? 'apply'} ${req.count} ${noun}${bytes} on ${req.target}.`]
  return lines.join('\n') + '\n'
}

export const CONFIRM_QUESTION = 'Type y to go ahead, anything else to cancel: '

/** Ask; resolves true only for "y" (or "yes"). End of input or Ctrl-C is a no. */
export function confirm(req: ConfirmRequest, io: {input: NodeJS.ReadableStream; output: NodeJS.WritableStream}): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({input: io.input, output: io.output, terminal: Boolean((io.input as {isTTY?: boolean}).isTTY)})
    let done = false
    const finish = (answer: boolean) => {
      if (done) return
      done = true
      rl.close()
      resolve(answer)
    }
    rl.on('close', () => finish(false))
    rl.on('SIGINT', () => {
      io.output.write('\n')
      finish(false)
    })
    io.output.write(confirmText(req))
    rl.question(CONFIRM_QUESTION, (answer) => finish(/^y(es)?$/i.test(answer.trim())))
  })
}
