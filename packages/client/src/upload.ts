import { ChatError } from './error.js'
import type { AckResults } from './protocol.js'

/** A presigned upload as the server grants it: for an avatar or for one file of a message. */
export type PresignedUpload = AckResults['avatar'] | AckResults['attachment']

/** PUTs `body` with exactly the headers the server signed; a refused or blocked upload is UPLOAD_FAILED. */
export async function putUpload(upload: PresignedUpload, body: Blob | Uint8Array<ArrayBuffer>, what: string) {
  // A browser rejects a blocked upload (CORS, the network) with a bare TypeError: it becomes a ChatError too.
  const response = await fetch(upload.url, {
    method: upload.method,
    headers: upload.headers,
    body,
  }).catch((error: unknown) => {
    const why = error instanceof Error ? error.message : String(error)
    throw new ChatError('UPLOAD_FAILED', `the ${what} upload to ${new URL(upload.url).origin} failed: ${why}`)
  })
  if (!response.ok) throw new ChatError('UPLOAD_FAILED', `the ${what} upload was answered ${response.status}`)
}
