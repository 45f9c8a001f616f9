import { type ChatGroup, type GroupChange, type GroupDeletedEvent, memoryCursorStore } from '@huddle/client'
import { describe, expect, it } from 'vitest'
import { png, unique } from '../support/huddle.js'
import { purgeEnded } from '../support/purges.js'
import { participant, roaming, waitFor } from '../support/sdk.js'

type Participant = Awaited<ReturnType<typeof participant>>

/** Everything `onChange` handed a participant, with the group object it came with. */
function changesOf(who: Participant): [GroupChange, ChatGroup | undefined][] {
  const changes: [GroupChange, ChatGroup | undefined][] = []
  who.chat.onChange((change, group) => {
    changes.push([change, group])
  })
  return changes
}

/** SDK participants with fresh identities, connected side by side. */
async function participants<const T extends string[]>(...names: T): Promise<{ [K in keyof T]: Participant }> {
  const all = await Promise.all(names.map((name) => participant(unique(name))))
  return all as { [K in keyof T]: Participant }
}

/** A group the owner created, with every other participant joined: each one's own group object. */
async function clubOf<const T extends Participant[]>(owner: Participant, ...others: T) {
  const gid = unique('club')
  const group = await owner.chat.invite(
    gid,
    'Club',
    others.map((p) => p.sub),
  )
  const joined = await Promise.all(others.map((other) => other.chat.join(gid)))
  return { gid, group, joined: joined as { [K in keyof T]: ChatGroup } }
}

/** The part of a group object that the admin changes touch. */
function stateOf(group: ChatGroup) {
  const { name, invites, admins, members, memberCount, status } = group
  return { name, invites, admins, members, memberCount, status, mime: group.image?.mime }
}

