import type { ChatClient } from './client.js'
import { ChatError } from './error.js'

/** An avatar to upload with a group: raw image bytes and their mime type. */
export interface Avatar {
  data: Uint8Array | ArrayBuffer | Blob
  mime: string
}

/** Uploads an avatar through a presigned PUT and resolves with the key an invite or update names it by. */
export async function uploadAvatar(
  client: Pick<ChatClient, 'request'>,
  { data, mime }: Avatar,
): Promise<string> {
  const blob = data instanceof Blob ? data : new Blob([new Uint8Array(data)])
  const upload = await client.request('avatar', { mime, size: blob.size })
  // A browser rejects a blocked upload (CORS, the network) with a bare TypeError: it becomes a ChatError too.
  const response = await fetch(upload.url, {
    method: upload.method,
    headers: upload.headers,
    body: blob,
  }).catch((error: unknown) => {
    const why = error instanceof Error ? error.message : String(error)
    throw new ChatError('UPLOAD_FAILED', `the avatar upload to ${new URL(upload.url).origin} failed: ${why}`)
  })
  if (!response.ok) throw new ChatError('UPLOAD_FAILED', `the avatar upload was answered ${response.status}`)
  return upload.key
}
