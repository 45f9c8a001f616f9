import type { MessageEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import type { GroupPurges, GroupStore } from '../../../lambdas/core/ports.js'
import { inAnHour, newGroup, unique } from './fixtures.js'

const message = (gid: string, iss: string, seq: number): MessageEvent => ({
  type: 'chat.message',
  gid,
  iss,
  jti: unique('m'),
  body: `message ${seq}`,
  seq,
  iat: new Date().toISOString(),
  attachments: [{ key: `files/${gid}/m${seq}/0`, size: 1, digest: 'sha256:x' }],
})

/** What every purge store must do: one run at a time, pages in key order naming their objects, the mark kept. */
export function groupPurgesContract(make: () => { groups: GroupStore; purges: GroupPurges }): void {
  describe('GroupPurges', () => {
    it('lets one run at a time hold a deleted group, pages through it, and ends with the mark alone', async () => {
      const { groups, purges } = make()
      const [alice, bob, gid] = [unique('alice'), unique('bob'), unique('g')]
      await groups.createGroup(...newGroup(gid, alice, [bob]))
      for (const seq of [1, 2, 3]) {
        expect(await groups.appendMessage(message(gid, alice, seq), inAnHour())).toBe('appended')
      }
      expect(await purges.claimPurge(gid, 'first', Date.now(), Date.now() + 60_000)).toBeUndefined()
      expect(await purges.deletionMark(gid)).toBeUndefined()
      const at = new Date().toISOString()
      expect(await groups.markDeleted(gid, 3, { by: alice, at })).toBe(true)

      const now = Date.now()
      const mark = await purges.claimPurge(gid, 'first', now, now + 60_000)
      expect(mark).toMatchObject({ gid, by: alice, at, purged: false })
      // Another run waits for the lease to lapse; the same run (a retry) takes it again.
      expect(await purges.claimPurge(gid, 'second', now, now + 60_000)).toBeUndefined()
      expect(await purges.claimPurge(gid, 'first', now, now + 60_000)).toBeDefined()
      expect(await purges.claimPurge(gid, 'second', now + 60_001, now + 120_000)).toBeDefined()
      expect(await purges.endPurge(gid, 'first')).toBe(false)

      // Three events, three markers, two memberships (and whatever else the group keeps): pages of four, in key
      // order, the mark left out.
      const first = await purges.readPurgePage(gid, 4)
      expect(first.items).toHaveLength(4)
      expect(first.objects).toEqual([`files/${gid}/m1/0`, `files/${gid}/m2/0`, `files/${gid}/m3/0`])
      expect(first.next).toBeDefined()
      const rest = [first]
      for (let page = first; page.next !== undefined; ) {
        page = await purges.readPurgePage(gid, 4, page.next)
        rest.push(page)
      }
      const items = rest.flatMap((page) => page.items)
      expect(new Set(items).size).toBe(items.length)
      expect(items).toEqual([...items].sort())
      expect(items.filter((sk) => /^(E|JTI|MEMBER)#/.test(sk))).toHaveLength(8)
      expect(items).not.toContain('META')
      expect(rest.flatMap((page) => page.present).sort()).toEqual([alice, bob].sort())
      expect(rest.flatMap((page) => page.joined)).toEqual([alice])

      const held = await purges.claimPurge(gid, 'second', Date.now(), Date.now() + 60_000)
      if (held === undefined) throw new Error('the second run no longer holds the purge')
      const members = await purges.readPurgePage(gid, 10, undefined, true)
      expect(members.items.sort()).toEqual([`MEMBER#${alice}`, `MEMBER#${bob}`].sort())
      expect(members.next).toBeUndefined()
      await purges.releaseMembers(held, members)
      expect(await purges.deletionMark(gid)).toMatchObject({ purged: false })
      for (const page of rest) await purges.removePurgePage(page)
      expect((await purges.readPurgePage(gid, 4)).items).toEqual([])
      expect(await purges.endPurge(gid, 'second')).toBe(true)
      expect(await purges.deletionMark(gid)).toMatchObject({ by: alice, purged: true, objects: [] })
      expect(await purges.claimPurge(gid, 'second', Date.now(), Date.now() + 60_000)).toBeUndefined()
      // The gid is free again.
      expect(await groups.createGroup(...newGroup(gid, bob))).toBe(true)
    })
  })
}
