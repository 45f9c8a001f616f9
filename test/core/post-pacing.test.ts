import type { ChatEvent } from '@huddle/client/protocol'
import { describe, expect, inject, it, vi } from 'vitest'
import { DynamoPostBudget } from '../../lambdas/adapters/dynamo/post-budget.js'
import { DynamoTable } from '../../lambdas/adapters/dynamo/table.js'
import { Delivery } from '../../lambdas/core/delivery.js'
import type { EventSender } from '../../lambdas/core/ports.js'
import { type PostBudget, PostPacer } from '../../lambdas/core/post-pacing.js'
import { emulatorDynamoClient } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'
import { slice, targets } from '../support/fan-out.js'
import { tableClient, unique } from '../support/huddle.js'

const { store } = tableClient()

/**
 * Virtual time: `sleep` waits for the clock, and `run` moves it to the earliest sleeper each time every
 * promise has settled, so that timing is exact and a test never waits for real.
 */
class FakeClock {
  now = 1_000_000
  private sleepers: { at: number; wake: () => void }[] = []

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((wake) => {
      this.sleepers.push({ at: this.now + ms, wake })
    })

  /** Runs until `work` settles, moving time forward whenever nothing else can happen. */
  async run<T>(work: Promise<T>): Promise<T> {
    let settled = false
    const result = work.finally(() => {
      settled = true
    })
    while (!settled) {
      await new Promise((resolve) => setImmediate(resolve))
      if (settled) break
      this.sleepers.sort((a, b) => a.at - b.at)
      const next = this.sleepers.shift()
      if (next === undefined) continue
      this.now = Math.max(this.now, next.at)
      next.wake()
    }
    return result
  }
}

/** The workers' budget in memory, as GCRA, like the table's: every reservation granted, in turn. */
function memoryBudget(delayMs = 0, clock?: FakeClock) {
  let tat = 0
  const reservations: { count: number; start: number }[] = []
  const budget: PostBudget = {
    async reserve(count, perSecond, now) {
      if (delayMs > 0 && clock) await clock.sleep(delayMs)
      const start = Math.max(tat, now)
      tat = start + (count * 1000) / perSecond
      reservations.push({ count, start })
      return start
    },
  }
  return { budget, reservations }
}

/** The most of `times` in any window of `windowMs` that starts at one of them. */
function peak(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  let first = 0
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] ?? 0) - (sorted[first] ?? 0) >= windowMs) first++
    most = Math.max(most, last - first + 1)
  }
  return most
}

