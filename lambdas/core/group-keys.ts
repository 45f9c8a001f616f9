import {
  type CommitFacts,
  type DeviceName,
  readApplication,
  readCommit,
  readGroupInfo,
  readWelcome,
} from '@huddle/client/mls-wire'
import type {
  AckResults,
  Attachment,
  CommitEvent,
  MlsBytes,
  RosterLeaf,
  SealedAttachment,
} from '@huddle/client/protocol'
import { bucketPrefixes } from '../routes.js'
import type { Caller, ChatContext } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { appendAt, isJoined, joinedMembers, moved, requireJoined, untilLanded } from './group-log.js'
import type { ChatStore, Group, GroupState, Member, Roster } from './ports.js'
import type { Uploads } from './uploads.js'

type Part = 'commit' | 'welcome' | 'info'
/** A commit's part as sent: its bytes, and either its inline base64 or the upload they came from. */
type SentPart = { bytes: Uint8Array } & ({ data: string } | { upload: { key: string; id: string } })

/**
 * Who holds an encrypted group's keys (MLS): commits change them one epoch at a time, in the group's order,
 * and the server keeps its roster of leaves (which device of which identity holds each) by reading what
 * each commit adds and removes. It lets no commit put a non-member into the keys, nor a member speak for
 * another's device; a member who departs leaves its leaves stale until a commit removes them.
 */
export class GroupKeys {
  constructor(
    private readonly context: ChatContext,
    private readonly uploads: Uploads,
  ) {}

  /**
   * Appends a commit made at the group's current epoch, after checking its parts against each other (once)
   * and against the group and its roster as read (each attempt): the group moves to the next epoch with the
   * roster the commit makes, in one write with the `chat.commit` event.
   */
  async commit(caller: Caller, frame: Frames['commit']): Promise<AckResults['commit']> {
    const { store, delivery } = this.context
    const { gid } = frame
    const state = await this.readEncrypted(caller, gid, 'commit')
    const sent = {
      commit: await this.sentPart(caller, frame.commit),
      welcome: frame.welcome && (await this.sentPart(caller, frame.welcome)),
      info: await this.sentPart(caller, frame.info),
    }
    const facts = readCommit(sent.commit.bytes)
    if (facts === undefined || facts.groupId !== gid) {
      throw new ChatError(
        'BAD_REQUEST',
        `commit: commit is not an MLS commit of ${gid} (a PublicMessage whose proposals are all by value)`,
      )
    }
    const info = readGroupInfo(sent.info.bytes)
    if (info === undefined || info.groupId !== gid || info.epoch !== facts.epoch + 1) {
      throw new ChatError('BAD_REQUEST', `commit: info is not the GroupInfo of ${gid} at its next epoch`)
    }
    if (facts.adds.length > 0 !== (sent.welcome !== undefined)) {
      throw new ChatError(
        'BAD_REQUEST',
        'commit: a welcome comes with a commit that adds devices, and only then',
      )
    }
    if (sent.welcome && !readWelcome(sent.welcome.bytes)) {
      throw new ChatError('BAD_REQUEST', 'commit: welcome is not an MLS Welcome')
    }

    let kept: { commit: MlsBytes; welcome?: MlsBytes; info: MlsBytes } | undefined
    return untilLanded(async (tries) => {
      const { group, members, roster } = tries === 0 ? state : await this.readEncrypted(caller, gid, 'commit')
      const epoch = group.epoch ?? 0
      if (facts.epoch !== epoch) {
        throw new ChatError(
          'CONFLICT',
          `commit: ${gid}'s keys are at epoch ${epoch}, not ${facts.epoch}: take in the commits before it and commit again`,
        )
      }
      const change = placeCommit(group, members, roster?.leaves ?? [], facts, caller.iss)
      kept ??= await this.keep(gid, epoch, sent)
      const parts = kept
      const at = this.context.now()
      const event = (seq: number): CommitEvent => ({
        type: 'chat.commit',
        gid,
        iss: caller.iss,
        epoch: epoch + 1,
        commit: parts.commit,
        ...(parts.welcome && { welcome: parts.welcome }),
        info: parts.info,
        added: change.added,
        removed: change.removed,
        seq,
        iat: at.toISOString(),
      })
      const next: Roster = { epoch: epoch + 1, leaves: change.leaves, info: parts.info }
      // A stale leaf is cleared once removed (a device added in the same commit may take its place).
      const cleared = (group.stale ?? []).filter((leaf) => change.removed.some((r) => r.leaf === leaf))
      const appended = await appendAt(group, (seq) =>
        store.appendCommit(event(seq), next, cleared, this.context.expiresAt(at)),
      )
      if (appended === moved || 'rejected' in appended) return moved
      await delivery.toMembers(event(appended.seq), members, caller)
      return { gid, seq: appended.seq, epoch: epoch + 1 }
    })
  }

  /** The server's view of who holds the group's keys, for a joined member. */
  async roster(caller: Caller, frame: Frames['roster']): Promise<AckResults['roster']> {
    const { group, members, roster } = await this.readEncrypted(caller, frame.gid, 'roster')
    const leaves = roster?.leaves ?? []
    const holders = new Set(leaves.map((leaf) => leaf.iss))
    return {
      gid: frame.gid,
      epoch: group.epoch ?? 0,
      leaves,
      stale: [...(group.stale ?? [])].sort((a, b) => a - b),
      missing: joinedMembers(members)
        .filter((iss) => !holders.has(iss))
        .sort(),
      ...(roster?.info && { info: roster.info }),
    }
  }

