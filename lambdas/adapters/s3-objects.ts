import type { ObjectStore } from '../core/ports.js'
import {
  AwsRequestError,
  errorDocument,
  escapeUri,
  SignedHttp,
  type SignedHttpOptions,
} from './signed-http.js'
import type { CredentialsProvider } from './sigv4.js'

const uploadSeconds = 5 * 60
const downloadSeconds = 60 * 60
/** Enough to tell PNG, JPEG, GIF and WebP apart. */
const headBytes = 16

export interface S3ObjectsOptions {
  bucket: string
  /** The bucket's region: it names the bucket's host on AWS and signs every request. */
  region: string
  credentials: CredentialsProvider
  /** A custom endpoint (the local emulator): objects are addressed under it by path, `<endpoint>/<bucket>/<key>`. */
  endpoint?: string
  /** The partition's domain in the bucket's host on AWS (amazonaws.com.cn in China); amazonaws.com by default. */
  urlSuffix?: string
  /**
   * The key prefixes this function may read (GetObject): reading a key under them that S3 answers 403
   * AccessDenied is reading a missing key (see `missing`). Without them only NoSuchKey is missing.
   */
  readable?: readonly string[]
  /** As SignedHttp takes them (tests). */
  maxAttempts?: SignedHttpOptions['maxAttempts']
  sleep?: SignedHttpOptions['sleep']
}

/**
 * Avatars and attached files in a private bucket, reached only through short-lived presigned URLs. It
 * speaks S3's REST API through SignedHttp rather than the SDK's client, which would weigh a third of each
 * route's bundle: its URLs are the client's (virtual-hosted on AWS, path style under a custom endpoint)
 * and its presigned URLs are those the SDK's presigner makes.
 */
export class S3Objects implements ObjectStore {
  private readonly http: SignedHttp
  private readonly bucket: string
  private readonly readable: readonly string[]
  /** The bucket's own path: the root of its host on AWS, its name under a custom endpoint (no slash after). */
  private readonly bucketPath: string

  constructor(options: S3ObjectsOptions) {
    this.bucket = options.bucket
    this.readable = options.readable ?? []
    this.bucketPath = options.endpoint ? '' : '/'
    const endpoint = options.endpoint
      ? `${options.endpoint.replace(/\/+$/, '')}/${options.bucket}`
      : `https://${options.bucket}.s3.${options.region}.${options.urlSuffix ?? 'amazonaws.com'}`
    this.http = new SignedHttp({
      endpoint,
      service: 's3',
      // S3 signs the path as sent, its keys encoded once.
      uriEscapePath: false,
      region: options.region,
      credentials: options.credentials,
      ...(options.maxAttempts !== undefined && { maxAttempts: options.maxAttempts }),
      ...(options.sleep && { sleep: options.sleep }),
    })
  }

  async presignUpload(key: string, mime: string, size: number) {
    // Content type and length are signed, so the upload must be exactly what was asked for.
    const url = await this.http.presign(
      {
        method: 'PUT',
        path: keyPath(key),
        query: { 'x-id': 'PutObject' },
        headers: { ...unsignedPayload, 'content-type': mime, 'content-length': String(size) },
      },
      { expiresIn: uploadSeconds, signableHeaders: new Set(['content-type', 'content-length']) },
    )
    return { url, headers: { 'Content-Type': mime }, expires: inSeconds(uploadSeconds) }
  }

