import type { Connection } from './connection.js'

/**
 * Delivered receipts, batched: at most one per group every `delayMs`, covering all it was handed, and never a
 * second one for a group while its last is unanswered (requests go one at a time: on a slow connection,
 * receipts piling up would hold the app's own requests behind them). Best effort: a receipt that does not get
 * through is covered by the next one.
 */
export class DeliveredReceipts {
  /** The highest seq handed, per group, not sent yet. */
  readonly #due = new Map<string, number>()
  /** Groups whose receipt is still waiting for its answer: the next one waits behind it. */
  readonly #sending = new Set<string>()
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly connection: Pick<Connection, 'request'>,
    private readonly delayMs: number,
  ) {}

  /** Says, within `delayMs`, that group `gid`'s events up to `seq` were delivered. */
  soon(gid: string, seq: number): void {
    this.#due.set(gid, Math.max(seq, this.#due.get(gid) ?? 0))
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined
      for (const [gid, delivered] of this.#due) {
        if (this.#sending.has(gid)) continue
        this.#due.delete(gid)
        this.#sending.add(gid)
        this.connection
          .request('receipt', { gid, delivered })
          .catch(() => {})
          .finally(() => {
            this.#sending.delete(gid)
            if (this.#due.has(gid)) this.soon(gid, 0)
          })
      }
    }, this.delayMs)
  }

  /** Sends nothing more for group `gid` (deleted). */
  forget(gid: string): void {
    this.#due.delete(gid)
  }

  stop(): void {
    clearTimeout(this.#timer)
  }
}
