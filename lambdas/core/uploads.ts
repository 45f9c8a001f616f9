import { forEachLimited } from './concurrency.js'
import type { Caller, ChatContext, WithObjects } from './context.js'
import { ChatError } from './errors.js'
import { parseUploadKey, uploadKey } from './file-keys.js'
import type { Quotas } from './ports.js'

/**
 * Presigned uploads, shared by avatars and attachments: an identity uploads under its own prefix (a few an
 * hour of each kind), and a request that names exactly such a key has the object copied to where the group
 * keeps it. Uploads nothing uses expire (the bucket's lifecycle rule).
 */
export class Uploads {
  constructor(private readonly context: ChatContext<Quotas> & WithObjects) {}

  /** A presigned PUT of `size` bytes of type `mime` under a fresh key of the caller's, counted against
   * `perHour` uploads of this `kind` an hour. */
  async issue(caller: Caller, kind: string, perHour: number, mime: string, size: number) {
    const refusal = await this.context.store.spend(caller.iss, kind, perHour, 60 * 60, this.context.now())
    if (refusal !== undefined) {
      throw new ChatError('RATE_LIMITED', `${kind}: at most ${perHour} uploads an hour`, refusal)
    }
    const key = uploadKey(caller.iss, this.context.newId())
    const upload = await this.context.objects.presignUpload(key, mime, size)
    return { ...upload, method: 'PUT' as const, key }
  }

  /** The caller's upload under `key`, checked to be exactly a key issued to it, and there: its id, size,
   * declared type and first bytes. */
  async find(caller: Caller, key: string, action: string) {
    const upload = parseUploadKey(key)
    if (upload?.iss !== caller.iss) {
      throw new ChatError('FORBIDDEN', `${action}: the upload ${key} was not issued to you`)
    }
    const object = await this.context.objects.inspect(key)
    if (object === undefined) throw new ChatError('NOT_FOUND', `${action}: nothing was uploaded under ${key}`)
    return { id: upload.id, ...object }
  }

  /** Deletes kept objects: a deleted message's files, a deleted group's avatars and files. */
  async forget(keys: string[]): Promise<void> {
    await forEachLimited(keys, 8, (key) => this.context.objects.delete(key))
  }
}
