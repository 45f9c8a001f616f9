/** The rules of encrypted groups that plain routes meet too (a message's fit, a departure's stale leaves), with
 * no MLS verification: the routes that need only these do not load it. */
import { type Lifetime, readApplication } from '@huddle/client/mls-wire'
import { type Attachment, limits, type SealedAttachment } from '@huddle/client/protocol'
import { ChatError } from './errors.js'
import { moved } from './group-log.js'
import type { Group, Roster } from './model.js'
import type { GroupStore } from './ports.js'

/** Fails unless the group is encrypted. */
export function requireEncrypted(group: Group, action: string): void {
  if (!group.encrypted) {
    throw new ChatError('BAD_REQUEST', `${action}: ${group.gid} is not an encrypted group`)
  }
}

/**
 * The leaves `iss` holds in the group's keys, which its departure makes stale (none in a plain group);
 * `moved` when the roster read is of another epoch than the group's (a commit landed between the reads).
 */
export async function leavesHeldBy(
  store: Pick<GroupStore, 'readRoster'>,
  group: Group,
  iss: string,
): Promise<number[] | typeof moved> {
  if (!group.encrypted || !group.epoch) return []
  const roster = await store.readRoster(group.gid)
  if (!rosterFits(group, roster)) return moved
  return (roster?.leaves ?? []).filter((leaf) => leaf.iss === iss).map((leaf) => leaf.leaf)
}

/**
 * Fails unless a message or an edit fits its group: in an encrypted group, an empty body, a `cipher` of the
 * group at its current epoch, sealed attachments and no stale leaf; in a plain group, no `cipher` and whole
 * attachments.
 */
export function requireFitsKeys(
  group: Group,
  frame: { body: string; cipher?: string; attachments?: Attachment[] | SealedAttachment[] },
  action: string,
): void {
  const { gid } = group
  const whole = frame.attachments?.some((attachment) => 'secret' in attachment)
  const sealed = frame.attachments?.some((attachment) => !('secret' in attachment))
  if (!group.encrypted) {
    if (frame.cipher !== undefined || sealed) {
      throw new ChatError(
        'BAD_REQUEST',
        `${action}: ${gid} is not encrypted: send a body and whole attachments, no cipher`,
      )
    }
    return
  }
  if (frame.body !== '' || frame.cipher === undefined || whole) {
    throw new ChatError(
      'BAD_REQUEST',
      `${action}: ${gid} is encrypted: send an empty body, a cipher, and attachments of key, size and digest only`,
    )
  }
  const application = readApplication(fromBase64(frame.cipher))
  if (application === undefined || application.groupId !== gid) {
    throw new ChatError('BAD_REQUEST', `${action}: cipher is not an MLS application message of ${gid}`)
  }
  if ((group.stale?.length ?? 0) > 0) {
    throw new ChatError(
      'CONFLICT',
      `${action}: the group's keys still include a member who left: commit their removal first`,
    )
  }
  const epoch = group.epoch ?? 0
  if (application.epoch !== epoch) {
    throw new ChatError(
      'CONFLICT',
      `${action}: ${gid}'s keys are at epoch ${epoch}, not ${application.epoch}`,
    )
  }
}

/** Whether a roster read beside the group is the one of the group's epoch (none before the first commit). */
export function rosterFits(group: Group, roster: Roster | undefined): boolean {
  return (roster?.epoch ?? 0) === (group.epoch ?? 0)
}

/** Bytes of base64 the frame schema has checked already. */
export function fromBase64(text: string): Uint8Array {
  return Buffer.from(text, 'base64')
}

/** Why a key package's lifetime is not acceptable now (undefined when it is): valid at `at`, for at most
 * `limits.keyPackageLifetimeSeconds`. */
export function refuseLifetime({ notBefore, notAfter }: Lifetime, at: Date): string | undefined {
  const now = at.getTime() / 1000
  if (notAfter - notBefore > limits.keyPackageLifetimeSeconds) {
    return `is valid for longer than ${limits.keyPackageLifetimeSeconds} seconds`
  }
  if (notBefore > now || notAfter <= now) return 'is not valid now'
  return undefined
}
