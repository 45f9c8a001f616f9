import type { CommitEvent, MessageEvent, RevertEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import type { Roster } from '../../../lambdas/core/model.js'
import type { GroupStore, MembershipIndex } from '../../../lambdas/core/ports.js'
import { inAnHour, newGroup, unique } from './fixtures.js'

const message = (gid: string, iss: string, seq: number, jti = unique('m')): MessageEvent => ({
  type: 'chat.message',
  gid,
  iss,
  jti,
  body: `message ${seq}`,
  seq,
  iat: new Date().toISOString(),
})

/** What every group aggregate must do: reads that see its writes, and appends that take the next seq or say why not. */
export function groupStoreContract(make: () => GroupStore & Pick<MembershipIndex, 'membershipsOf'>): void {
  describe('GroupStore', () => {
    it('creates a group once, and reads it back with its members', async () => {
      const store = make()
      const [alice, bob, gid] = [unique('alice'), unique('bob'), unique('g')]
      const [group, members] = newGroup(gid, alice, [bob])
      expect(await store.createGroup(group, members)).toBe(true)
      expect(await store.createGroup(group, members)).toBe(false)
      const state = await store.readGroup(gid)
      expect(state?.group).toMatchObject({ gid, name: group.name, head: 0, departedSeq: 0 })
      expect(state?.members.map((m) => [m.iss, m.status]).sort()).toEqual(
        [
          [alice, 'joined'],
          [bob, 'invited'],
        ].sort(),
      )
      expect((await store.readMembers(gid, [bob]))?.members.map((m) => m.iss)).toEqual([bob])
      expect((await store.getGroups([gid, unique('none')])).map((g) => g.gid)).toEqual([gid])
      expect(await store.readGroup(unique('none'))).toBeUndefined()
    })

    it('appends at the next seq only, and a message id once', async () => {
      const store = make()
      const [alice, gid] = [unique('alice'), unique('g')]
      await store.createGroup(...newGroup(gid, alice))
      const first = message(gid, alice, 1)
      expect(await store.appendMessage(first, inAnHour())).toBe('appended')
      // The head moved on: the same seq again is told where the group stands.
      const late = await store.appendMessage(message(gid, alice, 1), inAnHour())
      expect(late).toMatchObject({ moved: { gid, head: 1 } })
      // A retry of the same message id is rejected with where it is.
      expect(await store.appendMessage({ ...first, seq: 2 }, inAnHour())).toEqual({
        rejected: { iss: alice, seq: 1 },
      })
      expect(await store.findMessage(gid, first.jti)).toEqual({ iss: alice, seq: 1 })
      expect(await store.findMessage(gid, unique('none'))).toBeUndefined()
      expect(await store.readEvents(gid, { after: 0, through: 1, limit: 10, newestFirst: false })).toEqual([
        first,
      ])
      expect(await store.getEvents(gid, [1])).toEqual([first])
    })

    it('applies a join and a leave to the membership, and counts the departure', async () => {
      const store = make()
      const [alice, bob, gid] = [unique('alice'), unique('bob'), unique('g')]
      await store.createGroup(...newGroup(gid, alice, [bob]))
      const iat = new Date().toISOString()
      const join = { type: 'chat.join', gid, iss: bob, seq: 1, iat } as const
      const joined = { status: 'joined', joinedAt: iat, joinSeq: 1 } as const
      expect(await store.appendMembership(join, joined, ['invited'], inAnHour())).toBe('appended')
      // Joined already: a second join's condition fails.
      expect(await store.appendMembership({ ...join, seq: 2 }, joined, ['invited'], inAnHour())).toEqual({
        rejected: undefined,
      })
      const leave = { type: 'chat.leave', gid, iss: bob, seq: 2, iat } as const
      const left = { status: 'left', leaveSeq: 2 } as const
      expect(await store.appendMembership(leave, left, ['invited', 'joined'], inAnHour())).toBe('appended')
      const state = await store.readGroup(gid)
      expect(state?.group).toMatchObject({ head: 2, departedSeq: 2 })
      expect(state?.members.find((m) => m.iss === bob)).toMatchObject({
        status: 'left',
        leaveSeq: 2,
        leaves: 1,
      })
      expect((await store.membershipsOf(bob)).map((m) => [m.gid, m.status])).toEqual([[gid, 'left']])
    })

    it('adds members while the head is unmoved, and edits a message only with another body', async () => {
      const store = make()
      const [alice, carol, gid] = [unique('alice'), unique('carol'), unique('g')]
      const [group, members] = newGroup(gid, alice, [carol])
      await store.createGroup(group, members.slice(0, 1))
      expect(await store.addMembers(gid, 0, members.slice(1))).toBe('appended')
      expect(await store.addMembers(gid, 0, members.slice(1))).toEqual({ rejected: undefined })
      expect(await store.addMembers(gid, 5, [])).toMatchObject({ moved: { gid, head: 0 } })
      const sent = message(gid, alice, 1)
      await store.appendMessage(sent, inAnHour())
      const edit = {
        type: 'chat.edit',
        gid,
        iss: alice,
        jti: sent.jti,
        body: 'changed',
        seq: 2,
        iat: sent.iat,
      } as const
      expect(await store.appendRevision(edit, 1, inAnHour())).toBe('appended')
      expect(await store.appendRevision({ ...edit, seq: 3 }, 1, inAnHour())).toMatchObject({
        rejected: { body: 'changed', revisedSeq: 2 },
      })
      expect(await store.messageSenders(gid, { after: 0, through: 2 }, carol, 5)).toEqual([alice])
    })

    it('keeps one reaction per member and emoji on a live message, applied with its event', async () => {
      const store = make()
      const [alice, gid] = [unique('alice'), unique('g')]
      await store.createGroup(...newGroup(gid, alice))
      const sent = message(gid, alice, 1)
      await store.appendMessage(sent, inAnHour())
      const reaction = (seq: number, remove?: true) =>
        ({
          type: 'chat.reaction',
          gid,
          iss: alice,
          target: 1,
          emoji: '👍',
          seq,
          iat: sent.iat,
          ...(remove && { remove }),
        }) as const
      expect(await store.appendReaction(reaction(2), inAnHour())).toBe('appended')
      expect(await store.readReactions(gid, 1)).toEqual({
        seq: 1,
        deleted: false,
        reactions: [{ emoji: '👍', iss: alice }],
      })
      // Added again, or removed when not there: refused, the head unmoved.
      expect(await store.appendReaction(reaction(3), inAnHour())).toEqual({ rejected: undefined })
      expect(await store.appendReaction(reaction(3, true), inAnHour())).toBe('appended')
      expect(await store.appendReaction(reaction(4, true), inAnHour())).toEqual({ rejected: undefined })
      expect(await store.readReactions(gid, 1)).toMatchObject({ reactions: [] })
      // A seq that is no message is none to react to.
      expect(await store.readReactions(gid, 2)).toBeUndefined()
      expect(await store.appendReaction({ ...reaction(4), target: 2 }, inAnHour())).toEqual({
        rejected: undefined,
      })
      expect((await store.readGroup(gid))?.group.head).toBe(3)
    })

    it('moves receipt positions only from where they were read', async () => {
      const store = make()
      const [alice, gid] = [unique('alice'), unique('g')]
      await store.createGroup(...newGroup(gid, alice))
      const me = (await store.readGroup(gid))?.members[0]
      if (me === undefined) throw new Error('no member')
      expect(await store.saveReceipt(me, { delivered: 1, read: 0, movedAt: 1 })).toBe(true)
      expect(await store.saveReceipt(me, { delivered: 2, read: 0, movedAt: 2 })).toBe(false)
      expect((await store.readGroup(gid))?.members[0]).toMatchObject({ delivered: 1, read: 0, movedAt: 1 })
    })

    it('commits an encrypted group to a new epoch with key packages claimed for it, and reverts it', async () => {
      const store = make()
      const [alice, gid, ref] = [unique('alice'), unique('g'), unique('ref')]
      const [group, members] = newGroup(gid, alice)
      await store.createGroup({ ...group, encrypted: true, epoch: 0 }, members)
      expect(await store.readRoster(gid)).toBeUndefined()
      const iat = new Date().toISOString()
      const leaf = { leaf: 0, iss: alice, device: 'd1', key: 'k1' }
      const roster: Roster = { epoch: 1, leaves: [leaf], info: { data: 'info' }, committer: alice }
      const commit: CommitEvent = {
        type: 'chat.commit',
        gid,
        iss: alice,
        seq: 1,
        iat,
        epoch: 1,
        commit: { data: 'commit' },
        info: { data: 'info' },
        added: [leaf],
        removed: [],
        tree: 'digest',
      }
      // A key package nobody claimed for this group may not be added.
      expect(await store.appendCommit(commit, roster, [], inAnHour(), [ref])).toEqual({
        rejected: undefined,
      })
      await store.recordClaims(gid, alice, [ref], inAnHour())
      expect(await store.appendCommit(commit, roster, [], inAnHour(), [ref])).toBe('appended')
      expect(await store.readRoster(gid)).toMatchObject({ epoch: 1 })
      expect((await store.readGroup(gid))?.group).toMatchObject({ encrypted: true, epoch: 1, head: 1 })
      const revert: RevertEvent = {
        type: 'chat.revert',
        gid,
        iss: alice,
        by: alice,
        seq: 2,
        iat,
        epoch: 1,
        reason: 'refused',
      }
      expect(await store.appendRevert(revert, { epoch: 0, leaves: [] }, [0], [], inAnHour())).toBe('appended')
      expect((await store.readGroup(gid))?.group).toMatchObject({ epoch: 0, stale: [0], head: 2 })
    })

    it('reads a group marked deleted as absent', async () => {
      const store = make()
      const [alice, gid] = [unique('alice'), unique('g')]
      await store.createGroup(...newGroup(gid, alice))
      await store.appendMessage(message(gid, alice, 1), inAnHour())
      expect(await store.markDeleted(gid, 0, { by: alice, at: new Date().toISOString() })).toBe(false)
      expect(await store.markDeleted(gid, 1, { by: alice, at: new Date().toISOString() })).toBe(true)
      expect(await store.readGroup(gid)).toBeUndefined()
      expect(await store.getGroups([gid])).toEqual([])
    })
  })
}
