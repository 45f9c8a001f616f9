import type { GroupEvent } from '@huddle/client/protocol'
import { describe, expect, it, vi } from 'vitest'
import { type CursorStore, memoryCursorStore } from '../../packages/client/src/cursors.js'
import { ChatError } from '../../packages/client/src/error.js'
import { type LogPage, Timeline } from '../../packages/client/src/timeline.js'

const message = (seq: number, iss = 'alice', gid = 'g'): GroupEvent => ({
  type: 'chat.message',
  gid,
  iss,
  jti: `j${seq}`,
  body: `m${seq}`,
  iat: 'now',
  seq,
})
const join = (seq: number, iss: string, gid = 'g'): GroupEvent => ({
  type: 'chat.join',
  gid,
  iss,
  iat: 'now',
  seq,
})

/** A timeline over an in-memory log: `log` is the server's, `handed` what the app was given. */
function timeline(
  options: { log?: GroupEvent[]; store?: CursorStore; pageSize?: number; window?: number } = {},
) {
  const log = options.log ?? []
  const handed: string[] = []
  const reads: number[] = []
  const errors: unknown[] = []
  let resyncs = 0
  let refuse: ChatError | undefined
  const line = new Timeline({
    store: options.store ?? memoryCursorStore(),
    gapGraceMs: 5,
    report: (error) => errors.push(error),
    resync: () => {
      resyncs++
    },
    deliver: (event) => handed.push(`${event.type.slice(5)} ${event.seq}`),
    readAfter: async (gid, after): Promise<LogPage> => {
      reads.push(after)
      if (refuse) throw refuse
      const readable = log.filter((e) => e.gid === gid && e.seq > Math.max(after, options.window ?? 0))
      const page = readable.slice(0, options.pageSize ?? 100)
      const head = Math.max(0, ...log.filter((e) => e.gid === gid).map((e) => e.seq))
      const last = page.at(-1)
      return { events: page, head, ...(page.length < readable.length && last && { next: last.seq }) }
    },
  })
  return {
    line,
    log,
    handed,
    reads,
    errors,
    resyncs: () => resyncs,
    refuse: (error: ChatError | undefined) => {
      refuse = error
    },
  }
}

