import { GetCommand } from '@aws-sdk/lib-dynamodb'
import { ChatClient, type Presence } from '@huddle/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../local/gateway.js'
import { connector, joinedGroup } from '../support/clients.js'
import { ownGateway } from '../support/gateways.js'
import { groupItems, type TestClient, tableClient, tokenFor, unique } from '../support/huddle.js'
import { waitFor } from '../support/sdk.js'

// A gateway of this file's own: a grace period of a second, and presence in groups of up to three.
let gateway: Gateway
beforeAll(async () => {
  gateway = await ownGateway({ settings: { presence: { graceSeconds: 1, maxMembers: 3 } } })
})
afterAll(() => gateway.close())
const connectClients = connector(() => gateway.url)
/** Connects clients, and lets the announcements of their coming online run before the test goes on: to no
 * one yet, as they share no group. */
const connect: typeof connectClients = async (...identities) => {
  const clients = await connectClients(...identities)
  await gateway.settled()
  return clients
}

/** The presence events about `iss` a client received. */
function about(client: TestClient, iss: string) {
  return client.events('chat.presence').filter((event) => event.iss === iss)
}

/** A group's items but its recipient shards, which copy its members' connection ids as they open and close. */
async function groupRecords(gid: string): Promise<unknown[]> {
  return (await groupItems(gid)).filter((item) => !String((item as { SK: string }).SK).startsWith('RCPT'))
}

/** The identity's presence as the table keeps it, beside its connections. */
async function stored(iss: string): Promise<Record<string, unknown> | undefined> {
  const { db, tableName } = tableClient()
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName, Key: { PK: `USER#${iss}`, SK: 'CONNS' }, ConsistentRead: true }),
  )
  return Item
}

