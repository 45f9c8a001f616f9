import type { AckResults, Attachment, SealedAttachment } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Caller, ChatContext, WithObjects } from './context.js'
import { ChatError } from './errors.js'
import { fileKey, parseFileKey, parseMlsPartKey } from './file-keys.js'
import type { Frames } from './frames.js'
import { memberOf, readableWindows, requireJoined } from './group-log.js'
import type { GroupState } from './model.js'
import type { GroupStore } from './ports.js'
import type { Uploads } from './uploads.js'

/**
 * Files that messages carry. The client encrypts each file and uploads the ciphertext (a presigned PUT for
 * a joined member); a message naming the upload has it copied to the group's files, where only current
 * members get a download link; deleting the message, or the group, deletes them. The server never reads
 * an attachment's `secret`.
 */
export class Attachments {
  constructor(
    private readonly context: ChatContext<Pick<GroupStore, 'readMembers' | 'getEvents' | 'findMessage'>> &
      WithObjects,
    private readonly uploads: Uploads,
  ) {}

  async requestUpload(caller: Caller, frame: Frames['attachment']): Promise<AckResults['attachment']> {
    await this.readAsMember(caller, frame.gid, 'attachment')
    const { attachmentBytes } = this.context.settings
    if (frame.size > attachmentBytes) {
      throw new ChatError('TOO_LARGE', `attachment is ${frame.size} bytes; the limit is ${attachmentBytes}`)
    }
    return this.uploads.issue(
      caller,
      'attachment',
      limits.attachmentUploadsPerHour,
      'application/octet-stream',
      frame.size,
    )
  }

  /**
   * A download link for a key the server kept for the group, matched exactly, for a current joined member:
   * a file a message inside the caller's window carries, or a part of one of an encrypted group's landed
   * commits (one joining the keys needs the latest GroupInfo, from before it joined).
   */
  async download(caller: Caller, frame: Frames['download']): Promise<AckResults['download']> {
    const part = parseMlsPartKey(frame.key)
    if (part?.gid === frame.gid) {
      const { group } = await this.readAsMember(caller, frame.gid, 'download')
      // The parts kept at epoch e are those of the commit that moved the group on from e.
      const landed = group.encrypted && part.epoch < (group.epoch ?? 0)
      if (!landed || (await this.context.objects.inspect(frame.key)) === undefined) {
        throw new ChatError('NOT_FOUND', `download: ${frame.gid} has no commit part ${frame.key}`)
      }
      return this.link(frame)
    }
    const file = parseFileKey(frame.key)
    if (file?.gid !== frame.gid) {
      throw new ChatError('FORBIDDEN', `download: ${frame.key} is not a file of ${frame.gid}`)
    }
    const [state, message] = await Promise.all([
      this.readAsMember(caller, frame.gid, 'download'),
      this.context.store.findMessage(frame.gid, file.jti),
    ])
    const [stored] = message ? await this.context.store.getEvents(frame.gid, [message.seq]) : []
    if (stored?.type !== 'chat.message' || stored.deleted !== undefined) {
      throw new ChatError('NOT_FOUND', `download: the message carrying ${frame.key} is gone`)
    }
    const windows = readableWindows(memberOf(state.members, caller.iss), state.group.head)
    if (!windows.some((w) => w.after < stored.seq && stored.seq <= w.through)) {
      throw new ChatError(
        'FORBIDDEN',
        `download: the message carrying ${frame.key} is outside your membership`,
      )
    }
    if (!stored.attachments?.some((attachment) => attachment.key === frame.key)) {
      throw new ChatError('NOT_FOUND', `download: message ${file.jti} carries no file ${frame.key}`)
    }
    return this.link(frame)
  }

  private async link({ gid, key }: Frames['download']): Promise<AckResults['download']> {
    const { url, expires } = await this.context.objects.presignDownload(key)
    return { gid, key, url, expires }
  }

  /** Fails unless a message may carry this many files. */
  requireCount(attachments: Attachment[] | SealedAttachment[] | undefined): void {
    const { attachmentsPerMessage } = this.context.settings
    if ((attachments?.length ?? 0) > attachmentsPerMessage) {
      throw new ChatError('TOO_LARGE', `message: at most ${attachmentsPerMessage} attachments`)
    }
  }

  /**
   * Keeps the caller's uploads as the files of message `jti` in group `gid`: all checked first (issued to
   * the caller, there, within the size limit, and at least the `size` the attachment says), then each
   * copied where the group keeps it, so a refused message leaves no file behind. The attachments as the
   * message carries them, under their kept keys; copying again (a retried message) changes nothing.
   */
  async keep<A extends Attachment | SealedAttachment>(
    caller: Caller,
    gid: string,
    jti: string,
    attachments: A[],
  ): Promise<A[]> {
    const objects = await Promise.all(
      attachments.map((attachment) => this.uploads.find(caller, attachment.key, 'message')),
    )
    for (const [i, object] of objects.entries()) {
      if (object.size > this.context.settings.attachmentBytes) {
        throw new ChatError('TOO_LARGE', `message: attachment ${i} is over the limit`)
      }
      // The size a message shows is its object's, exactly.
      const declared = attachments[i]?.size ?? 0
      if (declared !== object.size) {
        throw new ChatError(
          'BAD_REQUEST',
          `message: attachment ${i} says ${declared} bytes, but its upload holds ${object.size}`,
        )
      }
    }
    return Promise.all(
      attachments.map(async (attachment, i) => {
        const key = fileKey(gid, jti, i)
        await this.context.objects.copy(attachment.key, key)
        return { ...attachment, key }
      }),
    )
  }

  /** Deletes a message's files. */
  forget(attachments: Attachment[] | SealedAttachment[] | undefined): Promise<void> {
    return this.uploads.forget((attachments ?? []).map((a) => a.key))
  }

  /** The group with the caller's membership, which must be a joined one. */
  private async readAsMember(caller: Caller, gid: string, action: string): Promise<GroupState> {
    const state = await this.context.store.readMembers(gid, [caller.iss])
    if (state === undefined) throw new ChatError('NOT_FOUND', `${action}: no group ${gid}`)
    requireJoined(state.members, caller.iss, action)
    return state
  }
}
