import type { Group, Member, MessageRef, ReactedMessage, StoredEvent, Window } from '../../core/model.js'
import { keys } from './keys.js'
import { type Item, PK, SK, TTL } from './table.js'

/** A group as its item stores it: its head as `seq`, its avatar as two attributes. */
export function fromGroup(group: Group): Item {
  const { avatar, head, ...rest } = group
  return {
    ...keys.group(group.gid),
    ...rest,
    seq: head,
    ...(avatar && { avatarKey: avatar.key, avatarMime: avatar.mime }),
  }
}

/** A group marked deleted reads as absent until its purge removes it. */
export function isDeleted(item: Item): boolean {
  return item.deleted === true
}

/** A group item as the domain reads it; attributes it lacks take their defaults. */
export function toGroup(item: Item): Group {
  const group: Group = {
    gid: String(item.gid),
    name: String(item.name),
    createdBy: String(item.createdBy),
    createdAt: String(item.createdAt),
    head: typeof item.seq === 'number' ? item.seq : 0,
    departedSeq: typeof item.departedSeq === 'number' ? item.departedSeq : 0,
  }
  if (typeof item.departures === 'number') group.departures = item.departures
  if (typeof item.arrivedSeq === 'number') group.arrivedSeq = item.arrivedSeq
  if (typeof item.arrivals === 'number') group.arrivals = item.arrivals
  if (item.invites === 'admins' || item.invites === 'members') group.invites = item.invites
  if (typeof item.updatedSeq === 'number') group.updatedSeq = item.updatedSeq
  if (typeof item.avatarKey === 'string')
    group.avatar = { key: item.avatarKey, mime: String(item.avatarMime) }
  if (item.encrypted === true) {
    group.encrypted = true
    group.epoch = typeof item.epoch === 'number' ? item.epoch : 0
    if (item.stale instanceof Set && item.stale.size > 0) group.stale = [...item.stale].map(Number)
  }
  return group
}

/** A membership's numeric attributes, copied as they are. */
const memberNumbers = [
  'since',
  'joinSeq',
  'leaveSeq',
  'leaves',
  'joins',
  'delivered',
  'read',
  'movedAt',
  'roleSeq',
  'bannedSeq',
  'unbannedSeq',
] as const

/** A membership item as the domain reads it. */
export function toMember(item: Item): Member {
  const member: Member = {
    gid: String(item.gid),
    iss: String(item.iss),
    status: item.status === 'joined' || item.status === 'left' ? item.status : 'invited',
    role: item.role === 'admin' ? 'admin' : 'member',
    invitedBy: String(item.invitedBy),
    invitedAt: String(item.invitedAt),
    since: 0,
  }
  if (typeof item.joinedAt === 'string') member.joinedAt = item.joinedAt
  if (typeof item.bannedBy === 'string') member.bannedBy = item.bannedBy
  for (const name of memberNumbers) if (typeof item[name] === 'number') member[name] = item[name]
  const previous = item.previous as Partial<Window> | undefined
  if (typeof previous?.after === 'number' && typeof previous.through === 'number') {
    member.previous = { after: previous.after, through: previous.through }
  }
  return member
}

/** A message id's marker: its sender and seq. */
export function toMessageRef(item: Item): MessageRef {
  return { iss: String(item.iss), seq: Number(item.seq) }
}

/** The stored event without its keys, ttl and a message's digest of its last cipher edit. */
export function toEvent(item: Item): StoredEvent {
  const { [PK]: _pk, [SK]: _sk, [TTL]: _ttl, editDigest: _digest, reactions: _reactions, ...event } = item
  return event as unknown as StoredEvent
}

/** A membership as its item stores it, with its entry in the index of the identity's groups. */
export function fromMember(member: Member): Item {
  return { ...keys.member(member.gid, member.iss), ...keys.memberOfUser(member.gid, member.iss), ...member }
}

/** A reaction as its message's set keeps it: the emoji (no spaces, by the frame's schema), a space, the identity. */
export function reactionEntry({ emoji, iss }: { emoji: string; iss: string }): string {
  return `${emoji} ${iss}`
}

/** An event item as a reaction's target reads it; undefined when it is no message. */
export function toReactedMessage(item: Item): ReactedMessage | undefined {
  if (item.type !== 'chat.message') return undefined
  const entries = item.reactions instanceof Set ? [...item.reactions].map(String) : []
  return {
    seq: Number(item.seq),
    deleted: item.deleted !== undefined,
    reactions: entries.map((entry) => {
      const space = entry.indexOf(' ')
      return { emoji: entry.slice(0, space), iss: entry.slice(space + 1) }
    }),
  }
}
