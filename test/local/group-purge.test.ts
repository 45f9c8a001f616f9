import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { LambdaPurgeWorkers } from '../../lambdas/adapters/lambda-workers.js'
import { S3Objects } from '../../lambdas/adapters/s3-objects.js'
import { SignedHttp } from '../../lambdas/adapters/signed-http.js'
import { GroupPurge } from '../../lambdas/core/group-purge.js'
import { purgeWorker } from '../../lambdas/routes.js'
import { emulatorClientConfig } from '../../local/emulators.js'
import type { Gateway } from '../../local/gateway.js'
import { localNames } from '../../local/stack.js'
import { connector } from '../support/clients.js'
import { ownGateway } from '../support/gateways.js'
import { groupItems, png, tableClient, unique } from '../support/huddle.js'
import { loggedEntries } from '../support/logs.js'
import { purgeEnded } from '../support/purges.js'

// A gateway of its own, so that failing the purge worker on purpose touches no other file's deletions; failed
// events are retried after 20 and 40 ms instead of Lambda's minutes.
const purge = purgeWorker.handler
let gateway: Gateway
const connect = connector(() => gateway.url)
beforeAll(async () => {
  // The purge worker's report is an INFO line.
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO')
  gateway = await ownGateway({ eventRetryDelaysMs: [20, 40] })
})
afterAll(async () => {
  vi.unstubAllEnvs()
  await gateway?.close()
})

/** alice's group with an avatar, bob joined and carol invited, and a message carrying a file. */
async function doomedGroup() {
  const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
  if (!alice || !bob || !carol) throw new Error('not connected')
  const gid = unique('doomed')
  await alice.ok('invite', {
    gid,
    name: 'Doomed',
    members: [bob.iss, carol.iss],
    avatar: { key: await alice.uploadAvatar(png) },
  })
  await bob.ok('join', { gid })
  const file = await alice.uploadAttachment(gid, randomBytes(100), { name: 'a.bin', mime: 'application/pdf' })
  await alice.ok('message', { gid, body: 'with a file', attachments: [file] })
  return { alice, bob, carol, gid }
}

async function failNextPurges(count: number): Promise<void> {
  const response = await fetch(`${gateway.url}/dev/fail-invocations`, {
    method: 'POST',
    body: JSON.stringify({ function: purge, count }),
  })
  expect(response.ok).toBe(true)
}

describe('the purge worker', () => {
  it('purges a deleted group after the answer, through the Lambda API, and reports what it removed', async () => {
    const { alice, bob, gid } = await doomedGroup()
    const before = gateway.events.counts(purge)
    await alice.ok('deleteGroup', { gid })
    expect(await bob.nextEvent('chat.deleted')).toMatchObject({ gid, iss: alice.iss })
    await purgeEnded(gid)
    await gateway.events.settled()
    expect(gateway.events.counts(purge).queued - before.queued).toBe(1)
    const [report, ...more] = loggedEntries({ message: 'group purged', gid })
    expect(more).toEqual([])
    // Three events, a marker and three memberships; the file, the avatar.
    expect(report).toMatchObject({ outcome: 'purged', pages: expect.any(Number), objects: 2 })
    expect(Number(report?.items)).toBeGreaterThanOrEqual(7)
  })

  it('is retried by Lambda when it fails, and a purge Lambda gave up on ends when the admin asks again', async () => {
    const once = await doomedGroup()
    await failNextPurges(1)
    await once.alice.ok('deleteGroup', { gid: once.gid })
    await purgeEnded(once.gid)

    const { alice, bob, gid } = await doomedGroup()
    const before = gateway.events.counts(purge)
    await failNextPurges(3)
    await alice.ok('deleteGroup', { gid })
    await gateway.events.settled()
    expect(gateway.events.counts(purge).exhausted - before.exhausted).toBe(1)
    expect((await groupItems(gid)).length).toBeGreaterThan(1)
    expect(await bob.request('deleteGroup', { gid })).toMatchObject({ code: 'NOT_FOUND' })
    // The admin's request again answers alike, and starts the purge again.
    expect(await alice.ok('deleteGroup', { gid })).toMatchObject({ gid })
    expect(await purgeEnded(gid)).toMatchObject({ deletedBy: alice.iss, purged: true })
    expect(await alice.ok('deleteGroup', { gid })).toMatchObject({ gid })
  })

  it('takes over a purge handed to it through the Lambda API, from the page where it was cut', async () => {
    const { alice, gid } = await doomedGroup()
    const { store } = tableClient()
    // Marked as deleteGroup marks it, with its purge run here instead, out of time after its first page.
    const state = await store.readGroup(gid)
    const at = new Date().toISOString()
    expect(await store.markDeleted(gid, state?.group.head ?? 0, { by: alice.iss, at })).toBe(true)
    const credentials = async () => emulatorClientConfig.credentials
    const http = new SignedHttp({
      endpoint: gateway.url,
      service: 'lambda',
      region: 'us-east-1',
      credentials,
    })
    const objects = new S3Objects({
      bucket: localNames.bucket,
      region: emulatorClientConfig.region,
      credentials,
      endpoint: inject('s3Endpoint'),
    })
    const here = new GroupPurge({
      store,
      objects,
      workers: new LambdaPurgeWorkers(http, purge),
      newId: () => crypto.randomUUID(),
      pageSize: 2,
    })
    const before = gateway.events.counts(purge)
    expect(await here.run({ gid, run: 'cut' }, () => 0)).toMatchObject({ outcome: 'handed over', pages: 1 })
    expect(await purgeEnded(gid)).toMatchObject({ deletedBy: alice.iss, purged: true })
    await gateway.events.settled()
    expect(gateway.events.counts(purge).queued - before.queued).toBe(1)
    const [report] = loggedEntries({ message: 'group purged', gid })
    expect(report).toMatchObject({ run: 'cut', outcome: 'purged', objects: 2 })
    http.close()
    objects.close()
  })
})
