import type { ChatClient, ConnectOptions } from './client.js'
import { memoryCursorStore } from './cursors.js'
import { ChatError } from './error.js'
import { allReceipts, type ChatContext, ChatGroup, ChatMessage, flatten, type Receipt } from './group.js'
import { Listeners } from './listeners.js'
import type { DeleteEvent, EditEvent, GroupEvent, InviteEvent, JoinEvent, LeaveEvent } from './protocol.js'
import { Timeline } from './timeline.js'

/** An avatar to upload with a new group: raw image bytes and their mime type. */
export interface Avatar {
  data: Uint8Array | ArrayBuffer | Blob
  mime: string
}

const deliveredDelayMs = 2000
const gapGraceMs = 250

/**
 * The chat API of one connection, shaped like the Self SDK's ChatService. Each group's events reach the
 * callbacks exactly once and in the group's order, across reconnects: the client remembers the last seq
 * it handed over per group, catches up after every reconnect, and reads the log when a seq shows a hole.
 */
export class ChatService {
  readonly #client: ChatClient
  readonly #timeline: Timeline
  readonly #context: ChatContext
  readonly #invites: Listeners<[ChatGroup]>
  readonly #joins: Listeners<[string, string, JoinEvent]>
  readonly #leaves: Listeners<[string, string, LeaveEvent]>
  readonly #messages: Listeners<[ChatMessage]>
  readonly #edits: Listeners<[EditEvent]>
  readonly #deletes: Listeners<[DeleteEvent]>
  readonly #receipts: Listeners<[Receipt]>
  /** Groups whose pending invite the app has been handed, so a re-sent one is not handed again. */
  readonly #announced = new Set<string>()
  /** Writes of this client that are not acknowledged yet: their events may arrive first (after a reconnect). */
  readonly #unacknowledged = new Set<string>()
  readonly #deliveredDue = new Map<string, number>()
  readonly #deliveredDelayMs: number | undefined
  #deliveredTimer: ReturnType<typeof setTimeout> | undefined
  #catchingUp: Promise<void> = Promise.resolve()

