import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { AvatarStore } from '../core/ports.js'

const uploadSeconds = 5 * 60
const downloadSeconds = 60 * 60

/** Avatars in a private bucket, reached only through short-lived presigned URLs. */
export class S3Avatars implements AvatarStore {
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

  async describe(key: string): Promise<{ size: number; mime: string } | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return { size: head.ContentLength ?? 0, mime: head.ContentType ?? '' }
    } catch (error) {
      if (error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey'))
        return undefined
      throw error
    }
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
