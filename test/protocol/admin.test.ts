import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { groupItems, indexCaughtUp, png, unique } from '../support/huddle.js'
import { purgeEnded } from '../support/purges.js'
import { participant, waitFor } from '../support/sdk.js'

const connect = connector()

/** alice creates a group that bob and carol join (bob first); dave stays invited. */
async function club() {
  const [alice, bob, carol, dave] = await connect(
    unique('alice'),
    unique('bob'),
    unique('carol'),
    unique('dave'),
  )
  const gid = unique('club')
  await alice.ok('invite', { gid, name: 'Club', members: [bob.iss, carol.iss, dave.iss] })
  await bob.ok('join', { gid })
  await carol.ok('join', { gid })
  return { alice, bob, carol, dave, gid }
}

describe('what only an admin may do', () => {
  it('is refused to members and invitees alike, and changes nothing', async () => {
    const { alice, bob, carol, dave, gid } = await club()
    const key = await carol.uploadAvatar(png)
    const before = await groupItems(gid)
    for (const client of [carol, dave]) {
      for (const [action, fields] of [
        ['remove', { gid, iss: bob.iss }],
        ['update', { gid, name: 'Mine now' }],
        ['update', { gid, avatar: { key } }],
        ['update', { gid, invites: 'admins' }],
        ['role', { gid, iss: client.iss, role: 'admin' }],
        ['role', { gid, iss: alice.iss, role: 'member' }],
        ['ban', { gid, iss: bob.iss }],
        ['unban', { gid, iss: bob.iss }],
        ['bans', { gid }],
        ['deleteGroup', { gid }],
      ] as const) {
        expect(await client.request(action, fields), `${client.iss} ${action}`).toMatchObject({
          type: 'error',
          code: 'FORBIDDEN',
        })
      }
    }
    expect(await groupItems(gid)).toEqual(before)
    await bob.settle()
    expect(bob.events('chat.update', gid)).toEqual([])
  })
})