  constructor(client: ChatClient, options: ConnectOptions, report: (error: unknown) => void) {
    this.#client = client
    this.#invites = new Listeners(report)
    this.#joins = new Listeners(report)
    this.#leaves = new Listeners(report)
    this.#messages = new Listeners(report)
    this.#edits = new Listeners(report)
    this.#deletes = new Listeners(report)
    this.#receipts = new Listeners(report)
    const delivered = options.deliveredReceipts
    this.#deliveredDelayMs = delivered === false ? undefined : (delivered?.delayMs ?? deliveredDelayMs)
    this.#timeline = new Timeline({
      store: options.cursors ?? memoryCursorStore(),
      readAfter: (gid, after) => client.request('history', { gid, after, limit: 100 }),
      resync: () => this.#catchUpQuietly(report),
      deliver: (event) => this.#dispatch(event),
      gapGraceMs: options.gapGraceMs ?? gapGraceMs,
      report,
    })
    this.#context = {
      request: (action, fields) => client.request(action, fields),
      write: (action, fields) =>
        this.#own({ type: `chat.${action}`, ...fields }, async () => {
          const ack = await client.request(action, fields)
          this.#timeline.wrote(fields.gid, ack.seq)
          return ack
        }),
      join: (gid) =>
        this.#starting(gid, async () => {
          const { group, seq } = await this.#own({ type: 'chat.join', gid }, () =>
            client.request('join', { gid }),
          )
          this.#timeline.joined(gid, seq)
          this.#announced.delete(gid)
          return group
        }),
      cursor: (gid) => this.#timeline.cursor(gid),
    }
    client.onEvent((event) => {
      if (event.type === 'chat.invite') this.#invited(event)
      else if (event.type === 'chat.receipt') this.#receipts.emit(receiptOf(event))
      else this.#timeline.receive(event)
    })
    client.onStatus((status) => {
      if (status === 'open') this.#catchUpQuietly(report)
      if (status === 'closed') this.#stop()
    })
    if (client.status === 'open') this.#catchUpQuietly(report)
  }

  /** Called with each group this identity is invited to, including invites that waited while it was offline. */
  onInvite(callback: (group: ChatGroup) => unknown): () => void {
    const first = this.#invites.size === 0
    const unsubscribe = this.#invites.add(callback)
    // Pending invites are re-sent on request: the first listener asks for the ones it has missed.
    if (first && this.#client.status === 'open') this.#catchUpQuietly(() => {})
    return unsubscribe
  }

  /** Called when `iss` joins group `gid` (for groups this identity has joined); `event` has its seq and time. */
  onJoin(callback: (iss: string, gid: string, event: JoinEvent) => unknown): () => void {
    return this.#joins.add(callback)
  }

  /** Called when `iss` leaves group `gid`; `event` has its seq and time. */
  onLeave(callback: (iss: string, gid: string, event: LeaveEvent) => unknown): () => void {
    return this.#leaves.add(callback)
  }

  /** Called with each message sent to a group this identity has joined. */
  onMessage(callback: (message: ChatMessage) => unknown): () => void {
    return this.#messages.add(callback)
  }

  /** Called when a sender edits a message: `jti` names it, `body` is its new body. */
  onEdit(callback: (edit: EditEvent) => unknown): () => void {
    return this.#edits.add(callback)
  }

  /** Called when a sender deletes a message (`jti`). */
  onDelete(callback: (deleted: DeleteEvent) => unknown): () => void {
    return this.#deletes.add(callback)
  }

  /**
   * Called when a member's delivered or read position moves past messages of this identity (and for its
   * own other devices' receipts); after a reconnect, with the positions that moved meanwhile.
   */
  onReceipt(callback: (receipt: Receipt) => unknown): () => void {
    return this.#receipts.add(callback)
  }

  /** Creates group `gid` (or adds members to it), uploading the avatar first when one is given. */
  async invite(gid: string, name: string, members: string[], avatar?: Avatar): Promise<ChatGroup> {
    const key = avatar ? await uploadAvatar(this.#client, avatar) : undefined
    const group = await this.#starting(gid, async () => {
      const { group } = await this.#client.request('invite', {
        gid,
        name,
        members,
        ...(key !== undefined && { avatar: { key } }),
      })
      this.#timeline.follow(gid, group.head)
      return group
    })
    return new ChatGroup(this.#context, flatten(group), 'joined')
  }

  /** Joins group `gid` by id alone, for an invite seen elsewhere (another device, an earlier session). */
  async join(gid: string): Promise<ChatGroup> {
    return new ChatGroup(this.#context, flatten(await this.#context.join(gid)), 'joined')
  }

  /** Leaves group `gid`, or declines its invite. */
  async leave(gid: string): Promise<void> {
    await this.#context.write('leave', { gid })
  }

  /** Stops invites from `iss` reaching this identity; messages in groups both belong to still arrive. */
  async block(iss: string): Promise<void> {
    await this.#client.request('block', { iss })
  }

  async unblock(iss: string): Promise<void> {
    await this.#client.request('unblock', { iss })
  }

  /** Every identity this identity blocks, so an app can hide their messages too. */
  async blocked(): Promise<string[]> {
    const all: string[] = []
    let cursor: string | undefined
    do {
      const page = await this.#client.request('blocks', cursor === undefined ? {} : { cursor })
      all.push(...page.blocked)
      cursor = page.next
    } while (cursor !== undefined)
    return all
  }

  /** Every group this identity is invited to or has joined, with its unread count. */
  async groups(): Promise<ChatGroup[]> {
    const all: ChatGroup[] = []
    let cursor: string | undefined
    do {
      const page = await this.#client.request('groups', cursor === undefined ? {} : { cursor })
      for (const listing of page.groups) {
        const group = new ChatGroup(this.#context, flatten(listing), listing.status)
        group.unread = listing.unread
        group.read = listing.read
        all.push(group)
      }
      cursor = page.next
    } while (cursor !== undefined)
    return all
  }

  /**
   * Reads whatever happened while this client was away and resolves once every group is in order. It
   * runs by itself after every (re)connect; apps may call it too (say, when they come to the foreground).
   */
  catchUp(): Promise<void> {
    this.#catchingUp = this.#catchingUp.catch(() => {}).then(() => this.#syncAll())
    return this.#catchingUp
  }

  async #syncAll(): Promise<void> {
    await this.#timeline.load()
    let cursor: string | undefined
    do {
      const askedAt = this.#timeline.clock
      const page = await this.#client.request('sync', cursor === undefined ? {} : { cursor })
      const before = new Map(page.groups.map((g) => [g.gid, this.#timeline.cursor(g.gid)]))
      await this.#timeline.align(page.iss, page.groups, askedAt)
      if (this.#receipts.size > 0) {
        for (const { gid, status } of page.groups) {
          const seen = before.get(gid)
          if (status === 'joined' && seen !== undefined) await this.#receiptsSince(gid, Math.max(seen - 1, 0))
        }
      }
      cursor = page.next
    } while (cursor !== undefined)
    this.#timeline.aligned()
    await this.#timeline.settled()
  }

  /** Receipts are positions, not events: after a reconnect the ones that moved meanwhile are read once. */
  async #receiptsSince(gid: string, since: number): Promise<void> {
    for (const receipt of await allReceipts(this.#client, gid, since)) this.#receipts.emit(receipt)
  }

  #catchUpQuietly(report: (error: unknown) => void): void {
    this.catchUp().catch((error: unknown) => {
      if (!(error instanceof ChatError && (error.code === 'CLOSED' || error.code === 'TIMEOUT')))
        report(error)
    })
  }

  #invited(event: InviteEvent): void {
    if (this.#announced.has(event.gid) || this.#invites.size === 0) return
    this.#announced.add(event.gid)
    this.#invites.emit(new ChatGroup(this.#context, { ...event, invitedBy: event.iss }, 'invited'))
  }

  /**
   * A write of this client's, whose event is not handed back to it even when it comes before the ack.
   * One that timed out may still have been stored (a retry with its jti tells), so it stays known.
   */
  async #own<T>(write: WriteKey, send: () => Promise<T>): Promise<T> {
    const key = writeKey(write)
    this.#unacknowledged.add(key)
    try {
      const result = await send()
      this.#unacknowledged.delete(key)
      return result
    } catch (error) {
      if (!(error instanceof ChatError && (error.code === 'TIMEOUT' || error.code === 'CLOSED'))) {
        this.#unacknowledged.delete(key)
      }
      throw error
    }
  }

  /** A join or a creation: the group's events that come before its ack wait for it. */
  async #starting<T>(gid: string, request: () => Promise<T>): Promise<T> {
    this.#timeline.expect(gid)
    try {
      return await request()
    } catch (error) {
      this.#timeline.release(gid)
      throw error
    }
  }

  /** Hands one event to the app, in its group's order. */
  #dispatch(event: GroupEvent): void {
    const mine = event.iss === this.#timeline.me
    if (mine && (event.type === 'chat.join' || event.type === 'chat.leave')) this.#announced.delete(event.gid)
    if (mine && this.#unacknowledged.has(writeKey(event))) return
    switch (event.type) {
      case 'chat.message':
        if (!mine) this.#deliveredSoon(event.gid, event.seq)
        this.#messages.emit(new ChatMessage(this.#context, event))
        return
      case 'chat.join':
        this.#joins.emit(event.iss, event.gid, event)
        return
      case 'chat.leave':
        this.#leaves.emit(event.iss, event.gid, event)
        return
      case 'chat.edit':
        this.#edits.emit(event)
        return
      case 'chat.delete':
        this.#deletes.emit(event)
    }
  }

  /** Delivered receipts go out batched: at most one per group every `delayMs`, covering all it was handed. */
  #deliveredSoon(gid: string, seq: number): void {
    if (this.#deliveredDelayMs === undefined) return
    this.#deliveredDue.set(gid, Math.max(seq, this.#deliveredDue.get(gid) ?? 0))
    this.#deliveredTimer ??= setTimeout(() => {
      this.#deliveredTimer = undefined
      for (const [gid, delivered] of this.#deliveredDue) {
        // Best effort: a receipt that does not get through is covered by the next one.
        this.#client.request('receipt', { gid, delivered }).catch(() => {})
      }
      this.#deliveredDue.clear()
    }, this.#deliveredDelayMs)
  }

  #stop(): void {
    clearTimeout(this.#deliveredTimer)
    this.#timeline.close()
  }
}

