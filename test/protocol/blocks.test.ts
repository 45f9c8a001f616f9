import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { indexCaughtUp, unique } from '../support/huddle.js'
import { participant, waitFor } from '../support/sdk.js'

const connect = connector()

describe('blocking an identity', () => {
  it('keeps its invites from ever reaching the blocker, until unblocked', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    expect(await bob.ok('block', { iss: alice.iss })).toMatchObject({ iss: alice.iss, blocked: true })
    expect(await bob.ok('blocks')).toMatchObject({ blocked: [alice.iss] })

    const gid = unique('spam')
    const created = await alice.ok('invite', { gid, name: 'Offers', members: [bob.iss, carol.iss] })
    expect(created.invited).toEqual([carol.iss])
    await carol.nextEvent('chat.invite', (event) => event.gid === gid)
    // Naming only identities that block the caller invites nobody, and says so.
    expect(await alice.ok('invite', { gid, name: 'Offers', members: [bob.iss] })).toMatchObject({
      invited: [],
    })
    await bob.settle()
    expect(bob.events('chat.invite', gid)).toEqual([])
    expect(await bob.request('join', { gid })).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    expect(await bob.ok('groups')).toMatchObject({ groups: [] })
    expect(await bob.ok('sync')).toMatchObject({ invites: 0, groups: [] })

    expect(await bob.ok('unblock', { iss: alice.iss })).toMatchObject({ iss: alice.iss, blocked: false })
    expect(await bob.ok('blocks')).toMatchObject({ blocked: [] })
    expect(await alice.ok('invite', { gid, name: 'Offers', members: [bob.iss] })).toMatchObject({
      invited: [bob.iss],
    })
    await bob.nextEvent('chat.invite', (event) => event.gid === gid)
  })

  it('stops offering an invite that was pending, and still delivers messages in a group both joined', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const pending = unique('pending')
    const shared = unique('shared')
    await alice.ok('invite', { gid: pending, name: 'Pending', members: [bob.iss] })
    await alice.ok('invite', { gid: shared, name: 'Shared', members: [bob.iss] })
    await bob.ok('join', { gid: shared })
    await bob.ok('block', { iss: alice.iss })

    const before = bob.events('chat.invite', pending).length
    await indexCaughtUp()
    expect(await bob.ok('sync')).toMatchObject({ invites: 0 })
    const { groups } = await bob.ok('groups')
    expect((groups as { gid: string }[]).map((g) => g.gid)).toEqual([shared])
    await bob.settle()
    expect(bob.events('chat.invite', pending)).toHaveLength(before)

    const sent = await alice.ok('message', { gid: shared, body: 'still here' })
    const received = await bob.nextEvent('chat.message', (event) => event.jti === sent.jti)
    expect(received.body).toBe('still here')
  })

  it('refuses to block oneself, and lists blocks a page at a time in identity order', async () => {
    const [dave] = await connect(unique('dave'))
    expect(await dave.request('block', { iss: dave.iss })).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
    })
    const others = ['b', 'a', 'c'].map((letter) => `${letter}-${unique('other')}`)
    for (const iss of others) await dave.ok('block', { iss })
    expect(await dave.ok('blocks')).toMatchObject({ blocked: [...others].sort() })
    const sorted = [...others].sort()
    expect(await dave.ok('blocks', { cursor: sorted[0] })).toMatchObject({ blocked: sorted.slice(1) })
  })

  it('lets the SDK decline an invite and block its sender in one call, and list whom it blocks', async () => {
    const [alice, bob] = await Promise.all([participant(unique('alice')), participant(unique('bob'))])
    const gid = unique('unwanted')
    await alice.chat.invite(gid, 'Unwanted', [bob.sub])
    await waitFor(() => expect(bob.invites.map((g) => g.gid)).toContain(gid))
    const invite = bob.invites.find((g) => g.gid === gid)
    expect(invite?.invitedBy).toBe(alice.sub)
    await invite?.decline({ block: true })
    expect(invite?.status).toBe('left')
    expect(await bob.chat.blocked()).toEqual([alice.sub])
    await expect(invite?.decline()).rejects.toMatchObject({ code: 'BAD_REQUEST' })

    const again = unique('again')
    await alice.chat.invite(again, 'Again', [bob.sub])
    await indexCaughtUp()
    const listed = await bob.chat.groups()
    expect(listed.map((g) => g.gid)).not.toContain(again)
    // The invite made while blocked was never made: after unblocking, only a new one arrives.
    await bob.chat.unblock(alice.sub)
    expect((await bob.chat.groups()).map((g) => g.gid)).not.toContain(again)
    await alice.chat.invite(again, 'Again', [bob.sub])
    await indexCaughtUp()
    const pending = (await bob.chat.groups()).find((g) => g.gid === again)
    expect(pending).toMatchObject({ status: 'invited', invitedBy: alice.sub })
  })
})

describe('new groups an hour', () => {
  it('answers RATE_LIMITED past 20 new groups an hour, while inviting into existing groups goes on', async () => {
    const [erin, frank] = await connect(unique('erin'), unique('frank'))
    const gids = Array.from({ length: 20 }, () => unique('burst'))
    for (const gid of gids) await erin.ok('invite', { gid, name: 'Burst', members: [frank.iss] })
    const refused = await erin.request('invite', {
      gid: unique('one-more'),
      name: 'More',
      members: [frank.iss],
    })
    expect(refused).toMatchObject({ type: 'error', code: 'RATE_LIMITED' })
    expect(refused.retryAfter).toBeGreaterThan(0)
    expect(refused.retryAfter).toBeLessThanOrEqual(3600)
    const more = unique('grace')
    expect(await erin.ok('invite', { gid: gids[0], name: 'Burst', members: [more] })).toMatchObject({
      invited: [more],
    })
  })
})

describe('pending invites', () => {
  it('leaves out an identity with 100 invites pending, until it answers one', async () => {
    const creators = await connect(...Array.from({ length: 6 }, () => unique('inviter')))
    const [bob, carol] = await connect(unique('bob'), unique('carol'))
    const gids = creators
      .slice(0, 5)
      .flatMap((creator) => Array.from({ length: 20 }, () => ({ creator, gid: unique('flood') })))
    await Promise.all(
      creators.slice(0, 5).map(async (creator) => {
        for (const { gid } of gids.filter((g) => g.creator === creator)) {
          await creator.ok('invite', { gid, name: 'Flood', members: [bob.iss] })
        }
      }),
    )
    const last = creators[5] as (typeof creators)[number]
    const over = await last.ok('invite', { gid: unique('over'), name: 'Over', members: [bob.iss, carol.iss] })
    expect(over.invited).toEqual([carol.iss])

    await bob.ok('leave', { gid: gids[0]?.gid })
    const room = await last.ok('invite', { gid: unique('room'), name: 'Room', members: [bob.iss] })
    expect(room.invited).toEqual([bob.iss])
  })
})
