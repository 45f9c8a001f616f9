import { randomBytes } from 'node:crypto'
import type { Group, Member } from '../../../lambdas/core/model.js'

/** A name no other test uses, since every test file shares one database. */
export function unique(name: string): string {
  return `${name}-${randomBytes(4).toString('hex')}`
}

/** Epoch seconds an hour from now: when the items a contract writes may expire. */
export const inAnHour = (): number => Math.ceil(Date.now() / 1000) + 3600

/** A new group made by `creator` (joined, admin), with `invited` invited, as `createGroup` takes it. */
export function newGroup(gid: string, creator: string, invited: string[] = []): [Group, Member[]] {
  const at = new Date().toISOString()
  const member = (iss: string, status: 'joined' | 'invited'): Member => ({
    gid,
    iss,
    status,
    role: status === 'joined' ? 'admin' : 'member',
    invitedBy: creator,
    invitedAt: at,
    since: 0,
    ...(status === 'joined' && { joinedAt: at, joinSeq: 0 }),
  })
  return [
    { gid, name: `Group ${gid}`, createdBy: creator, createdAt: at, head: 0, departedSeq: 0 },
    [member(creator, 'joined'), ...invited.map((iss) => member(iss, 'invited'))],
  ]
}
