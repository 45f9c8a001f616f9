import { GetCommand } from '@aws-sdk/lib-dynamodb'
import { describe, expect, it } from 'vitest'
import { keys } from '../../lambdas/adapters/dynamo/keys.js'
import { connector } from '../support/clients.js'
import { tableClient, unique } from '../support/huddle.js'

const connect = connector()
const { store } = tableClient()

describe('stale connections', () => {
  it('prunes a vanished connection on the next delivery and still delivers to everyone else', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = unique('stale')
    await alice.ok('invite', { gid, name: 'Stale', members: [bob.iss, carol.iss] })
    await bob.ok('join', { gid })
    await carol.ok('join', { gid })

    // Clients that vanished without a $disconnect: the table still lists their connections.
    const now = new Date()
    const expiresAt = Math.ceil(now.getTime() / 1000) + 3600
    for (const [iss, connectionId] of [
      [bob.iss, 'vanished-bob-phone'],
      [carol.iss, 'vanished-carol-tab'],
      [alice.iss, 'vanished-alice-tab'],
    ] as const) {
      await store.saveConnection({ connectionId, iss, connectedAt: now.toISOString(), expiresAt })
    }
    const sent = await alice.ok('message', { gid, body: 'anyone there?' })
    await bob.nextEvent('chat.message', (e) => e.jti === sent.jti)
    await carol.nextEvent('chat.message', (e) => e.jti === sent.jti)

    const left = await store.connectionsOf([alice.iss, bob.iss, carol.iss])
    expect(left.get(alice.iss)).toHaveLength(1)
    expect(left.get(bob.iss)).toHaveLength(1)
    expect(left.get(carol.iss)).toHaveLength(1)
    for (const ids of left.values()) expect(ids.some((id) => id.startsWith('vanished-'))).toBe(false)
  })

  it('forgets a connection when it closes', async () => {
    const bob = unique('bob')
    const [first] = await connect(bob)
    expect((await store.connectionsOf([bob])).get(bob)).toHaveLength(1)
    const closed = first.closed()
    first.close()
    await closed
    await expect.poll(async () => (await store.connectionsOf([bob])).get(bob)).toBeUndefined()
  })
})

describe('the connection directory', () => {
  /** The connection ids a group's recipient shards keep of a member, and the groups an identity is recorded as
   * joined to. */
  const conns = async (gid: string, iss: string) =>
    (await store.readRecipients(gid))?.connections.get(iss)?.length ?? 0
  const joinedGroups = async (iss: string) => {
    const { db, tableName } = tableClient()
    const { Item } = await db.send(new GetCommand({ TableName: tableName, Key: keys.userGroups(iss) }))
    return [...((Item?.gids as Set<string> | undefined) ?? [])].sort()
  }

  it('keeps each joined group’s copy of its members’ connections as they open and close', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const [gid, other] = [unique('directory'), unique('other')]
    await alice.ok('invite', { gid, name: 'Directory', members: [bob.iss] })
    await alice.ok('invite', { gid: other, name: 'Other', members: [bob.iss] })
    expect(await conns(gid, bob.iss)).toBe(0)
    await bob.ok('join', { gid })
    expect(await conns(gid, bob.iss)).toBe(1)
    expect(await conns(other, bob.iss)).toBe(0)
    expect(await joinedGroups(bob.iss)).toEqual([gid])

    // A second device after the join reaches the group's messages too.
    const [laptop] = await connect(bob.iss)
    expect(await conns(gid, bob.iss)).toBe(2)
    const sent = await alice.ok('message', { gid, body: 'to both devices' })
    await laptop.nextEvent('chat.message', (e) => e.jti === sent.jti)
    await bob.nextEvent('chat.message', (e) => e.jti === sent.jti)

    const closed = laptop.closed()
    laptop.close()
    await closed
    await expect.poll(() => conns(gid, bob.iss)).toBe(1)
    await bob.ok('leave', { gid })
    expect(await conns(gid, bob.iss)).toBe(0)
    expect(await joinedGroups(bob.iss)).toEqual([])
    expect(await conns(gid, alice.iss)).toBe(1)
    expect(await joinedGroups(alice.iss)).toEqual([gid, other].sort())
  })
})
