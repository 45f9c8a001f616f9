import { describe, expect, it } from 'vitest'
import { connector } from './support/clients.js'
import { unique } from './support/huddle.js'
import { participant, waitFor } from './support/sdk.js'

const connect = connector()

describe('an admin removing a member', () => {
  it('hands the removed member its removal once, then nothing more, and keeps it out until invited again', async () => {
    const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
    const gid = unique('club')
    await alice.ok('invite', { gid, name: 'Club', members: [bob.iss, carol.iss] })
    await bob.ok('join', { gid })
    await carol.ok('join', { gid })

    // Only an admin may remove; carol is a member.
    expect(await carol.request('remove', { gid, iss: bob.iss })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    })
    const removed = await alice.ok('remove', { gid, iss: bob.iss })
    const removal = { type: 'chat.leave', gid, iss: bob.iss, by: alice.iss, seq: removed.seq }
    expect(await bob.nextEvent('chat.leave', (e) => e.iss === bob.iss)).toMatchObject(removal)
    expect(await carol.nextEvent('chat.leave', (e) => e.iss === bob.iss)).toMatchObject(removal)
    // Removing again answers with the same removal.
    expect(await alice.ok('remove', { gid, iss: bob.iss })).toMatchObject({ seq: removed.seq })

    const after = await alice.ok('message', { gid, body: 'without bob' })
    await carol.nextEvent('chat.message', (e) => e.jti === after.jti)
    await bob.settle()
    expect(bob.events('chat.message', gid)).toEqual([])
    expect(bob.events('chat.leave', gid)).toHaveLength(1)
    for (const [action, fields] of [
      ['join', { gid }],
      ['message', { gid, body: 'let me back' }],
    ] as const) {
      expect(await bob.request(action, fields), action).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    }
    // Its history ends at its removal, as a leaver's does.
    expect(await bob.ok('history', { gid, after: removed.seq })).toMatchObject({ events: [] })

    await alice.ok('invite', { gid, name: 'Club', members: [bob.iss] })
    await bob.ok('join', { gid })
    const back = await alice.ok('message', { gid, body: 'welcome back' })
    expect(await bob.nextEvent('chat.message', (e) => e.jti === back.jti)).toMatchObject({
      body: 'welcome back',
    })
  })

  it('removes an invited identity too, and refuses to remove oneself or a stranger', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('guests')
    await alice.ok('invite', { gid, name: 'Guests', members: [bob.iss] })
    await bob.nextEvent('chat.invite', (e) => e.gid === gid)
    await alice.ok('remove', { gid, iss: bob.iss })
    expect(await bob.nextEvent('chat.leave', (e) => e.gid === gid)).toMatchObject({ by: alice.iss })
    expect(await bob.request('join', { gid })).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    expect(await alice.request('remove', { gid, iss: alice.iss })).toMatchObject({ code: 'BAD_REQUEST' })
    expect(await alice.request('remove', { gid, iss: unique('stranger') })).toMatchObject({
      code: 'NOT_FOUND',
    })
  })

  it('tells SDK apps through onLeave, with who removed the member', async () => {
    const [alice, bob] = await Promise.all([participant(unique('alice')), participant(unique('bob'))])
    const gid = unique('sdk')
    const group = await alice.chat.invite(gid, 'SDK', [bob.sub])
    await waitFor(() => expect(bob.invites.map((g) => g.gid)).toContain(gid))
    await bob.invites.find((g) => g.gid === gid)?.join()
    const removals: unknown[] = []
    bob.chat.onLeave((iss, g, event) => g === gid && removals.push([iss, event.by]))
    await group.remove(bob.sub)
    expect(group.members).toEqual([alice.sub])
    await waitFor(() => expect(removals).toEqual([[bob.sub, alice.sub]]))
  })
})