describe('pacing the workers’ posts', () => {
  it('never lets the workers together start more posts in any second than the budget', async () => {
    const clock = new FakeClock()
    const { budget } = memoryBudget(3, clock)
    const perSecond = 100
    const started: number[] = []
    // Five workers at once, 150 posts each: 750 posts at 100 a second.
    const workers = Array.from({ length: 5 }, async () => {
      const pacer = new PostPacer({ budget, perSecond, now: () => clock.now, sleep: clock.sleep }, 150)
      for (let i = 0; i < 150; i++) {
        expect(await pacer.next()).toBe(true)
        started.push(clock.now)
      }
    })
    await clock.run(Promise.all(workers))
    expect(started).toHaveLength(750)
    // The budget, and the one post a window may open with.
    expect(peak(started, 1000)).toBeLessThanOrEqual(perSecond + 1)
    expect(peak(started, 2000)).toBeLessThanOrEqual(2 * perSecond + 1)
    // And the budget is used, not wasted: 750 posts at 95 % of it take about 7.9 virtual seconds.
    expect(Math.max(...started) - Math.min(...started)).toBeLessThan(8000)
  })

  it('reserves in chunks, never more than the slice has posts, one chunk ahead', async () => {
    const clock = new FakeClock()
    const { budget, reservations } = memoryBudget(1, clock)
    const pacer = new PostPacer({ budget, perSecond: 1000, now: () => clock.now, sleep: clock.sleep }, 45)
    const posts = (async () => {
      for (let i = 0; i < 45; i++) await pacer.next()
    })()
    await clock.run(posts)
    expect(reservations.map((r) => r.count)).toEqual([20, 20, 5])
  })

  it('skips the slots a held-up worker missed instead of catching up in a burst', async () => {
    const clock = new FakeClock()
    const { budget } = memoryBudget()
    const pacer = new PostPacer(
      { budget, perSecond: 100, chunk: 50, latenessMs: 20, now: () => clock.now, sleep: clock.sleep },
      60,
    )
    const started: number[] = []
    const posts = (async () => {
      for (let i = 0; i < 60; i++) {
        await pacer.next()
        started.push(clock.now)
        // The worker stalls for half a second after its tenth post.
        if (i === 9) await clock.sleep(500)
      }
    })()
    await clock.run(posts)
    // No catching up: at most 10 a tenth of a second, and 2 more for the lateness; 100 in any second.
    expect(peak(started, 100)).toBeLessThanOrEqual(13)
    expect(peak(started, 1000)).toBeLessThanOrEqual(101)
  })

  it('refuses a wait past the deadline, and every post after it, so the posts made are a prefix', async () => {
    const clock = new FakeClock()
    const { budget } = memoryBudget()
    const pacer = new PostPacer(
      { budget, perSecond: 10, latenessMs: 0, now: () => clock.now, sleep: clock.sleep },
      20,
    )
    const deadline = clock.now + 1000
    const granted: boolean[] = []
    const posts = (async () => {
      for (let i = 0; i < 20; i++)
        granted.push(await pacer.next((wait) => clock.now + wait <= deadline - 500))
    })()
    await clock.run(posts)
    // Slots 103 ms apart (10 a second, spaced for a second and 30 ms of transit): 5 start within 500 ms.
    expect(granted.filter(Boolean).length).toBe(5)
    expect(granted.indexOf(false)).toBe(5)
    expect(granted.slice(5).every((g) => !g)).toBe(true)
  })

  it('holds every post back while a throttled one waits', async () => {
    const clock = new FakeClock()
    const { budget } = memoryBudget()
    const pacer = new PostPacer({ budget, perSecond: 1000, now: () => clock.now, sleep: clock.sleep }, 3)
    const run = (async () => {
      await pacer.next()
      const first = clock.now
      pacer.holdFor(300)
      await pacer.next()
      return clock.now - first
    })()
    expect(await clock.run(run)).toBeGreaterThanOrEqual(300)
  })
})

describe('the workers’ budget in the table', () => {
  const table = () => new DynamoTable(emulatorDynamoClient(inject('dynamoEndpoint')), localNames.table)

  it('hands every instance consecutive slots that never overlap', async () => {
    const name = unique('budget')
    const [a, b] = [new DynamoPostBudget(table(), name), new DynamoPostBudget(table(), name)]
    const now = Date.now()
    const perSecond = 1000
    // Fifty reservations of 10 from two instances at once, all made "now": 500 ms of slots in all.
    const starts = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).reserve(10, perSecond, now)),
    )
    const sorted = [...starts].sort((x, y) => x - y)
    expect(sorted[0]).toBe(now)
    sorted.forEach((start, i) => {
      expect(start).toBe(now + i * 10)
    })
  })

  it('starts again from now once the slots reserved have gone by', async () => {
    const name = unique('budget')
    const budget = new DynamoPostBudget(table(), name)
    const now = Date.now()
    expect(await budget.reserve(10, 100, now)).toBe(now)
    expect(await budget.reserve(10, 100, now)).toBe(now + 100)
    expect(await new DynamoPostBudget(table(), name).reserve(5, 100, now + 10_000)).toBe(now + 10_000)
  })
})

/** What SignedPostSender throws for a post the account's rate refused. */
const throttle = () => Object.assign(new Error('429 LimitExceededException'), { throttled: true })

