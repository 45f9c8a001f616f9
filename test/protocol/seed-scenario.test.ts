import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { indexCaughtUp, png, unique } from '../support/huddle.js'

const connect = connector()

describe('the seed scenario, end to end', () => {
  it('invites with an avatar, delivers only to joined members and stops delivering after leave', async () => {
    const [alice, bob, carol, dave] = await connect(
      unique('alice'),
      unique('bob'),
      unique('carol'),
      unique('dave'),
    )
    const gid = unique('my_gid')

    const key = await alice.uploadAvatar(png)
    const invited = await alice.ok('invite', {
      gid,
      name: 'Group name',
      members: [bob.iss, carol.iss, dave.iss],
      avatar: { key },
    })
    expect(invited.invited).toEqual([bob.iss, carol.iss, dave.iss])

    for (const invitee of [bob, carol, dave]) {
      const invite = await invitee.nextEvent('chat.invite', (e) => e.gid === gid)
      expect(invite).toMatchObject({ name: 'Group name', iss: alice.iss })
      expect(invite.members.sort()).toEqual([alice.iss, bob.iss, carol.iss, dave.iss].sort())
      expect(invite.image?.mime).toBe('image/png')
      const image = await fetch(String(invite.image?.url))
      expect(image.status).toBe(200)
      expect(Buffer.from(await image.arrayBuffer())).toEqual(png)
    }

    await bob.ok('join', { gid })
    await alice.nextEvent('chat.join', (e) => e.gid === gid && e.iss === bob.iss)
    await carol.ok('join', { gid })
    await alice.nextEvent('chat.join', (e) => e.iss === carol.iss)
    await bob.nextEvent('chat.join', (e) => e.iss === carol.iss)

    const sent = await alice.ok('message', { gid, body: 'hello' })
    for (const member of [bob, carol]) {
      const message = await member.nextEvent('chat.message', (e) => e.jti === sent.jti)
      expect(message).toMatchObject({ gid, iss: alice.iss, body: 'hello', iat: sent.iat })
    }
    await dave.settle()
    await alice.settle()
    expect(dave.events('chat.message', gid)).toEqual([])
    expect(alice.events('chat.message', gid)).toEqual([])

    await bob.ok('leave', { gid })
    await alice.nextEvent('chat.leave', (e) => e.iss === bob.iss)
    await carol.nextEvent('chat.leave', (e) => e.iss === bob.iss)

    const later = await alice.ok('message', { gid, body: 'after bob left' })
    await carol.nextEvent('chat.message', (e) => e.jti === later.jti)
    await bob.settle()
    await dave.settle()
    expect(bob.events('chat.message', gid).map((e) => e.body)).toEqual(['hello'])
    expect(dave.events('chat.message', gid)).toEqual([])
  })

  it('sends pending invites to an invitee who was offline, through sync', async () => {
    const [alice] = await connect(unique('alice'))
    const erin = unique('erin')
    const gid = unique('offline')
    await alice.ok('invite', { gid, name: 'While you were away', members: [erin] })

    const [late] = await connect(erin)
    await indexCaughtUp()
    const synced = await late.ok('sync')
    expect(synced.invites).toBe(1)
    const invite = late.events('chat.invite', gid)
    expect(invite).toHaveLength(1)
    expect(invite[0]).toMatchObject({ name: 'While you were away', iss: alice.iss })

    await late.ok('join', { gid })
    expect((await late.ok('sync')).invites).toBe(0)
  })

  it('delivers to the sender’s other devices but not back to the sending connection', async () => {
    const alice = unique('alice')
    const [phone, laptop, bob] = await connect(alice, alice, unique('bob'))
    const gid = unique('devices')
    await phone.ok('invite', { gid, name: 'Devices', members: [bob.iss] })
    await bob.ok('join', { gid })

    const sent = await phone.ok('message', { gid, body: 'from my phone' })
    await laptop.nextEvent('chat.message', (e) => e.jti === sent.jti)
    await bob.nextEvent('chat.message', (e) => e.jti === sent.jti)
    await phone.settle()
    expect(phone.events('chat.message', gid)).toEqual([])
  })

  it('lists the caller’s groups with members and status', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('listed')
    await alice.ok('invite', { gid, name: 'Listed', members: [bob.iss] })
    await indexCaughtUp()
    const { groups } = (await bob.ok('groups')) as unknown as { groups: { gid: string; status: string }[] }
    expect(groups.find((g) => g.gid === gid)?.status).toBe('invited')
  })
})

describe('idempotent messages', () => {
  it('stores and delivers a retried jti once and acknowledges the retry', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('retry')
    await alice.ok('invite', { gid, name: 'Retry', members: [bob.iss] })
    await bob.ok('join', { gid })

    const first = await alice.ok('message', { gid, body: 'once', jti: 'client-jti-1' })
    const retry = await alice.ok('message', { gid, body: 'once', jti: 'client-jti-1' })
    expect(first.duplicate).toBe(false)
    expect(retry).toMatchObject({ duplicate: true, jti: 'client-jti-1', iat: first.iat, seq: first.seq })

    // A jti names one message in its group, so another sender cannot take it.
    expect(
      await bob.request('message', { gid, body: 'same jti, other sender', jti: 'client-jti-1' }),
    ).toMatchObject({ type: 'error', code: 'CONFLICT' })
    await bob.settle()
    const copies = bob.events('chat.message', gid).filter((e) => e.jti === 'client-jti-1')
    // The retry was posted again (its fan-out might never have run): same event, same seq.
    expect(copies.map((e) => [e.body, e.seq])).toEqual([
      ['once', first.seq],
      ['once', first.seq],
    ])
  })
})