  async inspect(key: string): Promise<{ size: number; mime: string; head: Uint8Array } | undefined> {
    try {
      const object = await this.http.send(`GetObject ${key}`, {
        method: 'GET',
        path: keyPath(key),
        query: { 'x-id': 'GetObject' },
        headers: { range: `bytes=0-${headBytes - 1}` },
      })
      const head = new Uint8Array(object.body)
      // A ranged read tells the whole size after the slash: "bytes 0-15/20480".
      const size = Number(object.headers['content-range']?.split('/')[1] ?? head.length)
      return { size, mime: object.headers['content-type'] ?? '', head }
    } catch (error) {
      if (!(error instanceof AwsRequestError)) throw error
      if (this.missing(key, error)) return undefined
      // An empty object has no byte 0 to start a range at.
      if (error.errorType === 'InvalidRange') return { size: 0, mime: '', head: new Uint8Array() }
      throw error
    }
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.http.send(`GetObject ${key}`, {
        method: 'GET',
        path: keyPath(key),
        query: { 'x-id': 'GetObject' },
      })
      return new Uint8Array(object.body)
    } catch (error) {
      if (error instanceof AwsRequestError && this.missing(key, error)) return undefined
      throw error
    }
  }

  async copy(from: string, to: string): Promise<void> {
    const operation = `CopyObject ${from} to ${to}`
    const answer = await this.http.send(operation, {
      method: 'PUT',
      path: keyPath(to),
      query: { 'x-id': 'CopyObject' },
      headers: { 'x-amz-copy-source': `${this.bucket}${keyPath(from)}` },
    })
    // A copy can fail after S3 has answered 200: the error is then the body.
    const text = answer.body.toString('utf8')
    if (text.includes('<Error>')) {
      const { code = 'InternalError', message = 'no message' } = errorDocument(text)
      throw new AwsRequestError(code, answer.status, 1, `${operation}: ${answer.status} ${code}: ${message}`)
    }
  }

  async delete(key: string): Promise<void> {
    await this.http.send(`DeleteObject ${key}`, {
      method: 'DELETE',
      path: keyPath(key),
      query: { 'x-id': 'DeleteObject' },
    })
  }

  async list(prefix: string): Promise<string[]> {
    const found: string[] = []
    let token: string | undefined
    do {
      const answer = await this.http.send(`ListObjectsV2 ${prefix}`, {
        method: 'GET',
        path: this.bucketPath,
        query: { 'list-type': '2', prefix, ...(token !== undefined && { 'continuation-token': token }) },
      })
      const text = answer.body.toString('utf8')
      for (const [, key = ''] of text.matchAll(/<Key>([^<]*)<\/Key>/g)) found.push(unescapeXml(key))
      const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(text)?.[1]
      token = next === undefined ? undefined : unescapeXml(next)
    } while (token !== undefined)
    return found
  }

  async presignDownload(key: string) {
    const url = await this.http.presign(
      {
        method: 'GET',
        path: keyPath(key),
        query: { 'x-id': 'GetObject' },
        // As the SDK's client asks by default: S3 answers with the object's checksum when it has one.
        headers: { ...unsignedPayload, 'x-amz-checksum-mode': 'ENABLED' },
      },
      { expiresIn: downloadSeconds },
    )
    return { url, expires: inSeconds(downloadSeconds) }
  }

  /** Closes the kept-open connections (tests); a Lambda function never needs to. */
  close(): void {
    this.http.close()
  }

  /**
   * Whether a read of `key` failed because nothing is there. S3 answers 404 NoSuchKey only to a caller
   * allowed s3:ListBucket; to one allowed only s3:GetObject it answers 403 AccessDenied for a missing key
   * (the functions may list only under a prefix condition), so a never-uploaded or expired upload is a 403.
   * A 403 on a key this function is granted to read can only mean that; outside its grant it stays an error.
   */
  private missing(key: string, error: AwsRequestError): boolean {
    if (error.errorType === 'NoSuchKey' || error.errorType === 'NotFound') return true
    const denied =
      error.errorType === 'AccessDenied' || (error.status === 403 && error.errorType === 'Http403Error')
    return denied && this.readable.some((prefix) => key.startsWith(prefix))
  }
}

/** What the SDK's presigner declares of a presigned request's body: none is hashed, whatever is uploaded. */
const unsignedPayload = { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' }

/** A key as the SDK sends it: each segment encoded strictly, the slashes kept. */
function keyPath(key: string): string {
  return `/${key.split('/').map(escapeUri).join('/')}`
}

/** Text from S3's XML, its five entities and numeric references decoded. */
function unescapeXml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16))
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)))
    return named[name] ?? entity
  })
}

function inSeconds(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString()
}