describe('presence', () => {
  it('tells joined members when a member comes online and goes offline, and stores nothing in the group', async () => {
    const [alice, bob, carol, dave] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
    )
    const gid = await joinedGroup('Presence', bob, alice)
    await bob.ok('invite', { gid, name: 'Presence', members: [carol.iss] })
    const items = await groupRecords(gid)

    expect(await bob.ok('presence', { gid })).toMatchObject({
      gid,
      shared: true,
      members: expect.arrayContaining([
        { iss: alice.iss, online: true },
        { iss: bob.iss, online: true },
      ]),
    })
    alice.close()
    const offline = await bob.nextEvent('chat.presence', (e) => e.iss === alice.iss && e.online === false)
    expect(offline).toEqual({
      type: 'chat.presence',
      iss: alice.iss,
      online: false,
      lastSeen: expect.any(String),
      at: expect.any(String),
    })
    expect(Date.parse(offline.at) - Date.parse(offline.lastSeen as string)).toBeGreaterThanOrEqual(1000)
    expect((await bob.ok('presence', { gid })).members).toContainEqual({
      iss: alice.iss,
      online: false,
      lastSeen: offline.lastSeen,
    })

    const [aliceAgain] = await connect(alice.iss)
    await bob.nextEvent('chat.presence', (e) => e.iss === alice.iss && e.online === true)
    await gateway.settled()
    // Neither the invitee who has not joined, nor an outsider, nor alice's own connection hears of it.
    for (const client of [carol, dave, aliceAgain]) expect(about(client, alice.iss), client.iss).toEqual([])
    expect(about(bob, alice.iss).map((e) => e.online)).toEqual([false, true])
    expect(await groupRecords(gid)).toEqual(items)
  })

  it('is no departure when the last connection reopens within the grace period', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    await joinedGroup('Presence', alice, bob)
    alice.close()
    // The close is seen (the grace runs) before the reconnect.
    await waitFor(async () => expect((await stored(alice.iss))?.leftAt).toEqual(expect.any(String)))
    await connect(alice.iss)
    await gateway.settled()
    expect(await stored(alice.iss)).toMatchObject({ online: true })
    expect(about(bob, alice.iss)).toEqual([])
  })

  it('hides a member that asks, its comings and goings too, until it shows itself again', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await joinedGroup('Presence', alice, bob)
    expect(await alice.ok('hidePresence', { hidden: true })).toMatchObject({ hidden: true })
    const hidden = await bob.nextEvent('chat.presence', (e) => e.iss === alice.iss)
    expect(hidden).toEqual({ type: 'chat.presence', iss: alice.iss, at: expect.any(String) })
    expect((await bob.ok('presence', { gid })).members).toContainEqual({ iss: alice.iss })

    alice.close()
    await waitFor(async () => expect((await stored(alice.iss))?.online).toBe(false))
    const [aliceAgain] = await connect(alice.iss)
    await gateway.settled()
    expect(about(bob, alice.iss)).toEqual([hidden])

    await aliceAgain.ok('hidePresence', { hidden: false })
    await bob.nextEvent('chat.presence', (e) => e.iss === alice.iss && e.online === true)
    expect((await bob.ok('presence', { gid })).members).toContainEqual({ iss: alice.iss, online: true })
  })

  it('is not shared in groups larger than the setting', async () => {
    const [alice, bob, carol, dave, erin] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
      unique('erin'),
    )
    const large = await joinedGroup('Presence', alice, bob, carol, dave)
    const small = await joinedGroup('Presence', erin, alice)
    expect(await bob.ok('presence', { gid: large })).toMatchObject({ gid: large, shared: false, members: [] })
    alice.close()
    await erin.nextEvent('chat.presence', (e) => e.iss === alice.iss && e.online === false)
    await gateway.settled()
    for (const client of [bob, carol, dave]) expect(about(client, alice.iss), client.iss).toEqual([])
    expect((await erin.ok('presence', { gid: small })).shared).toBe(true)
  })

  it('is read by joined members only, and malformed frames are refused', async () => {
    const [alice, bob, carol, dave] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
    )
    const gid = await joinedGroup('Presence', alice, bob)
    await alice.ok('invite', { gid, name: 'Presence', members: [carol.iss] })
    await alice.ok('remove', { gid, iss: bob.iss })
    for (const client of [bob, carol, dave]) {
      expect(await client.request('presence', { gid }), client.iss).toMatchObject({
        type: 'error',
        code: 'FORBIDDEN',
      })
    }
    expect(await alice.request('presence', { gid: unique('nowhere') })).toMatchObject({ code: 'NOT_FOUND' })
    for (const fields of [{}, { gid: 'has space' }, { gid: 42 }]) {
      expect(await alice.request('presence', fields)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' })
    }
    for (const fields of [{}, { hidden: 'yes' }, { hidden: 1 }]) {
      expect(await alice.request('hidePresence', fields)).toMatchObject({
        type: 'error',
        code: 'BAD_REQUEST',
      })
    }
  })
})

describe('presence in the SDK', () => {
  it('reads a group, follows changes and hides this identity', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = await joinedGroup('Presence', alice, bob)
    const client = await ChatClient.connect(gateway.url.replace(/^http/, 'ws'), {
      token: () => tokenFor(bob.iss, undefined, gateway.url),
    })
    try {
      const chat = client.chat()
      const seen: Presence[] = []
      chat.onPresence((presence) => {
        seen.push(presence)
      })
      const group = (await chat.groups()).find((g) => g.gid === gid) ?? expect.fail(`no group ${gid}`)
      expect(await group.presence()).toContainEqual({ iss: alice.iss, online: true })
      expect(chat.presenceOf(alice.iss)).toEqual({ iss: alice.iss, online: true })

      alice.close()
      await waitFor(() => expect(chat.presenceOf(alice.iss)?.online).toBe(false))
      expect(seen.at(-1)).toEqual({ iss: alice.iss, online: false, lastSeen: expect.any(String) })

      const [aliceAgain] = await connect(alice.iss)
      await waitFor(() => expect(chat.presenceOf(alice.iss)?.online).toBe(true))
      await chat.hidePresence(true)
      expect(await aliceAgain.nextEvent('chat.presence', (e) => e.iss === bob.iss)).toEqual({
        type: 'chat.presence',
        iss: bob.iss,
        at: expect.any(String),
      })
    } finally {
      await client.close()
    }
  })
})