/** What names a write, whether read from its request or from its event. */
interface WriteKey {
  type: string
  gid: string
  jti?: string
  body?: string
}

function writeKey({ type, gid, jti = '', body = '' }: WriteKey): string {
  return [type, gid, jti, type === 'chat.edit' ? body : ''].join('\n')
}

function receiptOf({ gid, iss, delivered, read }: Receipt): Receipt {
  return { gid, iss, delivered, read }
}

async function uploadAvatar(client: Pick<ChatClient, 'request'>, { data, mime }: Avatar): Promise<string> {
  const blob = data instanceof Blob ? data : new Blob([new Uint8Array(data)])
  const upload = await client.request('avatar', { mime, size: blob.size })
  // A browser rejects a blocked upload (CORS, the network) with a bare TypeError: it becomes a ChatError too.
  const response = await fetch(upload.url, {
    method: upload.method,
    headers: upload.headers,
    body: blob,
  }).catch((error: unknown) => {
    const why = error instanceof Error ? error.message : String(error)
    throw new ChatError('UPLOAD_FAILED', `the avatar upload to ${new URL(upload.url).origin} failed: ${why}`)
  })
  if (!response.ok) throw new ChatError('UPLOAD_FAILED', `the avatar upload was answered ${response.status}`)
  return upload.key
}
