import type { AckResults, GroupEvent, ImageLink } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import { forEachLimited } from './concurrency.js'
import type { Caller, ChatContext } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import type { AdminEvent, StoredAvatar } from './ports.js'

/** Where uploads and kept avatars live; the same prefixes scope the functions' grants (lambdas/routes.ts). */
const prefixes = { uploads: 'uploads/', avatars: 'avatars/' } as const
const uploadId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Group avatars: an identity gets a presigned upload under its own prefix (a few an hour); an invite that
 * names exactly such a key, holding an image of the declared type, copies it to the group's avatars,
 * where it stays. Uploads no invite uses expire (the bucket's lifecycle rule).
 */
export class Avatars {
  constructor(private readonly context: ChatContext) {}

  async requestUpload(caller: Caller, frame: Frames['avatar']): Promise<AckResults['avatar']> {
    if (frame.size > limits.avatarBytes) {
      throw new ChatError('TOO_LARGE', `avatar is ${frame.size} bytes; the limit is ${limits.avatarBytes}`)
    }
    const refusal = await this.context.store.spend(
      caller.iss,
      'avatar',
      limits.avatarUploadsPerHour,
      60 * 60,
      this.context.now(),
    )
    if (refusal !== undefined) {
      throw new ChatError(
        'RATE_LIMITED',
        `avatar: at most ${limits.avatarUploadsPerHour} uploads an hour`,
        refusal,
      )
    }
    const key = `${prefixes.uploads}${caller.iss}/${this.context.newId()}`
    const upload = await this.context.avatars.presignUpload(key, frame.mime, frame.size)
    return { ...upload, method: 'PUT', key }
  }

  /** Checks the caller's upload under `key` and keeps it as group `gid`'s avatar (for `action`: invite or
   * update). */
  async adopt(caller: Caller, key: string, gid: string, action: string): Promise<StoredAvatar> {
    const [, id] = key.split(`${prefixes.uploads}${caller.iss}/`)
    if (!key.startsWith(`${prefixes.uploads}${caller.iss}/`) || id === undefined || !uploadId.test(id)) {
      throw new ChatError('FORBIDDEN', `${action}: that avatar key was not issued to you`)
    }
    const object = await this.context.avatars.inspect(key)
    if (object === undefined)
      throw new ChatError('NOT_FOUND', `${action}: no avatar was uploaded under that key`)
    if (object.size > limits.avatarBytes) {
      throw new ChatError('TOO_LARGE', `${action}: the avatar is over 5 MiB`)
    }
    if (imageType(object.head) !== object.mime) {
      throw new ChatError('BAD_REQUEST', `${action}: the avatar's bytes are not a ${object.mime} image`)
    }
    const kept = `${prefixes.avatars}${gid}/${id}`
    await this.context.avatars.copy(key, kept)
    return { key: kept, mime: object.mime }
  }

  /** A short-lived link to a kept avatar. */
  async link(avatar: StoredAvatar): Promise<ImageLink> {
    const { url, expires } = await this.context.avatars.presignDownload(avatar.key)
    return { url, mime: avatar.mime, expires }
  }

  /** An admin's event as clients see it: an update's kept avatar becomes a fresh link. */
  async present(event: AdminEvent): Promise<GroupEvent> {
    if (event.type !== 'chat.update' || event.avatar === undefined) return event
    const { avatar, ...update } = event
    return { ...update, image: await this.link(avatar) }
  }

  /** Removes a deleted group's avatars. */
  async forget(keys: string[]): Promise<void> {
    await forEachLimited(keys, 8, (key) => this.context.avatars.delete(key))
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
