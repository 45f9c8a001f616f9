import type { CursorStore, Cursors } from './cursors.js'
import { ChatError } from './error.js'
import type { GroupEvent, GroupPosition } from './protocol.js'

/** One page of a group's log after a seq, as the history action returns it. */
export interface LogPage {
  events: GroupEvent[]
  /** The last seq the client may read. */
  head: number
  next?: number
}

export interface TimelineOptions {
  store: CursorStore
  /** Reads the group's log after `after`, ascending. */
  readAfter(gid: string, after: number): Promise<LogPage>
  /** Asks where this client stands in every group (sync, then align), for a group whose start it does not know. */
  resync(): void
  /** Hands one event to the app: called once per event, in seq order per group. */
  deliver(event: GroupEvent): void
  /** How long a hole may stay open for a late post before the client reads the log. */
  gapGraceMs: number
  report(error: unknown): void
}

/**
 * This client's own write: its event is not posted back to it, but it takes its place in the order, and
 * what it changes in the group's state (`apply`) happens there.
 */
interface OwnWrite {
  own: true
  apply?: () => void
}

/** Where one group's order stands here: its cursor, what waits ahead of a hole, a read of the log. */
interface GroupOrder {
  gid: string
  /** The seq of the last event handed over (or passed by); undefined while the group's start is unknown. */
  cursor?: number
  /** When the cursor last moved, on the timeline's clock. */
  movedAt: number
  /** Events that arrived ahead of a hole (or before the start was known), and this client's own writes. */
  ahead: Map<number, GroupEvent | OwnWrite>
  /** This client asked to join or create the group: the ack will say where its story starts. */
  expected: boolean
  filling?: Promise<void>
  timer?: ReturnType<typeof setTimeout>
}

/**
 * Puts each group's events in seq order and hands each to the app exactly once. Events come from the
 * socket (posts may fail or arrive out of order) and from the log (catch-up and filling holes);
 * whatever has been handed over is dropped when it comes again. Cursors persist through `store`.
 */
export class Timeline {
  readonly #options: TimelineOptions
  readonly #groups = new Map<string, GroupOrder>()
  /** Events that arrived before the first sync told who this client is. */
  readonly #early: GroupEvent[] = []
  /** Counts cursor moves, so that a sync's answer can be told apart from what moved after it was asked. */
  #clock = 0
  #me: string | undefined
  #firstRun = true
  #loaded: Promise<void> | undefined
  #saving: Promise<void> | undefined
  #dirty = false
  #closed = false

  constructor(options: TimelineOptions) {
    this.#options = options
  }

  /** The identity the server knows this client as, once sync has said it. */
  get me(): string | undefined {
    return this.#me
  }

  /** The timeline's clock: pass it to `align` for the sync asked now. */
  get clock(): number {
    return this.#clock
  }

  /** The seq of the last event handed to the app in group `gid`. */
  cursor(gid: string): number | undefined {
    return this.#groups.get(gid)?.cursor
  }