describe('group administration through the SDK', () => {
  it('hands a rename, a new avatar and an invite policy to the members, whose group objects show them', async () => {
    const [alice, bob, carol] = await participants('alice', 'bob', 'carol')
    const {
      gid,
      group,
      joined: [bobs],
    } = await clubOf(alice, bob, carol)
    expect(group).toMatchObject({ admins: [alice.sub], invites: 'members' })
    expect(bobs).toMatchObject({ admins: [alice.sub], invites: 'members' })
    const alicesChanges = changesOf(alice)
    const bobsChanges = changesOf(bob)

    await group.update({ name: 'Club Deluxe', image: { data: png, mime: 'image/png' }, invites: 'admins' })
    expect(stateOf(group)).toMatchObject({ name: 'Club Deluxe', invites: 'admins', mime: 'image/png' })
    await waitFor(() => expect(bobsChanges).toHaveLength(1))
    const [change, changed] = bobsChanges[0] ?? []
    expect(change).toMatchObject({
      type: 'chat.update',
      gid,
      iss: alice.sub,
      name: 'Club Deluxe',
      invites: 'admins',
      image: { mime: 'image/png' },
    })
    // Handed over with bob's own object for the group, already changed.
    expect(changed).toBe(bobs)
    expect(stateOf(bobs)).toMatchObject({ name: 'Club Deluxe', invites: 'admins', mime: 'image/png' })
    const image = await fetch(bobs.image?.url ?? '')
    expect(Buffer.from(await image.arrayBuffer())).toEqual(png)

    // Only admins may invite now, and only admins change the group.
    await expect(bobs.invite(unique('dave'))).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(bobs.update({ name: 'Mine' })).rejects.toMatchObject({ code: 'FORBIDDEN' })

    // A rename alone leaves the avatar and the policy as they are.
    await group.update({ name: 'Club' })
    await waitFor(() => expect(bobsChanges).toHaveLength(2))
    expect(bobsChanges[1]?.[0]).toMatchObject({ name: 'Club' })
    expect(bobsChanges[1]?.[0]).not.toHaveProperty('invites')
    expect(bobsChanges[1]?.[0]).not.toHaveProperty('image')
    expect(stateOf(bobs)).toMatchObject({ name: 'Club', invites: 'admins', mime: 'image/png' })
    // Her own changes are not handed back to the connection that made them; history keeps them.
    expect(alicesChanges).toEqual([])
    const { events } = await bobs.history({ limit: 10 })
    expect(events.filter((e) => e.type === 'chat.update').map((e) => 'name' in e && e.name)).toEqual([
      'Club',
      'Club Deluxe',
    ])
  })

  it('makes a member an admin and back, on both sides, and lets only admins do it', async () => {
    const [alice, bob, carol] = await participants('alice', 'bob', 'carol')
    const {
      group,
      joined: [bobs, carols],
    } = await clubOf(alice, bob, carol)
    const bobsChanges = changesOf(bob)
    const carolsChanges = changesOf(carol)

    await expect(carols.promote(carol.sub)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await group.promote(bob.sub)
    const admins = [alice.sub, bob.sub].sort()
    expect(group.admins).toEqual(admins)
    await waitFor(() => expect(carols.admins).toEqual(admins))
    await waitFor(() => expect(bobs.admins).toEqual(admins))
    expect(bobsChanges.map(([c]) => c)).toEqual([
      expect.objectContaining({ type: 'chat.role', iss: bob.sub, role: 'admin', by: alice.sub }),
    ])

    // An admin now, bob changes the group and carol sees it come from him.
    await bobs.update({ invites: 'admins' })
    await waitFor(() => expect(carols.invites).toBe('admins'))
    expect(carolsChanges.at(-1)?.[0]).toMatchObject({ type: 'chat.update', iss: bob.sub })

    await bobs.demote(alice.sub)
    await waitFor(() => expect(carols.admins).toEqual([bob.sub]))
    await waitFor(() => expect(group.admins).toEqual([bob.sub]))
    await expect(group.promote(alice.sub)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(carolsChanges.map(([c]) => c.type)).toEqual(['chat.role', 'chat.update', 'chat.role'])
  })

  it('ends the group for a banned member, which receives nothing more and may come back only when unbanned', async () => {
    const [alice, bob, carol] = await participants('alice', 'bob', 'carol')
    const {
      gid,
      group,
      joined: [bobs, carols],
    } = await clubOf(alice, bob, carol)
    const bobsChanges = changesOf(bob)
    const carolsChanges = changesOf(carol)

    await expect(bobs.ban(carol.sub)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await group.ban(carol.sub)
    expect(group.members).toEqual([alice.sub, bob.sub].sort())
    await waitFor(() => expect(bobs.members).toEqual([alice.sub, bob.sub].sort()))
    expect(bobs.memberCount).toBe(2)
    expect(bobsChanges.map(([c]) => c)).toEqual([
      expect.objectContaining({ type: 'chat.ban', gid, iss: carol.sub, by: alice.sub }),
    ])
    // For carol the ban is the group's last event: her object is left, as after a removal.
    await waitFor(() =>
      expect(carolsChanges.map(([c, g]) => [c.type, c.iss, g === carols])).toEqual([
        ['chat.ban', carol.sub, true],
      ]),
    )
    expect(carols.status).toBe('left')

    const after = await group.message('without carol')
    await waitFor(() => expect(bob.messages.map((m) => m.jti)).toContain(after.jti))
    await carol.chat.catchUp()
    expect(carol.messages.filter((m) => m.gid === gid)).toEqual([])
    expect(carolsChanges).toHaveLength(1)
    await expect(carol.chat.join(gid)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(carols.message('let me in')).rejects.toMatchObject({ code: 'FORBIDDEN' })

    expect(await group.banned()).toEqual([carol.sub])
    await expect(bobs.banned()).rejects.toMatchObject({ code: 'FORBIDDEN' })
    // While banned, an invite leaves her out.
    const invitesBefore = carol.invites.length
    await group.invite(carol.sub)
    expect((await carol.chat.groups()).map((g) => g.gid)).not.toContain(gid)

    await group.unban(carol.sub)
    expect(await group.banned()).toEqual([])
    await waitFor(() => expect(bobsChanges.map(([c]) => c.type)).toEqual(['chat.ban', 'chat.unban']))
    // Unbanned, carol may be invited again: her one object for the group is.
    await group.invite(carol.sub)
    await waitFor(() => expect(carol.invites).toHaveLength(invitesBefore + 1))
    expect(carol.invites.at(-1)).toBe(carols)
    expect(carols).toMatchObject({ status: 'invited', invitedBy: alice.sub })
    await carols.join()
    expect(carols.status).toBe('joined')
  })

  it('ends a pending invite on a ban, as on a removal', async () => {
    const [alice, dave] = await participants('alice', 'dave')
    const davesChanges = changesOf(dave)
    const gid = unique('club')
    const group = await alice.chat.invite(gid, 'Club', [dave.sub])
    await waitFor(() => expect(dave.invites.map((g) => g.gid)).toEqual([gid]))
    await group.ban(dave.sub)
    expect(group.memberCount).toBe(1)
    await waitFor(() => expect(davesChanges).toHaveLength(1))
    expect(davesChanges[0]?.[0]).toMatchObject({ type: 'chat.ban', iss: dave.sub, by: alice.sub })
    expect(davesChanges[0]?.[1]).toBe(dave.invites[0])
    expect(dave.invites[0]?.status).toBe('left')
    await expect(dave.chat.join(gid)).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  it('tells members and invitees that the group is deleted, and forgets its position', async () => {
    const [alice, dave] = await participants('alice', 'dave')
    const cursors = memoryCursorStore()
    const bob = await participant(unique('bob'), { cursors })
    const deletions = (who: Participant) => {
      const seen: [GroupDeletedEvent, ChatGroup | undefined][] = []
      who.chat.onGroupDelete((event, group) => {
        seen.push([event, group])
      })
      return seen
    }
    const [alices, bobs, daves] = [deletions(alice), deletions(bob), deletions(dave)]
    const {
      gid,
      group,
      joined: [bobsGroup],
    } = await clubOf(alice, bob)
    await group.invite(dave.sub)
    await waitFor(() => expect(dave.invites.map((g) => g.gid)).toContain(gid))
    await group.message('soon gone')
    await waitFor(() => expect(bob.messages).toHaveLength(1))
    await waitFor(() => expect(Object.keys(cursors.load() ?? {})).toContain(gid))

    await expect(bobsGroup.deleteGroup()).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await group.deleteGroup()
    expect(group.status).toBe('left')
    const deleted = { type: 'chat.deleted', gid, iss: alice.sub }
    await waitFor(() => expect(bobs).toHaveLength(1))
    expect(bobs[0]?.[0]).toMatchObject(deleted)
    expect(bobs[0]?.[1]).toBe(bobsGroup)
    expect(bobsGroup.status).toBe('left')
    await waitFor(() => expect(daves).toHaveLength(1))
    expect(daves[0]?.[0]).toMatchObject(deleted)
    expect(daves[0]?.[1]).toBe(dave.invites.find((g) => g.gid === gid))
    expect(alices).toEqual([])

    await waitFor(() => expect(Object.keys(cursors.load() ?? {})).not.toContain(gid))
    expect((await bob.chat.groups()).map((g) => g.gid)).not.toContain(gid)
    expect((await dave.chat.groups()).map((g) => g.gid)).not.toContain(gid)
    await expect(group.history()).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('tells a member that was away when its group was deleted, once, when it comes back', async () => {
    const [alice] = await participants('alice')
    const erin = await roaming('erin')
    const {
      group,
      joined: [erins],
    } = await clubOf(alice, erin.who)
    const seen: GroupDeletedEvent[] = []
    erin.who.chat.onGroupDelete((event) => {
      seen.push(event)
    })
    await erin.goOffline()
    await group.deleteGroup()
    // The purge worker leaves the notice, after the answer.
    await purgeEnded(group.gid)
    erin.goOnline()
    await waitFor(() =>
      expect(seen).toMatchObject([{ type: 'chat.deleted', gid: group.gid, iss: alice.sub }]),
    )
    expect(erins.status).toBe('left')
    await erin.who.chat.catchUp()
    expect(seen).toHaveLength(1)
  })

  it('brings a member that was offline during the changes, and one banned meanwhile, to the same state', async () => {
    const [alice, bob] = await participants('alice', 'bob')
    const [erin, carol] = await Promise.all([roaming('erin'), roaming('carol')])
    const {
      group,
      joined: [bobs, erins, carols],
    } = await clubOf(alice, bob, erin.who, carol.who)
    const erinsChanges = changesOf(erin.who)
    const carolsChanges = changesOf(carol.who)
    await Promise.all([erin.goOffline(), carol.goOffline()])

    await group.update({ name: 'Renamed', invites: 'admins' })
    await group.promote(bob.sub)
    await bobs.update({ image: { data: png, mime: 'image/png' } })
    await group.ban(carol.who.sub)
    await bobs.message('after the changes')
    await waitFor(() => expect(stateOf(bobs)).toMatchObject({ name: 'Renamed', mime: 'image/png' }))
    await waitFor(() => expect(bobs.members).not.toContain(carol.who.sub))
    expect(erinsChanges).toEqual([])

    erin.goOnline()
    carol.goOnline()
    await waitFor(() => expect(erin.who.messages.map((m) => m.body)).toEqual(['after the changes']))
    expect(stateOf(erins)).toEqual(stateOf(bobs))
    expect(stateOf(erins)).toMatchObject({
      name: 'Renamed',
      invites: 'admins',
      admins: [alice.sub, bob.sub].sort(),
      mime: 'image/png',
      status: 'joined',
    })
    expect(erinsChanges.map(([c]) => [c.type, c.iss])).toEqual([
      ['chat.update', alice.sub],
      ['chat.role', bob.sub],
      ['chat.update', bob.sub],
      ['chat.ban', carol.who.sub],
    ])
    expect(erinsChanges.every(([, g]) => g === erins)).toBe(true)

    // Carol catches up to her ban, and to nothing after it.
    await waitFor(() =>
      expect(carolsChanges.map(([c]) => c.type)).toEqual([
        'chat.update',
        'chat.role',
        'chat.update',
        'chat.ban',
      ]),
    )
    expect(carols.status).toBe('left')
    await carol.who.chat.catchUp()
    expect(carol.who.messages).toEqual([])
  })
})