describe('the client timeline', () => {
  it('hands events over in seq order, once each, however they arrive', async () => {
    const { line, handed } = timeline()
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    for (const seq of [1, 3, 2, 2, 1, 4]) line.receive(message(seq))
    expect(handed).toEqual(['message 1', 'message 2', 'message 3', 'message 4'])
  })

  it('reads the log when a hole stays open past the grace, and drops what the log repeats', async () => {
    const log = [1, 2, 3, 4, 5].map((seq) => message(seq))
    const { line, handed, reads } = timeline({ log })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    line.receive(message(1))
    line.receive(message(4))
    line.receive(message(5))
    expect(handed).toEqual(['message 1'])
    await vi.waitFor(() => expect(handed).toHaveLength(5))
    expect(handed).toEqual(['message 1', 'message 2', 'message 3', 'message 4', 'message 5'])
    expect(reads).toEqual([1])
    line.receive(message(3))
    expect(handed).toHaveLength(5)
  })

  it('does not read the log when the late event arrives within the grace', async () => {
    const { line, handed, reads } = timeline({ log: [message(1), message(2)] })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    line.receive(message(2))
    line.receive(message(1))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handed).toEqual(['message 1', 'message 2'])
    expect(reads).toEqual([])
  })

  it('keeps its own writes out of what it hands over, but in the order', async () => {
    const { line, handed } = timeline()
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    line.wrote('g', 2)
    line.receive(message(3))
    line.receive(message(1))
    expect(handed).toEqual(['message 1', 'message 3'])
    expect(line.cursor('g')).toBe(3)
  })

  it('catches up from its cursor after a reconnect, in pages, and starts a first run at the head', async () => {
    const log = Array.from({ length: 12 }, (_, i) => message(i + 1))
    const store = memoryCursorStore()
    const first = timeline({ log, store, pageSize: 5 })
    await first.line.align('me', [{ gid: 'g', status: 'joined', head: 4, joinSeq: 0 }], first.line.clock)
    first.line.aligned()
    expect(first.handed).toEqual([])
    await vi.waitFor(() => expect(store.load()).toEqual({ g: 4 }))

    // A restart with the saved cursor: everything after 4 arrives once, in order.
    const second = timeline({ log, store, pageSize: 5 })
    await second.line.align('me', [{ gid: 'g', status: 'joined', head: 12, joinSeq: 0 }], second.line.clock)
    expect(second.handed).toEqual(Array.from({ length: 8 }, (_, i) => `message ${i + 5}`))
    expect(second.reads).toEqual([4, 9])
  })

  it('after a restart, catches up a group joined elsewhere from its join', async () => {
    const log = [message(1), join(2, 'me'), message(3)]
    const store = memoryCursorStore()
    await store.save({})
    const { line, handed } = timeline({ log, store })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 3, joinSeq: 2 }], line.clock)
    expect(handed).toEqual(['join 2', 'message 3'])
  })

  it('starts over at its own join, leaving out what came while it was only invited', async () => {
    const { line, handed } = timeline({
      log: [message(1), message(2), message(3), join(4, 'me'), message(5)],
    })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    line.receive(message(1))
    line.receive(join(4, 'me'))
    line.receive(message(5))
    expect(handed).toEqual(['message 1', 'join 4', 'message 5'])
  })

  it('skips what the log cannot return any more, and follows the server when the log started afresh', async () => {
    const { line, handed, log } = timeline({ log: [message(5), message(6)], window: 4 })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 1, joinSeq: 0 }], line.clock)
    line.receive(message(6))
    await vi.waitFor(() => expect(handed).toEqual(['message 5', 'message 6']))

    // A local stack started afresh: the cursor (6) is past the new head, and the server wins.
    log.splice(0, log.length, message(1), message(2))
    await line.align('me', [{ gid: 'g', status: 'joined', head: 2, joinSeq: 0 }], line.clock)
    line.receive(message(3))
    expect(handed).toEqual(['message 5', 'message 6', 'message 3'])
  })

  it('holds events that come before sync says who it is, then hands them over', async () => {
    const { line, handed } = timeline()
    line.receive(message(1))
    expect(handed).toEqual([])
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    expect(handed).toEqual(['message 1'])
  })

  it('holds what comes before its own join is acknowledged, then starts at the join', async () => {
    const { line, handed } = timeline()
    await line.align('me', [], line.clock)
    line.expect('g')
    line.receive(join(16, 'carol'))
    line.receive(message(13))
    line.receive(join(15, 'bob'))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handed).toEqual([])
    line.joined('g', 14)
    expect(handed).toEqual(['join 15', 'join 16'])
  })

  it('asks where it stands when events come for a group it knows nothing of', async () => {
    const { line, handed, resyncs } = timeline({ log: [join(6, 'me'), message(7), message(8)] })
    await line.align('me', [], line.clock)
    line.aligned()
    line.receive(message(8))
    line.receive(message(7))
    await vi.waitFor(() => expect(resyncs()).toBe(1))
    expect(handed).toEqual([])
    // Joined on another device, whose join event never reached this one: sync tells where it stands.
    await line.align('me', [{ gid: 'g', status: 'joined', head: 8, joinSeq: 6 }], line.clock)
    expect(handed).toEqual(['join 6', 'message 7', 'message 8'])
  })

  it('keeps its cursor when a sync answers with a head older than what it handed since it asked', async () => {
    const store = memoryCursorStore()
    await store.save({ g: 9 })
    const { line, handed } = timeline({ store })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 9, joinSeq: 0 }], line.clock)
    const askedAt = line.clock
    line.receive(message(10))
    await line.align('me', [{ gid: 'g', status: 'joined', head: 9, joinSeq: 0 }], askedAt)
    line.receive(message(10))
    line.receive(message(11))
    expect(handed).toEqual(['message 10', 'message 11'])
  })

  it('follows a log that was started afresh when its saved cursor is past the head', async () => {
    const store = memoryCursorStore()
    await store.save({ g: 40 })
    const { line, handed } = timeline({ store })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 2, joinSeq: 0 }], line.clock)
    line.receive(message(3))
    expect(handed).toEqual(['message 3'])
  })

  it('keeps what waits when the log cannot be read yet, quietly when offline, and reads it later', async () => {
    const { line, handed, errors, refuse } = timeline({ log: [message(1), message(2), message(3)] })
    await line.align('me', [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }], line.clock)
    refuse(new ChatError('CLOSED', 'offline'))
    line.receive(message(2))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(errors).toEqual([])
    // Refused (a join still on its way, say): reported, and nothing is dropped.
    refuse(new ChatError('FORBIDDEN', 'not a member yet'))
    line.receive(message(3))
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(handed).toEqual([])
    refuse(undefined)
    line.receive(message(3))
    await vi.waitFor(() => expect(handed).toEqual(['message 1', 'message 2', 'message 3']))
  })
})