  /** An event posted to this connection. */
  receive(event: GroupEvent): void {
    if (this.#me === undefined) this.#early.push(event)
    else this.#accept(this.#group(event.gid), event, false)
  }

  /**
   * This client is about to join or create group `gid`: events that come before the ack wait for it, and
   * a hole before them is not read, even after an earlier membership (the log would answer with the events
   * of the time between, when this identity was invited again but had not joined).
   */
  expect(gid: string): void {
    this.#group(gid).expected = true
  }

  /** The join or creation did not happen: events that waited for it wait for a sync instead. */
  release(gid: string): void {
    const group = this.#group(gid)
    group.expected = false
    this.#drain(group)
  }

  /** This client's own join: the group's story starts (again) there, and the join is not handed over. */
  joined(gid: string, seq: number): void {
    const group = this.#group(gid)
    group.expected = false
    if (group.cursor === undefined || seq > group.cursor) this.#skipTo(group, seq)
    else this.#drain(group)
  }

  /** A group this client created or learned of by its own request: it follows it from `head` on. */
  follow(gid: string, head: number): void {
    const group = this.#group(gid)
    group.expected = false
    if (group.cursor === undefined) this.#skipTo(group, head)
    else this.#drain(group)
  }

  /**
   * Another write of this client's own (message, edit, delete, leave, an admin's change), acknowledged with
   * `seq`; `apply` takes its change into the group's state once the order reaches it.
   */
  wrote(gid: string, seq: number, apply?: () => void): void {
    const group = this.#group(gid)
    if (group.cursor === undefined) {
      apply?.()
      this.#skipTo(group, seq)
    } else if (seq > group.cursor) {
      group.ahead.set(seq, { own: true, ...(apply && { apply }) })
      this.#drain(group)
    }
  }

  /** The group is gone (deleted): its position is dropped, and so is whatever of it waits. */
  forget(gid: string): void {
    const group = this.#groups.get(gid)
    if (group === undefined) return
    clearTimeout(group.timer)
    group.ahead.clear()
    group.cursor = undefined
    this.#groups.delete(gid)
    const early = this.#early.filter((event) => event.gid !== gid)
    this.#early.splice(0, this.#early.length, ...early)
    this.#saveSoon()
  }

  /**
   * Lines up with where the server says each group stands (one page of sync, asked for when the clock
   * read `askedAt`) and reads whatever was missed. On a first run (nothing saved yet) each group starts
   * at its head: its past is history, not news.
   */
  async align(me: string, positions: GroupPosition[], askedAt: number): Promise<void> {
    await this.load()
    const early = this.#me === undefined
    this.#me = me
    const behind: GroupOrder[] = []
    for (const position of positions) {
      if (position.status === 'invited') {
        // Invited again after leaving: a client that missed the end of that membership still reads up to
        // its leave.
        const past = this.#groups.get(position.gid)
        if (past?.cursor !== undefined && past.cursor < position.head) behind.push(past)
        continue
      }
      const group = this.#group(position.gid)
      const start = Math.max((position.joinSeq ?? position.head + 1) - 1, 0)
      if (group.cursor === undefined) group.cursor = this.#firstRun ? position.head : start
      // A cursor from an earlier membership: this one starts at its join.
      if (position.status === 'joined' && group.cursor < start) group.cursor = start
      // Past the head, and it has not moved since the sync was asked: a log that was started afresh.
      if (group.cursor > position.head && group.movedAt <= askedAt) group.cursor = position.head
      group.expected = false
      this.#drain(group)
      if (group.cursor < position.head) behind.push(group)
    }
    if (early) for (const event of this.#early.splice(0)) this.receive(event)
    this.#saveSoon()
    await Promise.all(behind.map((group) => this.#fill(group)))
  }

  /** After the last sync page: from now on, a restart catches up instead of starting at the heads. */
  aligned(): void {
    this.#firstRun = false
    this.#saveSoon()
  }

  /** Resolves once no group is reading the log. */
  async settled(): Promise<void> {
    while (true) {
      const fills = [...this.#groups.values()].flatMap((g) => (g.filling ? [g.filling] : []))
      if (fills.length === 0) return
      await Promise.all(fills)
    }
  }

  close(): void {
    this.#closed = true
    for (const group of this.#groups.values()) clearTimeout(group.timer)
  }

  load(): Promise<void> {
    this.#loaded ??= (async () => {
      const saved = await this.#options.store.load()
      if (saved === undefined) return
      this.#firstRun = false
      for (const [gid, cursor] of Object.entries(saved)) this.#group(gid).cursor = cursor
    })()
    return this.#loaded
  }

  #group(gid: string): GroupOrder {
    let group = this.#groups.get(gid)
    if (group === undefined) {
      group = { gid, movedAt: -1, ahead: new Map(), expected: false }
      this.#groups.set(gid, group)
    }
    return group
  }

  /** Places one event: hands it over when it is next, holds it when a hole (or an unknown start) comes first. */
  #accept(group: GroupOrder, event: GroupEvent, fromLog: boolean): void {
    // This identity's own join, made here or elsewhere: what came before it is not this membership's news.
    if (event.type === 'chat.join' && event.iss === this.#me && (group.cursor ?? -1) < event.seq - 1) {
      group.expected = false
      this.#skipTo(group, event.seq - 1)
    }
    // The log has nothing readable before a seq it returns: a hole in front of one is skipped (expired
    // events, or events before the caller's window).
    if (fromLog && group.cursor !== undefined && event.seq > group.cursor + 1) group.cursor = event.seq - 1
    if (group.cursor !== undefined && event.seq <= group.cursor) return
    if (!group.ahead.has(event.seq)) group.ahead.set(event.seq, event)
    this.#drain(group)
  }

  /**
   * Hands over every event that is next in line. A hole left behind is filled from the log after a
   * grace; events of a group whose start is unknown wait for the ack that tells it, or for a sync.
   */
  #drain(group: GroupOrder): void {
    if (group.cursor !== undefined) {
      let moved = false
      for (let next = group.cursor + 1; group.ahead.has(next); next++) {
        const event = group.ahead.get(next)
        group.ahead.delete(next)
        this.#advance(group, next)
        moved = true
        if (event === undefined) continue
        if ('own' in event) event.apply?.()
        else this.#options.deliver(event)
      }
      for (const seq of group.ahead.keys()) if (seq <= group.cursor) group.ahead.delete(seq)
      if (moved) this.#saveSoon()
    }
    const waiting = group.ahead.size > 0 && !group.expected
    if (waiting && group.filling === undefined && group.timer === undefined) {
      group.timer = setTimeout(() => {
        group.timer = undefined
        if (group.ahead.size === 0 || group.expected) return
        if (group.cursor === undefined) this.#options.resync()
        else void this.#fill(group)
      }, this.#options.gapGraceMs)
    }
  }

  /** A group deleted while its log was being read: what the read brings is of no use. */
  #forgotten(group: GroupOrder): boolean {
    return this.#groups.get(group.gid) !== group
  }

  #advance(group: GroupOrder, seq: number): void {
    group.cursor = seq
    group.movedAt = ++this.#clock
  }

