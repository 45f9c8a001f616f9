import type { Connection } from './connection.js'
import { putUpload } from './upload.js'

/** An avatar to upload with a group: raw image bytes and their mime type. */
export interface Avatar {
  data: Uint8Array | ArrayBuffer | Blob
  mime: string
}

/** Uploads an avatar through a presigned PUT and resolves with the key an invite or update names it by. */
export async function uploadAvatar(
  connection: Pick<Connection, 'request'>,
  { data, mime }: Avatar,
): Promise<string> {
  const blob = data instanceof Blob ? data : new Blob([new Uint8Array(data)])
  const upload = await connection.request('avatar', { mime, size: blob.size })
  await putUpload(upload, blob, 'avatar')
  return upload.key
}
