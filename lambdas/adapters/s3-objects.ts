import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { ObjectStore } from '../core/ports.js'

const uploadSeconds = 5 * 60
const downloadSeconds = 60 * 60
/** Enough to tell PNG, JPEG, GIF and WebP apart. */
const headBytes = 16

/** Avatars and attached files in a private bucket, reached only through short-lived presigned URLs. */
export class S3Objects implements ObjectStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async presignUpload(key: string, mime: string, size: number) {
    // Content type and length are signed, so the upload must be exactly what was asked for.
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ContentType: mime,
      ContentLength: size,
    })
    const url = await getSignedUrl(this.s3, command, {
      expiresIn: uploadSeconds,
      signableHeaders: new Set(['content-type', 'content-length']),
    })
    return { url, headers: { 'Content-Type': mime }, expires: inSeconds(uploadSeconds) }
  }

  async inspect(key: string): Promise<{ size: number; mime: string; head: Uint8Array } | undefined> {
    try {
      const object = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${headBytes - 1}` }),
      )
      const head = (await object.Body?.transformToByteArray()) ?? new Uint8Array()
      // A ranged read tells the whole size after the slash: "bytes 0-15/20480".
      const size = Number(object.ContentRange?.split('/')[1] ?? object.ContentLength ?? head.length)
      return { size, mime: object.ContentType ?? '', head }
    } catch (error) {
      if (!(error instanceof Error)) throw error
      if (error.name === 'NoSuchKey' || error.name === 'NotFound') return undefined
      // An empty object has no byte 0 to start a range at.
      if (error.name === 'InvalidRange') return { size: 0, mime: '', head: new Uint8Array() }
      throw error
    }
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
      return (await object.Body?.transformToByteArray()) ?? new Uint8Array()
    } catch (error) {
      if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound'))
        return undefined
      throw error
    }
  }

  async copy(from: string, to: string): Promise<void> {
    await this.s3.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: to,
        CopySource: `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
      }),
    )
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
  }

  async presignDownload(key: string) {
    const url = await getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: downloadSeconds,
    })
    return { url, expires: inSeconds(downloadSeconds) }
  }
}

function inSeconds(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString()
}
