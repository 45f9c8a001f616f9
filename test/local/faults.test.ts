import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { defaultRateLimits } from '../../lambdas/core/rate-limits.js'
import { createDevTokens } from '../../local/dev-tokens.js'
import {
  type Emulator,
  emulatorClientConfig,
  startDynamoDbLocal,
  startS3Emulator,
} from '../../local/emulators.js'
import { type Gateway, startGateway } from '../../local/gateway.js'
import { localHandlerEnvironment, localNames } from '../../local/stack.js'
import { ensureTable } from '../../local/table.js'
import { connector } from '../support/clients.js'
import { png, tableClient, unique } from '../support/huddle.js'
import { quietGateway } from '../support/logs.js'

// This file runs its own stack, so that it can stop and restart the emulators under the handlers.
let dataDir: string
let dynamo: Emulator
let dynamoPort: number
let s3: Emulator
let gateway: Gateway
const connect = connector(() => gateway.url)

beforeAll(async () => {
  // The faults below are provoked on purpose; their error logs would only be noise here.
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT')
  dataDir = await mkdtemp(join(tmpdir(), 'huddle-faults-'))
  dynamo = await startDynamoDbLocal(join(dataDir, 'dynamodb'))
  dynamoPort = Number(new URL(dynamo.endpoint).port)
  s3 = await startS3Emulator(localNames.bucket)
  const db = new DynamoDBClient({ ...emulatorClientConfig, endpoint: dynamo.endpoint })
  await ensureTable(db, localNames.table)
  db.destroy()
  gateway = await startGateway({
    port: 0,
    tokens: await createDevTokens(),
    handlerEnvironment: (url) => localHandlerEnvironment(url, dynamo.endpoint, s3.endpoint),
    ...quietGateway,
  })
})

afterAll(async () => {
  vi.unstubAllEnvs()
  await gateway?.close()
  await Promise.allSettled([dynamo?.stop(), s3?.stop()])
  await rm(dataDir, { recursive: true, force: true })
})

describe('faults', () => {
  it('answers INTERNAL while DynamoDB is down, loses nothing acknowledged, and recovers', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('outage')
    await alice.ok('invite', { gid, name: 'Outage', members: [bob.iss] })
    await bob.ok('join', { gid })

    // A burst within alice's rate limit: what is refused here is refused for the outage alone.
    const jtis = Array.from({ length: defaultRateLimits.messages.burst }, (_, i) => `burst-${i}`)
    const send = (jti: string) => alice.request('message', { gid, body: jti, jti })
    const burst = jtis.map((jti, i) => (i === 8 ? dynamo.stop().then(() => send(jti)) : send(jti)))
    const replies = await Promise.all(burst)
    const failed = jtis.filter((_, i) => replies[i]?.type === 'error')
    for (const reply of replies) if (reply.type === 'error') expect(reply.code).toBe('INTERNAL')
    expect(failed.length).toBeGreaterThan(0)

    dynamo = await startDynamoDbLocal(join(dataDir, 'dynamodb'), dynamoPort)
    for (const jti of failed) expect((await send(jti)).type).toBe('ack')

    await bob.settle()
    const received = bob.events('chat.message', gid).map((e) => e.jti)
    expect(received.sort()).toEqual([...jtis].sort())
  })

  it('answers edit, delete, receipt and history INTERNAL while DynamoDB is down; a retry lands once', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('log-outage')
    await alice.ok('invite', { gid, name: 'Log outage', members: [bob.iss] })
    await bob.ok('join', { gid }) // 1
    await alice.ok('message', { gid, body: 'to edit', jti: 'to-edit' }) // 2
    await alice.ok('message', { gid, body: 'to delete', jti: 'to-delete' }) // 3
    const edit = (): Promise<unknown> => alice.request('edit', { gid, jti: 'to-edit', body: 'edited' })
    const remove = (): Promise<unknown> => alice.request('delete', { gid, jti: 'to-delete' })
    const receipt = (): Promise<unknown> => bob.request('receipt', { gid, read: 3 })

    await dynamo.stop()
    const down = await Promise.all([edit(), remove(), receipt(), bob.request('history', { gid })])
    for (const reply of down) expect(reply).toMatchObject({ type: 'error', code: 'INTERNAL' })

    dynamo = await startDynamoDbLocal(join(dataDir, 'dynamodb'), dynamoPort)
    expect(await edit()).toMatchObject({ type: 'ack', seq: 4, duplicate: false })
    expect(await remove()).toMatchObject({ type: 'ack', seq: 5, duplicate: false })
    expect(await receipt()).toMatchObject({ type: 'ack', delivered: 3, read: 3 })
    expect(await edit()).toMatchObject({ type: 'ack', seq: 4, duplicate: true })
    expect(await remove()).toMatchObject({ type: 'ack', seq: 5, duplicate: true })
    expect(await receipt()).toMatchObject({ type: 'ack', delivered: 3, read: 3 })

    await Promise.all([alice.settle(), bob.settle()])
    expect(bob.events('chat.edit', gid).map((e) => [e.jti, e.seq])).toEqual([['to-edit', 4]])
    expect(bob.events('chat.delete', gid).map((e) => [e.jti, e.seq])).toEqual([['to-delete', 5]])
    expect(alice.events('chat.receipt', gid).map((e) => [e.iss, e.read])).toEqual([[bob.iss, 3]])
    const history = await bob.request('history', { gid })
    expect(history).toMatchObject({ type: 'ack', head: 5 })
  })

  it('refuses an avatar invite clearly while S3 is down and creates no half a group', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const key = await alice.uploadAvatar(png)
    await s3.stop()

    const gid = unique('no-s3')
    const reply = await alice.request('invite', {
      gid,
      name: 'No S3',
      members: [bob.iss],
      avatar: { key },
    })
    expect(reply).toMatchObject({ type: 'error', code: 'INTERNAL' })
    expect(await bob.request('join', { gid })).toMatchObject({ code: 'NOT_FOUND' })
    await bob.settle()
    expect(bob.events('chat.invite', gid)).toEqual([])
  })

  it('delivers to everyone still connected when connections drop mid-fan-out, and forgets the dropped', async () => {
    const members = Array.from({ length: 24 }, (_, i) => unique(`member${i}`))
    const [alice, ...others] = await connect(unique('alice'), ...members)
    const gid = unique('dropping')
    await alice.ok('invite', { gid, name: 'Dropping', members })
    // One after another: two dozen joins racing for one group's head are not what this test is about.
    for (const member of others) await member.ok('join', { gid })

    const dropped = others.filter((_, i) => i % 3 === 0)
    const staying = others.filter((_, i) => i % 3 !== 0)
    const sending = alice.ok('message', { gid, body: 'still here?' })
    for (const member of dropped) member.socket.terminate()
    const sent = await sending
    await Promise.all(staying.map((member) => member.nextEvent('chat.message', (e) => e.jti === sent.jti)))
    const after = await alice.ok('message', { gid, body: 'and now?' })
    await Promise.all(staying.map((member) => member.nextEvent('chat.message', (e) => e.jti === after.jti)))

    const { store } = tableClient(dynamo.endpoint)
    const droppedIds = dropped.map((member) => member.iss)
    await expect.poll(async () => (await store.connectionsOf(droppedIds)).size).toBe(0)
    expect((await store.connectionsOf(staying.map((member) => member.iss))).size).toBe(staying.length)
  })
})