  #skipTo(group: GroupOrder, seq: number): void {
    this.#advance(group, seq)
    this.#drain(group)
    this.#saveSoon()
  }

  /** Reads the log after the cursor until the hole is closed; one read at a time per group. */
  #fill(group: GroupOrder): Promise<void> {
    group.filling ??= this.#readLog(group).then((complete) => {
      group.filling = undefined
      if (complete) this.#drain(group)
    })
    return group.filling
  }

  /** False when the read stopped early: offline (the next reconnect catches up), or refused (say, while
   * this client's own join is still on its way). */
  async #readLog(group: GroupOrder): Promise<boolean> {
    clearTimeout(group.timer)
    group.timer = undefined
    try {
      while (!this.#closed && group.cursor !== undefined) {
        const page = await this.#options.readAfter(group.gid, group.cursor)
        if (this.#forgotten(group)) return false
        // Joined again since the cursor: what came between the invite and the join is not news.
        const rejoin = [...page.events].reverse().find((e) => e.type === 'chat.join' && e.iss === this.#me)
        if (rejoin && rejoin.seq - 1 > group.cursor) this.#skipTo(group, rejoin.seq - 1)
        for (const event of page.events) this.#accept(group, event, true)
        if (page.next === undefined || page.events.length === 0) {
          // Everything up to the head is in: what the log did not return cannot be read.
          if (group.cursor < page.head) this.#skipTo(group, page.head)
          break
        }
      }
      return true
    } catch (error) {
      // What waits stays: the next event, ack or reconnect starts another read.
      const code = error instanceof ChatError ? error.code : undefined
      if (code !== 'CLOSED' && code !== 'TIMEOUT' && !this.#forgotten(group)) this.#options.report(error)
      return false
    }
  }

  /** Saves the cursors, at most one save at a time, the latest state last. */
  #saveSoon(): void {
    if (this.#firstRun && this.#me === undefined) return
    if (this.#saving) {
      this.#dirty = true
      return
    }
    const cursors: Cursors = {}
    for (const [gid, group] of this.#groups) if (group.cursor !== undefined) cursors[gid] = group.cursor
    this.#saving = (async () => {
      try {
        await this.#options.store.save(cursors)
      } catch (error) {
        this.#options.report(error)
      } finally {
        this.#saving = undefined
        if (this.#dirty) {
          this.#dirty = false
          this.#saveSoon()
        }
      }
    })()
  }
}
