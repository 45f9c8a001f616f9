import type { AckResults, GroupEvent, ImageLink } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import { bucketPrefixes } from '../routes.js'
import type { Caller, ChatContext, WithObjects } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import type { AdminEvent, StoredAvatar } from './model.js'
import type { Uploads } from './uploads.js'

/**
 * Group avatars: an identity gets a presigned upload under its own prefix (a few an hour); an invite that
 * names exactly such a key, holding an image of the declared type, copies it to the group's avatars,
 * where it stays. Uploads no invite uses expire (the bucket's lifecycle rule).
 */
export class Avatars {
  constructor(
    private readonly context: ChatContext<unknown> & WithObjects,
    private readonly uploads: Uploads,
  ) {}

  async requestUpload(caller: Caller, frame: Frames['avatar']): Promise<AckResults['avatar']> {
    if (frame.size > limits.avatarBytes) {
      throw new ChatError('TOO_LARGE', `avatar is ${frame.size} bytes; the limit is ${limits.avatarBytes}`)
    }
    return this.uploads.issue(caller, 'avatar', limits.avatarUploadsPerHour, frame.mime, frame.size)
  }

  /** Checks the caller's upload under `key` and keeps it as group `gid`'s avatar (for `action`: invite or
   * update). */
  async adopt(caller: Caller, key: string, gid: string, action: string): Promise<StoredAvatar> {
    const { id, ...object } = await this.uploads.find(caller, key, action)
    if (object.size > limits.avatarBytes) {
      throw new ChatError('TOO_LARGE', `${action}: the avatar is over 5 MiB`)
    }
    if (imageType(object.head) !== object.mime) {
      throw new ChatError('BAD_REQUEST', `${action}: the avatar's bytes are not a ${object.mime} image`)
    }
    const kept = `${bucketPrefixes.avatars}${gid}/${id}`
    await this.context.objects.copy(key, kept)
    return { key: kept, mime: object.mime }
  }

  /** A short-lived link to a kept avatar. */
  async link(avatar: StoredAvatar): Promise<ImageLink> {
    const { url, expires } = await this.context.objects.presignDownload(avatar.key)
    return { url, mime: avatar.mime, expires }
  }

  /** An admin's event as clients see it: an update's kept avatar becomes a fresh link. */
  async present(event: AdminEvent): Promise<GroupEvent> {
    if (event.type !== 'chat.update' || event.avatar === undefined) return event
    const { avatar, ...update } = event
    return { ...update, image: await this.link(avatar) }
  }
}

/** The image type the first bytes of a file show (PNG, JPEG, GIF or WebP), whatever it claims to be. */
export function imageType(head: Uint8Array): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte)
  const ascii = (from: number, text: string) => [...text].every((c, i) => head[from + i] === c.charCodeAt(0))
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png'
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg'
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'image/gif'
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'image/webp'
  return undefined
}
