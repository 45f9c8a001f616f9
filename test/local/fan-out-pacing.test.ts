import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fanOutWorker } from '../../lambdas/routes.js'
import { awsLikeBehaviours } from '../../local/aws-behaviours.js'
import type { PostRate } from '../../local/gateway/limits.js'
import type { Gateway } from '../../local/gateway.js'
import { localFanOutPostsPerSecond, localSettings } from '../../local/stack.js'
import { connector } from '../support/clients.js'
import { ownGateway } from '../support/gateways.js'
import { type TestClient, unique } from '../support/huddle.js'
import { waitFor } from '../support/sdk.js'

// A gateway of its own on the shared emulators whose functions hand fan-outs over in slices of two, with
// the workers' budget at 20 posts a second: a message to a group of fourteen is two posts by the message
// function and eleven by workers, paced.
const budget = 20
let gateway: Gateway
const connect = connector(() => gateway.url)
beforeAll(async () => {
  gateway = await ownGateway({ settings: { fanOutSliceSize: 2, fanOutPostsPerSecond: budget } })
})
afterEach(() => {
  Object.assign(gateway.aws.behaviours, awsLikeBehaviours)
})
afterAll(async () => {
  await gateway?.close()
})

/** An owner and `size − 1` members, all joined. */
async function group(size: number): Promise<{ gid: string; owner: TestClient; members: TestClient[] }> {
  const [owner, ...members] = await connect(...Array.from({ length: size }, (_, n) => unique(`paced${n}`)))
  if (!owner) throw new Error('no owner')
  const gid = unique('paced')
  await owner.ok('invite', { gid, name: 'Paced', members: members.map((m) => m.iss) })
  for (const member of members) await member.ok('join', { gid })
  await gateway.events.settled()
  return { gid, owner, members }
}

async function postsBy(caller: string, since: number): Promise<PostRate> {
  const response = await fetch(`${gateway.url}/dev/posts?caller=${caller}&since=${since}`)
  expect(response.status).toBe(200)
  return (await response.json()) as PostRate
}

const bodiesOf = (client: TestClient, gid: string) =>
  client.events('chat.message', gid).map((event) => String(event.body))

describe('the fan-out workers’ budget', () => {
  it('is half the local account’s rate unless set, as deployed', () => {
    expect(localFanOutPostsPerSecond).toBe(awsLikeBehaviours.callbackRatePerSecond / 2)
    expect(localSettings('http://localhost').fanOutPostsPerSecond).toBe(localFanOutPostsPerSecond)
  })

  it('keeps the workers’ posts at the gateway within the budget, every member served once', async () => {
    const { gid, owner, members } = await group(14)
    const since = Date.now()
    const sent = ['one', 'three', 'two']
    for (const body of sent) await owner.ok('message', { gid, body })
    for (const member of members) await waitFor(() => expect(bodiesOf(member, gid).sort()).toEqual(sent))
    await gateway.events.settled()
    const workers = await postsBy(fanOutWorker.handler, since)
    // Eleven each (and a join's last slice may still have been out when the clock started).
    expect(workers.posts).toBeGreaterThanOrEqual(3 * 11)
    // The budget, and the lateness a slot may be used with (20 ms of it) and one post of the gateway's own
    // jitter.
    expect(workers.peak).toBeLessThanOrEqual(budget + 2)
  })

  it('backs a worker off the gateway’s 429s and completes its slices, none failed', async () => {
    const { gid, owner, members } = await group(14)
    // The account's rate below the workers' budget: they meet 429 LimitExceededException.
    Object.assign(gateway.aws.behaviours, { callbackRatePerSecond: 8, callbackBurst: 2 })
    const throttlesBefore = gateway.aws.counters.callbackThrottles
    const before = gateway.events.counts(fanOutWorker.handler)
    const sent = ['a', 'b']
    for (const body of sent) await owner.ok('message', { gid, body })
    for (const member of members) await waitFor(() => expect(bodiesOf(member, gid).sort()).toEqual(sent))
    await gateway.events.settled()
    await Promise.all(members.map((member) => member.settle()))
    // Exactly once each: no post failed, and none was made twice.
    for (const member of members) expect(bodiesOf(member, gid).sort()).toEqual(sent)
    expect(gateway.aws.counters.callbackThrottles).toBeGreaterThan(throttlesBefore)
    const after = gateway.events.counts(fanOutWorker.handler)
    expect(after.failed - before.failed).toBe(0)
    expect(after.exhausted - before.exhausted).toBe(0)
  })
})