describe('an admin running a group', () => {
  it('renames it, changes its avatar and limits invites to admins, each an event in the log', async () => {
    const { alice, bob, carol, dave, gid } = await club()
    const renamed = await alice.ok('update', { gid, name: 'Book club', invites: 'admins' })
    expect(renamed.group).toMatchObject({ name: 'Book club', invites: 'admins' })
    const update = { type: 'chat.update', gid, iss: alice.iss, name: 'Book club', invites: 'admins' }
    expect(await bob.nextEvent('chat.update', (e) => e.seq === renamed.seq)).toMatchObject(update)
    expect(await carol.nextEvent('chat.update', (e) => e.seq === renamed.seq)).toMatchObject(update)

    // Only admins invite now, and an invite says so.
    const [erin] = await connect(unique('erin'))
    expect(await carol.request('invite', { gid, name: 'Book club', members: [erin.iss] })).toMatchObject({
      code: 'FORBIDDEN',
    })
    await alice.ok('invite', { gid, name: 'Book club', members: [erin.iss] })
    expect(await erin.nextEvent('chat.invite')).toMatchObject({ admins: [alice.iss], invites: 'admins' })

    // A new avatar passes the checks an avatar passes at creation.
    const notMine = await bob.uploadAvatar(png)
    expect(await alice.request('update', { gid, avatar: { key: notMine } })).toMatchObject({
      code: 'FORBIDDEN',
    })
    const text = await alice.uploadAvatar(
      new TextEncoder().encode('not a picture') as Uint8Array<ArrayBuffer>,
    )
    expect(await alice.request('update', { gid, avatar: { key: text } })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    const pictured = await alice.ok('update', { gid, avatar: { key: await alice.uploadAvatar(png) } })
    const event = await bob.nextEvent('chat.update', (e) => e.seq === pictured.seq)
    expect(event.image?.mime).toBe('image/png')
    expect(Buffer.from(await (await fetch(String(event.image?.url))).arrayBuffer())).toEqual(png)

    // History keeps both changes, the avatar as a fresh link; a pending invitee reads nothing yet.
    const history = await carol.ok('history', { gid, after: 0 })
    const updates = (history.events as { type: string; seq: number; image?: { url: string } }[]).filter(
      (e) => e.type === 'chat.update',
    )
    expect(updates.map((e) => e.seq)).toEqual([renamed.seq, pictured.seq])
    expect((await fetch(String(updates[1]?.image?.url))).status).toBe(200)
    await indexCaughtUp()
    expect((await carol.ok('groups')).groups).toContainEqual(
      expect.objectContaining({ gid, name: 'Book club', invites: 'admins', image: expect.any(Object) }),
    )
    expect(await dave.request('history', { gid })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await alice.request('update', { gid })).toMatchObject({ code: 'BAD_REQUEST' })
    // Sent again (as after a lost ack), it changes nothing and names the last update.
    expect(await alice.ok('update', { gid, invites: 'admins' })).toMatchObject({ seq: pictured.seq })
  })

  it('makes members admins and takes it back, but never leaves the group without one', async () => {
    const { alice, bob, carol, dave, gid } = await club()
    expect(await alice.request('role', { gid, iss: alice.iss, role: 'member' })).toMatchObject({
      code: 'FORBIDDEN',
    })
    expect(await alice.request('role', { gid, iss: dave.iss, role: 'admin' })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    const promoted = await alice.ok('role', { gid, iss: bob.iss, role: 'admin' })
    const role = { type: 'chat.role', gid, iss: bob.iss, role: 'admin', by: alice.iss, seq: promoted.seq }
    expect(await carol.nextEvent('chat.role', (e) => e.seq === promoted.seq)).toMatchObject(role)
    expect(await bob.nextEvent('chat.role', (e) => e.seq === promoted.seq)).toMatchObject(role)
    // Asked again (as after a lost ack), nothing changes, and the answer names the same event.
    expect(await alice.ok('role', { gid, iss: bob.iss, role: 'admin' })).toMatchObject({ seq: promoted.seq })
    expect(await alice.ok('role', { gid, iss: carol.iss, role: 'member' })).not.toHaveProperty('seq')

    // bob, an admin now, takes alice's role; she is a member and may no longer rename.
    const demoted = await bob.ok('role', { gid, iss: alice.iss, role: 'member' })
    await alice.nextEvent('chat.role', (e) => e.seq === demoted.seq)
    expect(await alice.request('update', { gid, name: 'Mine' })).toMatchObject({ code: 'FORBIDDEN' })
    const { members } = await carol.ok('members', { gid })
    expect(members).toContainEqual({ iss: alice.iss, status: 'joined', role: 'member' })
    expect(members).toContainEqual({ iss: bob.iss, status: 'joined', role: 'admin' })
  })

  it('hands the admin role to the member joined longest when the last admin leaves', async () => {
    const { alice, bob, carol, gid } = await club()
    const left = await alice.ok('leave', { gid })
    const succession = { type: 'chat.role', gid, iss: bob.iss, role: 'admin', seq: Number(left.seq) + 1 }
    const event = await carol.nextEvent('chat.role')
    expect(event).toMatchObject(succession)
    expect(event).not.toHaveProperty('by')
    expect(await bob.nextEvent('chat.role')).toMatchObject(succession)
    await bob.ok('update', { gid, name: 'Under new management' })
    const history = await carol.ok('history', { gid, after: 0 })
    expect((history.events as { type: string }[]).map((e) => e.type)).toEqual([
      'chat.join',
      'chat.join',
      'chat.leave',
      'chat.role',
      'chat.update',
    ])
  })

  it('gives a group whose admin left before anyone joined an admin with its first join', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('quiet')
    await alice.ok('invite', { gid, name: 'Quiet', members: [bob.iss] })
    await alice.ok('leave', { gid })
    const joined = await bob.ok('join', { gid })
    expect(await bob.nextEvent('chat.role')).toMatchObject({
      iss: bob.iss,
      role: 'admin',
      seq: Number(joined.seq) + 1,
    })
    await bob.ok('update', { gid, name: 'Mine' })
  })
})

describe('an admin banning an identity', () => {
  it('removes a member with the ban, its last event, and keeps it out until unbanned', async () => {
    const { alice, bob, carol, gid } = await club()
    const banned = await alice.ok('ban', { gid, iss: bob.iss })
    const ban = { type: 'chat.ban', gid, iss: bob.iss, by: alice.iss, seq: banned.seq }
    expect(await bob.nextEvent('chat.ban')).toMatchObject(ban)
    expect(await carol.nextEvent('chat.ban')).toMatchObject(ban)
    expect(await alice.ok('ban', { gid, iss: bob.iss })).toMatchObject({ seq: banned.seq })

    const after = await alice.ok('message', { gid, body: 'bob is out' })
    await carol.nextEvent('chat.message', (e) => e.jti === after.jti)
    await bob.settle()
    expect(bob.events('chat.message', gid)).toEqual([])
    expect(await bob.request('join', { gid })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await bob.request('message', { gid, body: 'hello?' })).toMatchObject({ code: 'FORBIDDEN' })
    // Invites leave a banned identity out, whoever sends them.
    expect(await alice.ok('invite', { gid, name: 'Club', members: [bob.iss] })).toMatchObject({ invited: [] })
    expect(await alice.ok('bans', { gid })).toMatchObject({ banned: [bob.iss] })
    expect((await bob.ok('history', { gid, after: 0 })).events).toContainEqual(expect.objectContaining(ban))

    const unbanned = await alice.ok('unban', { gid, iss: bob.iss })
    expect(await alice.ok('unban', { gid, iss: bob.iss })).toMatchObject({ seq: unbanned.seq })
    expect(await carol.nextEvent('chat.unban')).toMatchObject({
      iss: bob.iss,
      by: alice.iss,
      seq: unbanned.seq,
    })
    await bob.settle()
    expect(bob.events('chat.unban', gid)).toEqual([])
    expect(await alice.ok('invite', { gid, name: 'Club', members: [bob.iss] })).toMatchObject({
      invited: [bob.iss],
    })
    await bob.ok('join', { gid })
  })

  it('bans an identity that was never a member, which then cannot be invited and sees nothing of it', async () => {
    const { alice, bob, gid } = await club()
    const [erin] = await connect(unique('erin'))
    const banned = await alice.ok('ban', { gid, iss: erin.iss })
    expect(await bob.nextEvent('chat.ban')).toMatchObject({ iss: erin.iss, seq: banned.seq })
    expect(await alice.ok('invite', { gid, name: 'Club', members: [erin.iss] })).toMatchObject({
      invited: [],
    })
    await indexCaughtUp()
    expect((await erin.ok('sync')).groups).toEqual([])
    for (const action of ['join', 'leave', 'history'] as const) {
      expect(await erin.request(action, { gid }), action).toMatchObject({ code: 'FORBIDDEN' })
    }
    expect(await alice.request('ban', { gid, iss: alice.iss })).toMatchObject({ code: 'BAD_REQUEST' })
    await alice.ok('unban', { gid, iss: erin.iss })
    expect(await alice.ok('invite', { gid, name: 'Club', members: [erin.iss] })).toMatchObject({
      invited: [erin.iss],
    })
  })
})

describe('an admin deleting a group', () => {
  it('tells its members and invitees, then removes its log, memberships and avatars', async () => {
    const [alice, bob, dave, erin] = await connect(
      unique('alice'),
      unique('bob'),
      unique('dave'),
      unique('erin'),
    )
    const gid = unique('doomed')
    const created = await alice.ok('invite', {
      gid,
      name: 'Doomed',
      members: [bob.iss, dave.iss, erin.iss],
      avatar: { key: await alice.uploadAvatar(png) },
    })
    const image = String((created.group as { image: { url: string } }).image.url)
    await bob.ok('join', { gid })
    await alice.ok('message', { gid, body: 'last words' })
    expect(await bob.request('deleteGroup', { gid })).toMatchObject({ code: 'FORBIDDEN' })
    erin.close()

    expect(await alice.ok('deleteGroup', { gid })).toMatchObject({ gid })
    const deleted = { type: 'chat.deleted', gid, iss: alice.iss }
    expect(await bob.nextEvent('chat.deleted')).toMatchObject(deleted)
    expect(await dave.nextEvent('chat.deleted')).toMatchObject(deleted)
    // The purge worker removes the rest; only the mark stays (a day), so that the admin's repeated request is
    // answered alike.
    expect(await purgeEnded(gid)).toMatchObject({
      SK: 'META',
      deleted: true,
      purged: true,
      deletedBy: alice.iss,
    })
    // Its link was signed by a function, which may not list the bucket: S3 answers 403 for the gone key.
    expect((await fetch(image)).status).toBe(403)
    for (const [client, action, fields] of [
      [bob, 'message', { gid, body: 'hello?' }],
      [bob, 'history', { gid }],
      [dave, 'join', { gid }],
      [bob, 'deleteGroup', { gid }],
    ] as const) {
      expect(await client.request(action, fields), action).toMatchObject({ code: 'NOT_FOUND' })
    }
    expect(await alice.ok('deleteGroup', { gid })).toMatchObject({ gid })
    const deletion = { type: 'chat.deleted', gid, iss: alice.iss, iat: expect.any(String) }
    await indexCaughtUp()
    expect(await bob.ok('sync')).toMatchObject({ groups: [], deleted: [deletion] })
    expect((await bob.ok('groups')).groups).toEqual([])
    // An invitee away at the time learns of it when it syncs.
    const [erinAgain] = await connect(erin.iss)
    expect((await erinAgain.ok('sync')).deleted).toEqual([deletion])

    // The gid is free again, for a group with nothing of the old one.
    await bob.ok('invite', { gid, name: 'Reborn', members: [alice.iss] })
    expect(await bob.ok('history', { gid, after: 0 })).toMatchObject({ head: 0, events: [] })
  })
})

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
    const sent = await bob.ok('message', { gid, body: 'before I go', jti: unique('last') })
    const removed = await alice.ok('remove', { gid, iss: bob.iss })
    const removal = { type: 'chat.leave', gid, iss: bob.iss, by: alice.iss, seq: removed.seq }
    // A message stored before the removal, sent again after it (a lost ack), is answered as stored.
    expect(await bob.ok('message', { gid, body: 'before I go', jti: sent.jti })).toMatchObject({
      seq: sent.seq,
      duplicate: true,
    })
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
