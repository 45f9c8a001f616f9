import type { AckResults, PresenceEvent, PresenceView } from '@huddle/client/protocol'
import { forEachLimited } from './concurrency.js'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { requireRecipient } from './group-log.js'
import type { GroupStore, PresenceChange, PresenceChanges, PresenceRecord, PresenceStore } from './ports.js'

/** A departure whose check has not come this long after its grace ended was never announced (its queue
 * failed): it reads as offline. */
const lostCheckMs = 5 * 60_000

/** What one identity's presence looks like to others, at `now`, with a grace period of `graceSeconds`. */
export function viewOf(
  iss: string,
  record: PresenceRecord | undefined,
  now: Date,
  graceSeconds: number,
): PresenceView {
  if (record?.hidden) return { iss }
  const { leftAt } = record ?? {}
  const leaving =
    leftAt !== undefined && Date.parse(leftAt) + graceSeconds * 1000 + lostCheckMs > now.getTime()
  // Online with no connection and no grace running: its last close was never seen ($disconnect is best
  // effort), or its check was lost.
  if (record?.online && (record.connected || leaving)) return { iss, online: true }
  const lastSeen = record?.lastSeen ?? leftAt ?? record?.since
  return { iss, online: false, ...(lastSeen && { lastSeen }) }
}

/** The store presence is read and announced from. */
export type PresenceSharingStore = Pick<GroupStore, 'readRecipients'> &
  Pick<PresenceStore, 'markOffline' | 'setHidden' | 'presenceOf' | 'joinedGroupSizes'>

/**
 * Presence as members share it, bounded by group size: only in groups of up to `presenceMaxMembers` joined
 * members is it read or announced, so that a change costs at most that many members' posts per group.
 * Nothing of it is stored in any group's log.
 */
export class PresenceSharing {
  constructor(
    private readonly context: ChatContext<PresenceSharingStore> & WithDelivery,
    private readonly changes: PresenceChanges,
  ) {}

  /** The presence of a group's joined members, for one of them. */
  async presence(caller: Caller, frame: Frames['presence']): Promise<AckResults['presence']> {
    const { store, settings } = this.context
    const recipients = await store.readRecipients(frame.gid)
    if (recipients === undefined) throw new ChatError('NOT_FOUND', `presence: no group ${frame.gid}`)
    requireRecipient(recipients, caller.iss, 'presence')
    const members = [...recipients.connections.keys()]
    if (members.length > settings.presenceMaxMembers) return { gid: frame.gid, shared: false, members: [] }
    const records = await store.presenceOf(members)
    const view = (iss: string) =>
      viewOf(iss, records.get(iss), this.context.now(), settings.presenceGraceSeconds)
    return { gid: frame.gid, shared: true, members: members.map(view) }
  }

  /** Hides the caller's presence or shows it again; a change is announced as any other. */
  async hide(caller: Caller, frame: Frames['hidePresence']): Promise<AckResults['hidePresence']> {
    if (await this.context.store.setHidden(caller.iss, frame.hidden)) {
      await this.changes.schedule({ iss: caller.iss, shown: !frame.hidden }, 0)
    }
    return { hidden: frame.hidden }
  }

  /**
   * Posts an identity's presence as it is now to the other joined members of its groups small enough to
   * share it in; a departure first becomes one, unless a connection opened during its grace period. Nothing
   * is posted of a hidden identity's comings and goings (their timing alone would tell them), only that it
   * hid.
   */
  async announce(change: PresenceChange): Promise<void> {
    const { store, settings, delivery } = this.context
    const { iss, leftAt } = change
    if (leftAt !== undefined && !(await store.markOffline(iss, leftAt))) return
    const [records, sizes] = await Promise.all([store.presenceOf([iss]), store.joinedGroupSizes(iss)])
    const record = records.get(iss)
    if (record?.hidden && change.shown === undefined) return
    const shared = [...sizes].filter(([, size]) => size <= settings.presenceMaxMembers).map(([gid]) => gid)
    const others = new Set<string>()
    await forEachLimited(shared, 8, async (gid) => {
      const recipients = await store.readRecipients(gid)
      for (const member of recipients?.connections.keys() ?? []) if (member !== iss) others.add(member)
    })
    if (others.size === 0) return
    const event: PresenceEvent = {
      type: 'chat.presence',
      ...viewOf(iss, record, this.context.now(), settings.presenceGraceSeconds),
      at: this.context.now().toISOString(),
    }
    await delivery.deliver(event, [...others])
  }
}
