import { describe, expect, it } from 'vitest'
import { connector } from './support/clients.js'
import { tableClient, unique } from './support/huddle.js'

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
