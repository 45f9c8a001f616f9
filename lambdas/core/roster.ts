import { vouches } from '@huddle/client/devices'
import type { VerifiedGroupInfo } from '@huddle/client/mls-verify'
import { type CommitFacts, deviceOfCredential, type SignedDevice } from '@huddle/client/mls-wire'
import type { DeviceList, RosterLeaf } from '@huddle/client/protocol'
import { ChatError } from './errors.js'
import { isJoined } from './group-log.js'
import type { Group, Member } from './model.js'

// An encrypted group's roster: which device of which identity holds each leaf of its keys, as the server
// places a commit's changes (the same way MLS does), and as a GroupInfo's tree shows it.

/**
 * The roster a commit makes, checked against the group as read: who sends it (the creator's device at
 * leaf 0 for the first; one of the caller's leaves; or, joining from outside, a device of the caller's
 * that may remove only the caller's own old leaves), which leaves it removes (occupied ones) and whom it
 * adds (devices of joined members holding no leaf). Removes blank their leaves; then each new device takes
 * the leftmost blank leaf, or a new one at the end, as MLS places them.
 */
export function placeCommit(
  group: Group,
  members: Member[],
  leaves: RosterLeaf[],
  facts: CommitFacts,
  caller: string,
  lists: Map<string, DeviceList | undefined>,
): { leaves: RosterLeaf[]; added: RosterLeaf[]; removed: RosterLeaf[] } {
  const { gid } = group
  const seats = new Map(leaves.map((leaf) => [leaf.leaf, leaf]))
  const added: RosterLeaf[] = []
  const newcomers: SignedDevice[] = []
  // Every device entering the keys, or changing its leaf, is one its owner vouches for, with that key.
  for (const device of [...facts.adds, ...(facts.path ? [facts.path] : [])]) {
    if (!vouches(lists.get(device.iss), device)) {
      throw new ChatError(
        'FORBIDDEN',
        `commit: device ${device.device} of ${device.iss} is not on its owner's device list with that key`,
      )
    }
  }
  if (!group.epoch) {
    if (group.createdBy !== caller) {
      throw new ChatError('FORBIDDEN', `commit: only ${gid}'s creator starts its keys`)
    }
    if (facts.sender === 'external' || facts.sender.leaf !== 0 || facts.path === undefined) {
      throw new ChatError(
        'BAD_REQUEST',
        `commit: ${gid}'s first commit comes from leaf 0, with an update path`,
      )
    }
    if (facts.adds.length > 0 || facts.removes.length > 0) {
      throw new ChatError('BAD_REQUEST', `commit: ${gid}'s first commit holds its creator's device alone`)
    }
    requireOwnDevice(facts.path, caller)
    const first = { leaf: 0, ...facts.path }
    seats.set(0, first)
    added.push(first)
  } else if (facts.sender === 'external') {
    if (facts.path === undefined) throw new ChatError('BAD_REQUEST', 'commit: an external commit has a path')
    requireOwnDevice(facts.path, caller)
    newcomers.push(facts.path)
  } else {
    const committer = seats.get(facts.sender.leaf)
    if (committer?.iss !== caller) {
      throw new ChatError('FORBIDDEN', `commit: leaf ${facts.sender.leaf} is not one of your devices`)
    }
    if (facts.path) {
      if (facts.path.iss !== committer.iss || facts.path.device !== committer.device) {
        throw new ChatError(
          'FORBIDDEN',
          `commit: its path names another device than leaf ${committer.leaf}'s`,
        )
      }
      seats.set(committer.leaf, { leaf: committer.leaf, ...facts.path })
    }
  }
  if (facts.sender !== 'external' && facts.removes.includes(facts.sender.leaf)) {
    throw new ChatError('BAD_REQUEST', 'commit: a commit cannot remove its committer')
  }

  const removed: RosterLeaf[] = []
  for (const leaf of facts.removes) {
    const seat = seats.get(leaf)
    if (seat === undefined) throw new ChatError('BAD_REQUEST', `commit: leaf ${leaf} holds no keys`)
    if (facts.sender === 'external' && seat.iss !== caller) {
      throw new ChatError('FORBIDDEN', 'commit: joining from outside may remove only your own devices')
    }
    removed.push(seat)
    seats.delete(leaf)
  }
  for (const name of facts.adds) {
    if (!isJoined(members, name.iss)) {
      throw new ChatError('FORBIDDEN', `commit: ${name.iss} is not a joined member of ${gid}`)
    }
  }
  for (const { iss, device, key } of [...facts.adds, ...newcomers]) {
    if ([...seats.values()].some((seat) => seat.iss === iss && seat.device === device)) {
      throw new ChatError('BAD_REQUEST', `commit: device ${device} of ${iss} holds a leaf already`)
    }
    let leaf = 0
    while (seats.has(leaf)) leaf++
    const seat = { leaf, iss, device, key }
    seats.set(leaf, seat)
    added.push(seat)
  }
  return { leaves: [...seats.values()].sort((a, b) => a.leaf - b.leaf), added, removed }
}

function requireOwnDevice(name: SignedDevice, caller: string): void {
  if (name.iss !== caller) {
    throw new ChatError('FORBIDDEN', 'commit: its path must name one of your own devices')
  }
}

/** A verified GroupInfo's leaves as a roster; undefined when a leaf names no device of ours. */
export function rosterOf(info: VerifiedGroupInfo): RosterLeaf[] | undefined {
  const leaves: RosterLeaf[] = []
  for (const { leaf, identity, signatureKey } of info.leaves) {
    const device = deviceOfCredential(identity)
    if (device === undefined) return undefined
    leaves.push({ leaf, ...device, key: Buffer.from(signatureKey).toString('base64') })
  }
  return leaves
}

/** Leaves as a short text for an error: `0 alice/a1, 1 bob/b1`. */
export function describe(leaves: RosterLeaf[]): string {
  return leaves.map((leaf) => `${leaf.leaf} ${leaf.iss}/${leaf.device}`).join(', ') || 'none'
}
