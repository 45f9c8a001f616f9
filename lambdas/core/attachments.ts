import type { AckResults, Attachment, SealedAttachment } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import { bucketPrefixes } from '../routes.js'
import type { Caller, ChatContext } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { mlsPartsOf } from './group-keys.js'
import { memberOf, readableWindows, requireJoined } from './group-log.js'
import type { GroupState } from './ports.js'
import type { Uploads } from './uploads.js'

/**
 * Files that messages carry. The client encrypts each file and uploads the ciphertext (a presigned PUT for
 * a joined member); a message naming the upload has it copied to the group's files, where only current
 * members get a download link; deleting the message, or the group, deletes them. The server never reads
 * an attachment's `secret`.
 */
export class Attachments {
  constructor(
    private readonly context: ChatContext,
    private readonly uploads: Uploads,
  ) {}

  async requestUpload(caller: Caller, frame: Frames['attachment']): Promise<AckResults['attachment']> {
    await this.readAsMember(caller, frame.gid, 'attachment')
    const { attachmentBytes } = this.context
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
   * A download link for a file of the group, for a current member who may read the message carrying it;
   * or for a part of an encrypted group's commits, for any current member (one joining the keys needs
   * the latest GroupInfo, from before it joined).
   */
  async download(caller: Caller, frame: Frames['download']): Promise<AckResults['download']> {
    if (frame.key.startsWith(mlsPartsOf(frame.gid))) {
      await this.readAsMember(caller, frame.gid, 'download')
      return this.link(frame)
    }
    const file = frame.key.startsWith(filesOf(frame.gid)) && frame.key.slice(filesOf(frame.gid).length)
    const [, jti] = (file && keptFile.exec(file)) || []
    if (jti === undefined) {
      throw new ChatError('FORBIDDEN', `download: ${frame.key} is not a file of ${frame.gid}`)
    }
    const [state, message] = await Promise.all([
      this.readAsMember(caller, frame.gid, 'download'),
      this.context.store.findMessage(frame.gid, jti),
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
    return this.link(frame)
  }

  private async link({ gid, key }: Frames['download']): Promise<AckResults['download']> {
    const { url, expires } = await this.context.objects.presignDownload(key)
    return { gid, key, url, expires }
  }

  /** Fails unless a message may carry this many files. */
  requireCount(attachments: Attachment[] | SealedAttachment[] | undefined): void {
    const { attachmentsPerMessage } = this.context
    if ((attachments?.length ?? 0) > attachmentsPerMessage) {
      throw new ChatError('TOO_LARGE', `message: at most ${attachmentsPerMessage} attachments`)
    }
  }

  /**
   * Keeps the caller's uploads as the files of message `jti` in group `gid`: each checked (issued to the
   * caller, there, within the size limit) and copied where the group keeps it. The attachments as the
   * message carries them, under their kept keys; copying again (a retried message) changes nothing.
   */
  async keep<A extends Attachment | SealedAttachment>(
    caller: Caller,
    gid: string,
    jti: string,
    attachments: A[],
  ): Promise<A[]> {
    return Promise.all(
      attachments.map(async (attachment, i) => {
        const object = await this.uploads.find(caller, attachment.key, 'message')
        if (object.size > this.context.attachmentBytes) {
          throw new ChatError('TOO_LARGE', `message: attachment ${i} is over the limit`)
        }
        const key = `${filesOf(gid)}${jti}/${i}`
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

/** A kept file under its group's prefix: the message's jti and the file's place in it. */
const keptFile = /^([A-Za-z0-9_.:-]{1,64})\/\d{1,3}$/

/** Where group `gid` keeps its files. */
function filesOf(gid: string): string {
  return `${bucketPrefixes.files}${gid}/`
}