  /**
   * The group, its members and its roster, read consistently with each other (a roster of another epoch
   * than the group's was read across a commit: read again), for a joined member of an encrypted group.
   */
  private async readEncrypted(
    caller: Caller,
    gid: string,
    action: string,
  ): Promise<GroupState & { roster: Roster | undefined }> {
    return untilLanded(async () => {
      const [state, roster] = await Promise.all([
        this.context.store.readGroup(gid),
        this.context.store.readRoster(gid),
      ])
      if (state === undefined) throw new ChatError('NOT_FOUND', `${action}: no group ${gid}`)
      requireJoined(state.members, caller.iss, action)
      requireEncrypted(state.group, action)
      return rosterFits(state.group, roster) ? { ...state, roster } : moved
    })
  }

  /** A part's bytes: inline, or read from the caller's upload (issued to it, within the file limit). */
  private async sentPart(caller: Caller, part: MlsBytes): Promise<SentPart> {
    if ('data' in part) return { bytes: fromBase64(part.data), data: part.data }
    const { id, size } = await this.uploads.find(caller, part.key, 'commit')
    if (size > this.context.attachmentBytes) {
      throw new ChatError('TOO_LARGE', `commit: ${part.key} is over ${this.context.attachmentBytes} bytes`)
    }
    const bytes = await this.context.objects.read(part.key)
    if (bytes === undefined)
      throw new ChatError('NOT_FOUND', `commit: nothing was uploaded under ${part.key}`)
    return { bytes, upload: { key: part.key, id } }
  }

  /**
   * The parts as the event carries them: inline ones as sent, uploaded ones copied to the group's MLS
   * parts. The copy is named by the upload, not the seq, so that two commits racing for one epoch never
   * write the same object.
   */
  private async keep(
    gid: string,
    epoch: number,
    sent: Record<Part, SentPart | undefined>,
  ): Promise<{ commit: MlsBytes; welcome?: MlsBytes; info: MlsBytes }> {
    const kept = async (part: Part): Promise<MlsBytes | undefined> => {
      const sentPart = sent[part]
      if (sentPart === undefined) return undefined
      if ('data' in sentPart) return { data: sentPart.data }
      const key = `${mlsPartsOf(gid)}${epoch}/${part}-${sentPart.upload.id}`
      await this.context.objects.copy(sentPart.upload.key, key)
      return { key }
    }
    const [commit, welcome, info] = await Promise.all([kept('commit'), kept('welcome'), kept('info')])
    if (commit === undefined || info === undefined) throw new Error('a commit has a commit and an info')
    return { commit, ...(welcome && { welcome }), info }
  }
}

/** Where group `gid` keeps the MLS parts of its commits. */
export function mlsPartsOf(gid: string): string {
  return `${bucketPrefixes.mls}${gid}/`
}

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
  store: ChatStore,
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
function rosterFits(group: Group, roster: Roster | undefined): boolean {
  return (roster?.epoch ?? 0) === (group.epoch ?? 0)
}

/**
 * The roster a commit makes, checked against the group as read: who sends it (the creator's device at
 * leaf 0 for the first; one of the caller's leaves; or, joining from outside, a device of the caller's
 * that may remove only the caller's own old leaves), which leaves it removes (occupied ones) and whom it
 * adds (devices of joined members holding no leaf). Removes blank their leaves; then each new device takes
 * the leftmost blank leaf, or a new one at the end, as MLS places them.
 */
function placeCommit(
  group: Group,
  members: Member[],
  leaves: RosterLeaf[],
  facts: CommitFacts,
  caller: string,
): { leaves: RosterLeaf[]; added: RosterLeaf[]; removed: RosterLeaf[] } {
  const { gid } = group
  const seats = new Map(leaves.map((leaf) => [leaf.leaf, leaf]))
  const added: RosterLeaf[] = []
  const newcomers: DeviceName[] = []
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
    if (facts.path && (facts.path.iss !== committer.iss || facts.path.device !== committer.device)) {
      throw new ChatError('FORBIDDEN', `commit: its path names another device than leaf ${committer.leaf}'s`)
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
  for (const name of [...facts.adds, ...newcomers]) {
    if ([...seats.values()].some((seat) => seat.iss === name.iss && seat.device === name.device)) {
      throw new ChatError('BAD_REQUEST', `commit: device ${name.device} of ${name.iss} holds a leaf already`)
    }
    let leaf = 0
    while (seats.has(leaf)) leaf++
    const seat = { leaf, iss: name.iss, device: name.device }
    seats.set(leaf, seat)
    added.push(seat)
  }
  return { leaves: [...seats.values()].sort((a, b) => a.leaf - b.leaf), added, removed }
}

function requireOwnDevice(name: DeviceName, caller: string): void {
  if (name.iss !== caller) {
    throw new ChatError('FORBIDDEN', 'commit: its path must name one of your own devices')
  }
}

/** Bytes of base64 the frame schema has checked already. */
export function fromBase64(text: string): Uint8Array {
  return Buffer.from(text, 'base64')
}
