import { fromBase64, toBase64 } from './bytes.js'
import type { Connection } from './connection.js'
import { ChatError } from './error.js'
import type { Attachment } from './protocol.js'
import { putUpload } from './upload.js'

/** A file to send with a message: its bytes, and the name and type the members are shown. */
export interface AttachmentFile {
  name: string
  mime: string
  data: Uint8Array | ArrayBuffer | Blob
}

/** A file encrypted for upload: the object's bytes and what a message says of them. */
interface SealedFile {
  ciphertext: Uint8Array<ArrayBuffer>
  digest: string
  secret: string
}

/** Files of one message encrypted and uploaded at the same time. */
const parallelUploads = 3
const keyBytes = 32
const ivBytes = 12
/** AES-GCM's tag: an object is this much larger than its file. */
const tagBytes = 16

/**
 * Encrypts one file with AES-256-GCM under a fresh key and IV. `secret` is base64 of the raw key followed by
 * the IV (44 bytes); `digest` is `sha256:` and the base64 of the ciphertext's SHA-256.
 */
export async function sealFile(plaintext: Uint8Array): Promise<SealedFile> {
  const { subtle } = crypto
  const raw = crypto.getRandomValues(new Uint8Array(keyBytes + ivBytes))
  const key = await subtle.importKey('raw', raw.subarray(0, keyBytes), 'AES-GCM', false, ['encrypt'])
  const iv = raw.subarray(keyBytes)
  const ciphertext = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, key, unshared(plaintext)))
  return { ciphertext, digest: await digestOf(ciphertext), secret: toBase64(raw) }
}

/**
 * Checks the downloaded object against `digest`, decrypts it with `secret` and checks its size: a mismatch
 * or a failed decrypt is BAD_ATTACHMENT, since the object is not the file its message names.
 */
export async function openFile(
  ciphertext: Uint8Array,
  { name, size, digest, secret }: Pick<Attachment, 'name' | 'size' | 'digest' | 'secret'>,
): Promise<Uint8Array> {
  const { subtle } = crypto
  const bytes = unshared(ciphertext)
  if ((await digestOf(bytes)) !== digest) {
    throw new ChatError('BAD_ATTACHMENT', `${name}: the downloaded object does not match its digest`)
  }
  const raw = fromBase64(secret)
  if (raw?.byteLength !== keyBytes + ivBytes) {
    throw new ChatError('BAD_ATTACHMENT', `${name}: its secret is not a key and an IV`)
  }
  const key = await subtle.importKey('raw', raw.subarray(0, keyBytes), 'AES-GCM', false, ['decrypt'])
  const plaintext = await subtle.decrypt({ name: 'AES-GCM', iv: raw.subarray(keyBytes) }, key, bytes).then(
    (decrypted) => new Uint8Array(decrypted),
    () => {
      throw new ChatError('BAD_ATTACHMENT', `${name}: the object does not decrypt with its secret`)
    },
  )
  if (bytes.byteLength !== size) {
    throw new ChatError(
      'BAD_ATTACHMENT',
      `${name}: ${bytes.byteLength} bytes, not the ${size} its message says`,
    )
  }
  return plaintext
}

/** Encrypts and uploads files for a message to group `gid`, a few at a time, in the order given. */
export async function uploadFiles(
  connection: Pick<Connection, 'request'>,
  gid: string,
  files: readonly AttachmentFile[],
): Promise<Attachment[]> {
  const uploaded: Attachment[] = []
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < files.length) {
      const index = next++
      try {
        uploaded[index] = await uploadFile(connection, gid, files[index] as AttachmentFile)
      } catch (error) {
        // The other workers stop taking files: the message will not be sent.
        failed = true
        throw error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallelUploads, files.length) }, worker))
  return uploaded
}

async function uploadFile(
  connection: Pick<Connection, 'request'>,
  gid: string,
  { name, mime, data }: AttachmentFile,
): Promise<Attachment> {
  const plaintext = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : new Uint8Array(data)
  const { ciphertext, digest, secret } = await sealFile(plaintext)
  const upload = await connection.request('attachment', { gid, size: ciphertext.byteLength })
  await putUpload(upload, ciphertext, 'attachment')
  return { key: upload.key, name, mime, size: ciphertext.byteLength, digest, secret }
}

/** A file a received message carries: its name, type and size, and a download that decrypts it. */
export class ChatAttachment {
  readonly gid: string
  /** The key the group keeps the object under. */
  readonly key: string
  readonly name: string
  readonly mime: string
  /** The file's size in bytes (its object, encrypted, is 16 bytes more: the size messages carry). */
  readonly size: number
  readonly digest: string
  /** The file's key and IV (base64 of 32 + 12 bytes); whoever holds it can read the file. */
  readonly secret: string
  readonly #connection: Pick<Connection, 'request'>

  constructor(connection: Pick<Connection, 'request'>, gid: string, attachment: Attachment) {
    this.#connection = connection
    this.gid = gid
    this.key = attachment.key
    this.name = attachment.name
    this.mime = attachment.mime
    this.size = Math.max(0, attachment.size - tagBytes)
    this.digest = attachment.digest
    this.secret = attachment.secret
  }

  /**
   * Downloads the object (a presigned GET, for joined members only), checks its digest and decrypts it;
   * DOWNLOAD_FAILED when the GET fails, BAD_ATTACHMENT when the bytes are not the file the message names.
   */
  async download(): Promise<Uint8Array> {
    const link = await this.#connection.request('download', { gid: this.gid, key: this.key })
    const response = await fetch(link.url).catch((error: unknown) => {
      const why = error instanceof Error ? error.message : String(error)
      throw new ChatError(
        'DOWNLOAD_FAILED',
        `${this.name}: the download from ${new URL(link.url).origin} failed: ${why}`,
      )
    })
    if (!response.ok) {
      throw new ChatError('DOWNLOAD_FAILED', `${this.name}: the download was answered ${response.status}`)
    }
    return openFile(new Uint8Array(await response.arrayBuffer()), this.toJSON())
  }

  /** The wire form, without the download: what an app may store and send again. */
  toJSON(): Attachment {
    const { key, name, mime, size, digest, secret } = this
    return { key, name, mime, size: size + tagBytes, digest, secret }
  }
}

async function digestOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return `sha256:${toBase64(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)))}`
}

/** The bytes over a plain ArrayBuffer (copied when they sit on a shared one), as WebCrypto's types ask. */
function unshared(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes)
}
