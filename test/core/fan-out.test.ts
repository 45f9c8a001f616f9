import type { ChatEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { Delivery } from '../../lambdas/core/delivery.js'
import type { EventSender, FanOutSlice } from '../../lambdas/core/ports.js'
import { slice, targets } from '../support/fan-out.js'
import { tableClient } from '../support/huddle.js'

const { store } = tableClient()

/** A sender that records every post; `onPost` runs before each answer. */
function recordingSender(onPost: (connectionId: string) => void = () => {}) {
  const posts: string[] = []
  const sender: EventSender = {
    send: async (connectionId) => {
      posts.push(connectionId)
      onPost(connectionId)
      return 'sent'
    },
  }
  return { sender, posts }
}

const event = { type: 'chat.message', gid: 'g', iss: 'alice', jti: 'j', seq: 7 } as unknown as ChatEvent
const plenty = () => 60_000

function delivery(sender: EventSender, dispatch?: (slice: FanOutSlice) => Promise<void>) {
  return new Delivery({
    store,
    sender,
    concurrency: 4,
    sliceSize: 4,
    newId: () => crypto.randomUUID(),
    ...(dispatch && { workers: { dispatch } }),
  })
}

describe('a large fan-out is shared with workers', () => {
  it('posts the first slice itself and hands each other slice, in order, to a worker', async () => {
    const { sender, posts } = recordingSender()
    const handed: FanOutSlice[] = []
    const report = await delivery(sender, async (s) => {
      handed.push(s)
    }).post(event, { recipients: 10, targets: targets(10), started: Date.now() })

    expect(posts.sort()).toEqual(['conn-0', 'conn-1', 'conn-2', 'conn-3'])
    expect(handed.map((s) => s.targets.map((t) => t.connectionId))).toEqual([
      ['conn-4', 'conn-5', 'conn-6', 'conn-7'],
      ['conn-8', 'conn-9'],
    ])
    const [first, second] = handed
    expect(first?.id.endsWith('/1') && second?.id.endsWith('/2')).toBe(true)
    expect(first?.id.slice(0, -2)).toBe(second?.id.slice(0, -2))
    expect(JSON.parse(first?.data ?? '')).toEqual(event)
    expect(report).toMatchObject({ connections: 10, sent: 4, handedOver: 6, failed: 0 })
  })

  it('counts the connections of a slice no worker took as failed, and still posts its own', async () => {
    const { sender, posts } = recordingSender()
    const report = await delivery(sender, async () => {
      throw new Error('TooManyRequestsException')
    }).post(event, { recipients: 6, targets: targets(6), started: Date.now() })
    expect(posts).toHaveLength(4)
    expect(report).toMatchObject({ sent: 4, handedOver: 0, failed: 2 })
  })

  it('posts everything itself when it has no workers, and a fan-out within one slice never goes to them', async () => {
    const { sender, posts } = recordingSender()
    await delivery(sender).post(event, { recipients: 9, targets: targets(9), started: Date.now() })
    expect(posts).toHaveLength(9)

    const handed: FanOutSlice[] = []
    const small = recordingSender()
    await delivery(small.sender, async (s) => {
      handed.push(s)
    }).post(event, { recipients: 4, targets: targets(4), started: Date.now() })
    expect(small.posts).toHaveLength(4)
    expect(handed).toEqual([])
  })
})

describe('a worker posts its slice exactly once', () => {
  it('does nothing when the same slice is invoked again, at the same time or after', async () => {
    const { sender, posts } = recordingSender()
    const worker = delivery(sender)
    const work = slice(10)
    const [a, b] = await Promise.all([worker.postSlice(work, plenty), worker.postSlice(work, plenty)])
    expect([a, b].filter((report) => report === undefined)).toHaveLength(1)
    expect(await worker.postSlice(work, plenty)).toBeUndefined()
    expect(posts.sort()).toEqual(work.targets.map((t) => t.connectionId).sort())
  })

  it('stops near its deadline, and its retry posts only what is left', async () => {
    let remaining = 60_000
    // Each post takes 15 s of the invocation's time: after three, less than the margin is left.
    const { sender, posts } = recordingSender(() => {
      remaining -= 15_000
    })
    const worker = delivery(sender)
    const work = slice(10)
    await expect(worker.postSlice(work, () => remaining)).rejects.toThrow(/posted before the deadline/)
    const first = posts.length
    expect(first).toBeGreaterThan(0)
    expect(first).toBeLessThan(10)

    const retry = await worker.postSlice(work, plenty)
    expect(retry).toMatchObject({ sent: 10 - first })
    expect(posts.sort()).toEqual(work.targets.map((t) => t.connectionId).sort())
    expect(await worker.postSlice(work, plenty)).toBeUndefined()
  })

  it('keeps a crashed invocation’s slice until its lease ends, then lets the retry post it', async () => {
    const work = slice(3)
    const expiresAt = Math.ceil(Date.now() / 1000) + 3600
    // A worker that claimed the slice for 1 s and died before recording anything.
    expect(await store.claimSlice(work.id, 'crashed', Date.now(), Date.now() + 1000, expiresAt)).toBe(0)

    const { sender, posts } = recordingSender()
    const worker = delivery(sender)
    expect(await worker.postSlice(work, plenty)).toBeUndefined()
    expect(posts).toEqual([])
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect(await worker.postSlice(work, plenty)).toMatchObject({ sent: 3 })
    // The crashed owner can no longer record anything for it.
    await expect(store.recordSlice(work.id, 'crashed', 1, false)).rejects.toThrow()
  })
})

describe('a gone connection', () => {
  /** A delivery whose sender finds `gone` gone, counting the posts to it and the store's forgetting. */
  function meeting(gone: string) {
    const counts = { posts: 0, forgotten: 0 }
    const counting = Object.create(store) as typeof store
    counting.deleteConnection = async (connectionId, iss) => {
      counts.forgotten++
      await store.deleteConnection(connectionId, iss)
    }
    const sender: EventSender = {
      send: async (connectionId) => {
        if (connectionId !== gone) return 'sent'
        counts.posts++
        return 'gone'
      },
    }
    const chat = new Delivery({ store: counting, sender, concurrency: 4, sliceSize: 100, newId: () => 'x' })
    return { chat, counts }
  }

  it('is forgotten once however many fan-outs meet it, and not posted to again', async () => {
    const { chat, counts } = meeting('conn-1')
    const plan = () => ({ recipients: 3, targets: targets(3), started: Date.now() })
    const reports = await Promise.all([chat.post(event, plan()), chat.post(event, plan())])
    await chat.post(event, plan())

    expect(reports.map((r) => [r.sent, r.pruned])).toEqual([
      [2, 1],
      [2, 1],
    ])
    expect(counts.forgotten).toBe(1)
    expect(counts.posts).toBeLessThanOrEqual(2)
  })

  it("is left to its $disconnect when it is the caller's own", async () => {
    const { chat, counts } = meeting('conn-0')
    expect(await chat.toCaller(event, { iss: 'member-0', connectionId: 'conn-0' })).toBe(false)
    expect(counts).toEqual({ posts: 1, forgotten: 0 })
  })
})
