import type { Connection } from './connection.js'
import type { GroupEncryption } from './encryption.js'
import { ChatError } from './error.js'
import { allReceipts, type Receipt } from './group.js'
import type { Listeners } from './listeners.js'
import type { GroupDeletedEvent } from './protocol.js'
import type { Timeline } from './timeline.js'

/** What catching up reads and tells: the connection, the order, the groups known, their keys and receipts. */
export interface CatchUpParts {
  connection: Connection
  timeline: Timeline
  /** Whether this client knows group `gid` (it was handed an object for it). */
  knows(gid: string): boolean
  encryption: Pick<GroupEncryption, 'mark' | 'ready'>
  receipts: Listeners<[Receipt]>
  /** This device publishes key packages (the app asked for end-to-end encryption). */
  publishesKeys: boolean
  /** A group deleted while this client was away, that it knew of: it ends here as it would live. */
  deleted(event: GroupDeletedEvent): void
}

/**
 * Brings every group in order after a (re)connect: pages through `sync`, aligns each group's position, reads
 * the receipts that moved meanwhile, and gets the encrypted groups' keys ready. One run at a time.
 */
export class CatchUp {
  #running: Promise<void> = Promise.resolve()

  constructor(private readonly parts: CatchUpParts) {}

  /** Resolves once every group is in order; a run asked for while one runs follows it. */
  run(): Promise<void> {
    this.#running = this.#running.catch(() => {}).then(() => this.#syncAll())
    return this.#running
  }

  /** Runs it, reporting a failure other than the connection closing or timing out. */
  quietly(report: (error: unknown) => void): void {
    this.run().catch((error: unknown) => {
      if (!(error instanceof ChatError && (error.code === 'CLOSED' || error.code === 'TIMEOUT')))
        report(error)
    })
  }

  async #syncAll(): Promise<void> {
    const { connection, timeline, encryption, receipts } = this.parts
    await timeline.load()
    const joined: string[] = []
    let iss: string | undefined
    let cursor: string | undefined
    do {
      const askedAt = timeline.clock
      const page = await connection.request('sync', cursor === undefined ? {} : { cursor })
      for (const event of page.deleted ?? []) {
        const known = timeline.cursor(event.gid) !== undefined || this.parts.knows(event.gid)
        if (known) this.parts.deleted(event)
      }
      for (const { gid, encrypted } of page.groups) encryption.mark(gid, encrypted)
      joined.push(...page.groups.flatMap(({ gid, status }) => (status === 'joined' ? [gid] : [])))
      iss = page.iss
      const before = new Map(page.groups.map((g) => [g.gid, timeline.cursor(g.gid)]))
      await timeline.align(page.iss, page.groups, askedAt)
      if (receipts.size > 0) {
        for (const { gid, status } of page.groups) {
          const seen = before.get(gid)
          if (status === 'joined' && seen !== undefined) await this.#receiptsSince(gid, Math.max(seen - 1, 0))
        }
      }
      cursor = page.next
    } while (cursor !== undefined)
    timeline.aligned()
    await timeline.settled()
    if (iss !== undefined) await encryption.ready(iss, joined, this.parts.publishesKeys)
  }

  /**
   * Receipts are positions, not events: after a reconnect the ones that moved meanwhile are read once. The
   * index a sync pages through lags a little: a group it still shows joined may have just been left, and
   * its refusal is no error (the group's own events tell the end).
   */
  async #receiptsSince(gid: string, since: number): Promise<void> {
    try {
      for (const receipt of await allReceipts(this.parts.connection, gid, since))
        this.parts.receipts.emit(receipt)
    } catch (error) {
      if (!(error instanceof ChatError && (error.code === 'FORBIDDEN' || error.code === 'NOT_FOUND')))
        throw error
    }
  }
}
