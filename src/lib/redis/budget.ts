// An ops/second budget (--max-ops) shared by every read and write of one run, so a long scan
// or repair never takes more than its share of a production server.

/** Idle time earns at most this much burst, so a pause is not followed by a flood. */
const MAX_BURST_MS = 100

export class Budget {
  private spent = 0
  private due = Date.now()

  /** @param opsPerSecond 0 (or less) means unlimited. */
  constructor(readonly opsPerSecond: number) {}

  /** Wait until `ops` more commands fit in the budget, then count them. */
  async take(ops = 1): Promise<void> {
    this.spent += ops
    if (this.opsPerSecond <= 0) return
    const now = Date.now()
    this.due = Math.max(this.due, now - MAX_BURST_MS) + (ops / this.opsPerSecond) * 1000
    const wait = this.due - now
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
  }

  get opsSpent(): number {
    return this.spent
  }
}