describe('a worker meets the account’s rate', () => {
  it('waits out throttled posts and completes its slice with none failed', async () => {
    const attempts = new Map<string, number>()
    const sender: EventSender = {
      send: async (connectionId) => {
        const n = (attempts.get(connectionId) ?? 0) + 1
        attempts.set(connectionId, n)
        // Every other connection is refused twice before it goes through.
        if (Number(connectionId.slice(5)) % 2 === 0 && n <= 2) throw throttle()
        return 'sent'
      },
    }
    const waits: number[] = []
    const delivery = new Delivery({
      store,
      sender: { send: async () => Promise.reject(new Error('the slice goes through sliceSender')) },
      sliceSender: sender,
      concurrency: 4,
      sliceSize: 4,
      newId: () => crypto.randomUUID(),
      sleep: async (ms) => {
        waits.push(ms)
      },
    })
    const report = await delivery.postSlice(slice(10), () => 60_000)
    expect(report).toMatchObject({ connections: 10, sent: 10, failed: 0 })
    expect(waits).toHaveLength(10)
    expect([...attempts.values()].sort()).toEqual([1, 1, 1, 1, 1, 3, 3, 3, 3, 3])
  })

  it('leaves what is still throttled at its deadline for the retry, which posts the rest, none failed', async () => {
    let throttling = true
    const sent: string[] = []
    const sender: EventSender = {
      send: async (connectionId) => {
        if (throttling && connectionId === 'conn-3') throw throttle()
        sent.push(connectionId)
        return 'sent'
      },
    }
    let remaining = 60_000
    const delivery = new Delivery({
      store,
      sender,
      concurrency: 1,
      sliceSize: 4,
      newId: () => crypto.randomUUID(),
      // Each wait spends the worker's time.
      sleep: async (ms) => {
        remaining -= ms + 1000
      },
    })
    const theSlice = slice(6)
    await expect(delivery.postSlice(theSlice, () => remaining)).rejects.toThrow('3 of 6 posted')
    expect(sent).toEqual(['conn-0', 'conn-1', 'conn-2'])
    throttling = false
    remaining = 60_000
    const retry = await delivery.postSlice(theSlice, () => remaining)
    expect(retry).toMatchObject({ sent: 3, failed: 0 })
    expect(sent).toEqual(['conn-0', 'conn-1', 'conn-2', 'conn-3', 'conn-4', 'conn-5'])
  })
})

describe('a worker without its budget', () => {
  it('posts nothing unpaced: it records how far it got and fails, for its retry', async () => {
    let reachable = false
    const budget: PostBudget = {
      reserve: async (_count, _perSecond, notBefore) => {
        if (!reachable) throw new Error('ProvisionedThroughputExceededException')
        return notBefore
      },
    }
    const posts: string[] = []
    const delivery = new Delivery({
      store,
      sender: {
        send: async (connectionId) => {
          posts.push(connectionId)
          return 'sent'
        },
      },
      concurrency: 4,
      sliceSize: 4,
      newId: () => crypto.randomUUID(),
      pacing: { budget, perSecond: 10_000 },
    })
    const theSlice = slice(8)
    await expect(delivery.postSlice(theSlice, () => 60_000)).rejects.toThrow(
      '0 of 8 posted: the post budget could not be reached',
    )
    expect(posts).toEqual([])
    reachable = true
    await expect(delivery.postSlice(theSlice, () => 60_000)).resolves.toMatchObject({ sent: 8, failed: 0 })
  })
})

describe('small groups are a lane of their own', () => {
  it('posts a function’s own slice at once while a worker’s broadcast waits for its budget', async () => {
    // The budget answers nothing until the small group's event is out: the broadcast waits for its slots.
    let opened = false
    const waiting: (() => void)[] = []
    const reserved: number[] = []
    const budget: PostBudget = {
      reserve: (count) => {
        reserved.push(count)
        if (opened) return Promise.resolve(Date.now())
        return new Promise((resolve) => waiting.push(() => resolve(Date.now())))
      },
    }
    const posts: string[] = []
    const sender: EventSender = {
      send: async (connectionId) => {
        posts.push(connectionId)
        return 'sent'
      },
    }
    const delivery = new Delivery({
      store,
      sender,
      concurrency: 4,
      sliceSize: 100,
      newId: () => crypto.randomUUID(),
      pacing: { budget, perSecond: 1000 },
    })
    const broadcast = delivery.postSlice(slice(50), () => 60_000)
    await vi.waitFor(() => expect(reserved).toEqual([20]))
    // The broadcast's worker is waiting for its slots; the small group's event goes out all the same.
    const small = targets(5).map((t) => ({ ...t, connectionId: `small-${t.connectionId}` }))
    const event = { type: 'chat.message', gid: 'g', iss: 'a', jti: 'j', seq: 1 } as unknown as ChatEvent
    const report = await delivery.post(event, { recipients: 5, targets: small, started: Date.now() })
    expect(report).toMatchObject({ sent: 5, failed: 0 })
    expect(posts).toEqual(small.map((t) => t.connectionId))
    expect(reserved).toEqual([20])
    expect(waiting).toHaveLength(1)
    opened = true
    for (const open of waiting.splice(0)) open()
    await expect(broadcast).resolves.toMatchObject({ sent: 50, failed: 0 })
    expect(posts.slice(5)).toEqual(targets(50).map((t) => t.connectionId))
  })
})
