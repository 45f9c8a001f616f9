import { rosterDigest } from '@huddle/client/devices'
import {
  checkGroupInfo,
  readVerifiedGroupInfo,
  type VerifiedGroupInfo,
  verifyCommit,
} from '@huddle/client/mls-verify'
import { type CommitFacts, readCommit, readWelcome } from '@huddle/client/mls-wire'
import {
  type AckResults,
  type CommitEvent,
  type DeviceList,
  limits,
  type MlsBytes,
  type RevertEvent,
} from '@huddle/client/protocol'
import type { Caller, ChatContext, WithDelivery, WithObjects } from './context.js'
import { fromBase64, refuseLifetime, requireEncrypted, rosterFits } from './encrypted-groups.js'
import { ChatError } from './errors.js'
import { type MlsPart, mlsPartKey } from './file-keys.js'
import type { Frames } from './frames.js'
import { appendAt, isJoined, joinedMembers, moved, requireJoined, untilLanded } from './group-log.js'
import type { GroupState, Roster } from './model.js'
import type { DeviceListStore, GroupStore, Quotas } from './ports.js'
import { describe, placeCommit, rosterOf } from './roster.js'
import type { Uploads } from './uploads.js'

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
    private readonly context: ChatContext<GroupStore & Quotas & Pick<DeviceListStore, 'deviceLists'>> &
      WithObjects &
      WithDelivery,
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
    const facts = await readCommit(sent.commit.bytes)
    if (facts === undefined || facts.groupId !== gid) {
      throw new ChatError(
        'BAD_REQUEST',
        `commit: commit is not an MLS commit of ${gid} (a PublicMessage whose proposals are all by value)`,
      )
    }
    const checked = await checkGroupInfo(sent.info.bytes)
    if (!checked.ok) {
      this.context.security('commit-unverified', { gid, iss: caller.iss, reason: checked.reason })
      throw new ChatError('BAD_REQUEST', `commit: info is not a valid GroupInfo (${checked.reason})`)
    }
    const { groupId, epoch: infoEpoch } = checked.info
    const infoLeaves = rosterOf(checked.info)
    if (groupId !== gid || infoEpoch !== facts.epoch + 1 || infoLeaves === undefined) {
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
    const at = this.context.now()
    for (const added of facts.adds) {
      const refused = refuseLifetime(added.lifetime, at)
      if (refused) throw new ChatError('BAD_REQUEST', `commit: the key package of ${added.device} ${refused}`)
    }
    const lists = await this.deviceListsOf(facts)

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
      const change = placeCommit(group, members, roster?.leaves ?? [], facts, caller.iss, lists)
      // Everything publicly verifiable: the commit's signature by its sender, and that the GroupInfo's tree is
      // the previous epoch's with this very commit applied (its transcript follows from it too).
      const verdict = await verifyCommit(sent.commit.bytes, await this.previousInfo(roster), checked.info)
      if (!verdict.ok) {
        this.context.security('commit-unverified', { gid, iss: caller.iss, reason: verdict.reason })
        throw new ChatError('BAD_REQUEST', `commit: it does not verify (${verdict.reason})`)
      }
      // The tree the commit makes must be exactly the roster stored: every leaf, at its index, with its device
      // and key (a hidden leaf, or a tree other than the commit's, is refused).
      const tree = await rosterDigest(change.leaves)
      if ((await rosterDigest(infoLeaves)) !== tree) {
        this.context.security('commit-tree-mismatch', { gid, iss: caller.iss })
        throw new ChatError(
          'BAD_REQUEST',
          `commit: info's tree is not the roster the commit makes (leaves ${describe(change.leaves)})`,
        )
      }
      kept ??= await this.keep(gid, epoch, sent)
      const parts = kept
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
        tree,
        seq,
        iat: at.toISOString(),
      })
      const next: Roster = {
        epoch: epoch + 1,
        leaves: change.leaves,
        info: parts.info,
        committer: caller.iss,
        previous: {
          epoch,
          leaves: roster?.leaves ?? [],
          ...(roster?.info && { info: roster.info }),
          stale: group.stale ?? [],
        },
      }
      // A stale leaf is cleared once removed (a device added in the same commit may take its place).
      const cleared = (group.stale ?? []).filter((leaf) => change.removed.some((r) => r.leaf === leaf))
      const claims = facts.adds.map((added) => added.ref)
      const appended = await appendAt(group, (seq) =>
        store.appendCommit(event(seq), next, cleared, this.context.expiresAt(at), claims),
      )
      if (appended === moved) return moved
      if ('rejected' in appended) {
        this.context.security('commit-unclaimed-package', { gid, iss: caller.iss })
        throw new ChatError(
          'FORBIDDEN',
          'commit: it adds a key package that was not handed to you by claim for this group (or was used)',
        )
      }
      await delivery.toMembers(event(appended.seq), members, caller)
      return { gid, seq: appended.seq, epoch: epoch + 1 }
    })
  }

  /**
   * A member that cannot take in the group's latest commit refuses it: the group's keys go back to the epoch
   * before (its roster and stale leaves as they were), in one write with a `chat.revert` that names the
   * committer. Only a member whose device held a leaf before that commit may, and never the committer.
   */
  async refuse(caller: Caller, frame: Frames['refuse']): Promise<AckResults['refuse']> {
    const { store, delivery } = this.context
    const { gid } = frame
    const at = this.context.now()
    const refusal = await store.spend(caller.iss, 'refuse', limits.refusalsPerHour, 60 * 60, at)
    if (refusal !== undefined) {
      throw new ChatError('RATE_LIMITED', `refuse: at most ${limits.refusalsPerHour} an hour`, refusal)
    }
    return untilLanded(async () => {
      const { group, members, roster } = await this.readEncrypted(caller, gid, 'refuse')
      const previous = roster?.previous
      if (group.epoch !== frame.epoch || roster === undefined || previous === undefined) {
        throw new ChatError('CONFLICT', `refuse: epoch ${frame.epoch} is not ${gid}'s latest commit`)
      }
      if (roster.committer === caller.iss || !previous.leaves.some((leaf) => leaf.iss === caller.iss)) {
        throw new ChatError(
          'FORBIDDEN',
          'refuse: only a member that held the keys before it, not its committer',
        )
      }
      // Leaves of identities that departed since are stale at the restored epoch too.
      const stale = new Set(previous.stale)
      for (const leaf of previous.leaves) if (!isJoined(members, leaf.iss)) stale.add(leaf.leaf)
      const event = (seq: number): RevertEvent => ({
        type: 'chat.revert',
        gid,
        iss: roster.committer ?? '',
        by: caller.iss,
        epoch: frame.epoch,
        reason: frame.reason,
        seq,
        iat: at.toISOString(),
      })
      const { stale: _, ...back } = previous
      const appended = await appendAt(group, (seq) =>
        store.appendRevert(
          event(seq),
          back,
          [...stale].sort((a, b) => a - b),
          group.stale ?? [],
          this.context.expiresAt(at),
        ),
      )
      if (appended === moved || 'rejected' in appended) return moved
      this.context.security('commit-refused', { gid, iss: event(0).iss, by: caller.iss, epoch: frame.epoch })
      // The refusing connection gets it too: its device takes it in as every member's does.
      await delivery.toMembers(event(appended.seq), members)
      return { gid, seq: appended.seq, epoch: previous.epoch }
    })
  }

  /** The GroupInfo of the keys' current epoch, as its commit stored it (none before the first commit). */
  private async previousInfo(roster: Roster | undefined): Promise<VerifiedGroupInfo | undefined> {
    if (roster?.info === undefined) return undefined
    const bytes =
      'data' in roster.info ? fromBase64(roster.info.data) : await this.context.objects.read(roster.info.key)
    const info = bytes && (await readVerifiedGroupInfo(bytes))
    if (info === undefined) throw new Error(`the stored GroupInfo of epoch ${roster.epoch} does not verify`)
    return info
  }

  /** The device lists of every identity whose devices a commit brings into the keys. */
  private async deviceListsOf(facts: CommitFacts): Promise<Map<string, DeviceList | undefined>> {
    const owners = new Set([...facts.adds, ...(facts.path ? [facts.path] : [])].map((d) => d.iss))
    const lists = await Promise.all(
      [...owners].map(async (iss) => [iss, (await this.context.store.deviceLists(iss)).at(-1)] as const),
    )
    return new Map(lists)
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
    if (size > this.context.settings.attachmentBytes) {
      throw new ChatError(
        'TOO_LARGE',
        `commit: ${part.key} is over ${this.context.settings.attachmentBytes} bytes`,
      )
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
    sent: Record<MlsPart, SentPart | undefined>,
  ): Promise<{ commit: MlsBytes; welcome?: MlsBytes; info: MlsBytes }> {
    const kept = async (part: MlsPart): Promise<MlsBytes | undefined> => {
      const sentPart = sent[part]
      if (sentPart === undefined) return undefined
      if ('data' in sentPart) return { data: sentPart.data }
      const key = mlsPartKey(gid, epoch, part, sentPart.upload.id)
      await this.context.objects.copy(sentPart.upload.key, key)
      return { key }
    }
    const [commit, welcome, info] = await Promise.all([kept('commit'), kept('welcome'), kept('info')])
    if (commit === undefined || info === undefined) throw new Error('a commit has a commit and an info')
    return { commit, ...(welcome && { welcome }), info }
  }
}
