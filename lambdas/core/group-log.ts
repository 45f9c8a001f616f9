import { ChatError } from './errors.js'
import type { Appended, Group, Member, Recipients, Window } from './model.js'

/** What an attempt returns when another event took the seq it meant to take: read again, decide again. */
export const moved = Symbol('moved')

const attempts = 8

/**
 * Runs `attempt` until its write lands. Each attempt reads, decides, and writes on the condition that
 * what it read still holds (the group's head, or a member's receipt positions), so a decision always rests
 * on the state its write follows; one that lost a race runs again on fresh state. A group too busy for that
 * answers CONFLICT.
 */
export async function untilLanded<T>(attempt: (tries: number) => Promise<T | typeof moved>): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const result = await attempt(i)
    if (result !== moved) return result
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** i))
  }
  throw new ChatError('CONFLICT', 'the group changed too often meanwhile; retry')
}

/**
 * Appends an event decided on the group as `read` saw it. When other events took the seq first but nobody
 * has joined or left since and the group's keys are at the same epoch, the decision still holds (its sender
 * and its recipients are the members, a cipher or commit still fits the keys), so the event takes the next
 * free seq at once; after a join, a leave or a commit, the caller reads and decides again. A `strict` decision (an
 * admin's, which rests on roles too) is made again after any event.
 */
export async function appendAt<T>(
  read: Group,
  append: (seq: number) => Promise<Appended<T>>,
  strict = false,
): Promise<{ seq: number } | { rejected: T | undefined } | typeof moved> {
  let seq = read.head + 1
  for (let i = 0; i < attempts * 2; i++) {
    const outcome = await append(seq)
    if (outcome === 'appended') return { seq }
    if ('rejected' in outcome) return outcome
    const now = outcome.moved
    if (strict || now === undefined || !sameMembersAndKeys(read, now)) return moved
    seq = now.head + 1
  }
  return moved
}

/** Whether nobody has joined or left between two reads of a group, and its keys are at the same epoch. */
function sameMembersAndKeys(before: Group, after: Group): boolean {
  return (
    after.departedSeq === before.departedSeq &&
    after.arrivedSeq === before.arrivedSeq &&
    after.epoch === before.epoch
  )
}

export function memberOf(members: Member[], iss: string): Member | undefined {
  return members.find((m) => m.iss === iss)
}

/** The identities that have joined: the ones group events are delivered to. */
export function joinedMembers(members: Member[]): string[] {
  return members.filter((m) => m.status === 'joined').map((m) => m.iss)
}

export function isJoined(members: Member[], iss: string): boolean {
  return memberOf(members, iss)?.status === 'joined'
}

export function requireJoined(members: Member[], iss: string, action: string): Member {
  const me = memberOf(members, iss)
  if (me?.status !== 'joined') throw notJoined(action)
  return me
}

/** Requires `iss` to be one of the recipients, the group's joined members. */
export function requireRecipient(recipients: Recipients, iss: string, action: string): void {
  if (!recipients.connections.has(iss)) throw notJoined(action)
}

function notJoined(action: string): ChatError {
  return new ChatError('FORBIDDEN', `${action}: only joined members may ${action} in this group`)
}

/**
 * The parts of a group's log a member may read: the events after it was invited, up to its leave
 * (nothing before it has joined), and the window of its last membership when it was invited again.
 */
export function readableWindows(member: Member | undefined, head: number): Window[] {
  if (member === undefined) return []
  const windows = member.previous ? [member.previous] : []
  if (member.status !== 'invited' && member.joinSeq !== undefined) {
    windows.push({
      after: member.since,
      through: member.status === 'left' ? (member.leaveSeq ?? head) : head,
    })
  }
  return windows
}
