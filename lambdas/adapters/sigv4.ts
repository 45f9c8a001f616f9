import { createHash, createHmac } from 'node:crypto'

/** An AWS identity's keys; a role's carry a session token. */
export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Where a signer gets its credentials, for each request (a provider caches them as long as they hold). */
export type CredentialsProvider = () => Promise<Credentials>

/** A request as it is signed: `path` URI-encoded as it is sent, `headers` with its `host`. */
export interface RequestToSign {
  method: string
  path: string
  query?: Record<string, string>
  headers: Record<string, string>
  body?: Uint8Array
}

export interface SignerOptions {
  /** The signing name: dynamodb, execute-api, lambda, s3. */
  service: string
  region: string
  credentials: CredentialsProvider
  /** Whether the path is normalised and encoded again in the canonical request (false for S3, which signs it as sent). */
  uriEscapePath?: boolean
}

/** How a URL is presigned: for how many seconds, and which headers to sign that SigV4 would leave out. */
export interface PresignOptions {
  expiresIn: number
  signableHeaders?: Set<string>
}

const algorithm = 'AWS4-HMAC-SHA256'
const contentSha256 = 'x-amz-content-sha256'
const emptySha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
/** A week: the longest a presigned URL may last. */
const maxExpiresIn = 7 * 24 * 60 * 60
/** Set by the signer itself, so never taken from the request. */
const generatedHeaders = new Set(['authorization', 'x-amz-date', 'date'])
/** Headers a proxy may change on the way, which SigV4 leaves out unless asked to sign them. */
const unsignableHeaders = new Set([
  'authorization',
  'cache-control',
  'connection',
  'expect',
  'from',
  'keep-alive',
  'max-forwards',
  'pragma',
  'referer',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
])

/**
 * AWS Signature Version 4 (HMAC-SHA256) for one service in one region: signs a request's headers, or
 * presigns its URL (the signature in the query). Its requests and URLs are those the SDK's signer
 * (@smithy/signature-v4) makes; the signing key is derived once a day and kept.
 */
export class SigV4Signer {
  private readonly service: string
  private readonly region: string
  private readonly credentials: CredentialsProvider
  private readonly uriEscapePath: boolean
  private signingKey: { day: string; secretAccessKey: string; key: Buffer } | undefined

  constructor(options: SignerOptions) {
    this.service = options.service
    this.region = options.region
    this.credentials = options.credentials
    this.uriEscapePath = options.uriEscapePath ?? true
  }

  /**
   * The headers to send: the request's own with `x-amz-date`, `x-amz-security-token` (for a session),
   * `x-amz-content-sha256` (the body's hash, unless the request gives one) and `authorization`.
   */
  async sign(request: RequestToSign, at = new Date()): Promise<Record<string, string>> {
    const credentials = await this.resolvedCredentials()
    const { longDate, day } = amzDate(at)
    const headers = withoutGenerated(request.headers)
    headers['x-amz-date'] = longDate
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken
    const payloadHash = headerValue(headers, contentSha256) ?? hashOf(request.body)
    if (headerValue(headers, contentSha256) === undefined) headers[contentSha256] = payloadHash
    const canonical = canonicalHeaders(headers)
    const scope = this.scope(day)
    const signature = this.signature(
      credentials,
      day,
      longDate,
      scope,
      this.canonicalRequest(request.method, request.path, request.query ?? {}, canonical, payloadHash),
    )
    headers.authorization =
      `${algorithm} Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaderList(canonical)}, Signature=${signature}`
    return headers
  }

  /**
   * The query of a presigned URL for `request`: its own query, its `x-amz-` headers moved into it, and
   * the signature; the headers that stay are signed, so the URL's holder must send them as given.
   */
  async presign(
    request: Omit<RequestToSign, 'body'>,
    options: PresignOptions,
    at = new Date(),
  ): Promise<Record<string, string>> {
    if (options.expiresIn > maxExpiresIn) {
      throw new Error('Signature version 4 presigned URLs must expire within a week')
    }
    const credentials = await this.resolvedCredentials()
    const { longDate, day } = amzDate(at)
    const query = { ...request.query }
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(withoutGenerated(request.headers))) {
      if (name.toLowerCase().startsWith('x-amz-')) query[name] = value
      else headers[name] = value
    }
    const scope = this.scope(day)
    if (credentials.sessionToken) query['X-Amz-Security-Token'] = credentials.sessionToken
    query['X-Amz-Algorithm'] = algorithm
    query['X-Amz-Credential'] = `${credentials.accessKeyId}/${scope}`
    query['X-Amz-Date'] = longDate
    query['X-Amz-Expires'] = String(options.expiresIn)
    const canonical = canonicalHeaders(headers, options.signableHeaders)
    query['X-Amz-SignedHeaders'] = signedHeaderList(canonical)
    // The payload's hash as the request declares it (S3's presigned requests: UNSIGNED-PAYLOAD).
    const payloadHash = headerValue(request.headers, contentSha256) ?? emptySha256
    query['X-Amz-Signature'] = this.signature(
      credentials,
      day,
      longDate,
      scope,
      this.canonicalRequest(request.method, request.path, query, canonical, payloadHash),
    )
    return query
  }

  private async resolvedCredentials(): Promise<Credentials> {
    const credentials = await this.credentials()
    if (typeof credentials?.accessKeyId !== 'string' || typeof credentials.secretAccessKey !== 'string') {
      throw new Error('The credentials provider gave no access key id and secret')
    }
    return credentials
  }

  private scope(day: string): string {
    return `${day}/${this.region}/${this.service}/aws4_request`
  }

  private canonicalRequest(
    method: string,
    path: string,
    query: Record<string, string>,
    headers: Map<string, string>,
    payloadHash: string,
  ): string {
    const headerLines = [...headers].map(([name, value]) => `${name}:${value}\n`).join('')
    return [
      method,
      this.uriEscapePath ? canonicalPath(path) : path,
      canonicalQuery(query),
      headerLines,
      signedHeaderList(headers),
      payloadHash,
    ].join('\n')
  }

  private signature(
    credentials: Credentials,
    day: string,
    longDate: string,
    scope: string,
    canonicalRequest: string,
  ): string {
    const stringToSign = `${algorithm}\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`
    return createHmac('sha256', this.keyFor(credentials, day)).update(stringToSign).digest('hex')
  }

  /** The day's signing key for this region and service, derived once while the secret stays the same. */
  private keyFor({ secretAccessKey }: Credentials, day: string): Buffer {
    const cached = this.signingKey
    if (cached?.day === day && cached.secretAccessKey === secretAccessKey) return cached.key
    let key: Buffer = Buffer.from(`AWS4${secretAccessKey}`, 'utf8')
    for (const part of [day, this.region, this.service, 'aws4_request']) {
      key = createHmac('sha256', key).update(part).digest()
    }
    this.signingKey = { day, secretAccessKey, key }
    return key
  }
}

/** RFC 3986's strict encoding, as SigV4 encodes a query and a path (and S3 a key's segments). */
export function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** "20260126T101500Z" and its day, "20260126". */
function amzDate(at: Date): { longDate: string; day: string } {
  const longDate = at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '')
  return { longDate, day: longDate.slice(0, 8) }
}

function withoutGenerated(headers: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!generatedHeaders.has(name.toLowerCase())) kept[name] = value
  }
  return kept
}

function headerValue(headers: Record<string, string>, wanted: string): string | undefined {
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() === wanted) return value
  return undefined
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

function hashOf(body: Uint8Array | undefined): string {
  return body === undefined ? emptySha256 : sha256Hex(body)
}

/** The signed headers, lower-cased and sorted, their values' whitespace folded. */
function canonicalHeaders(headers: Record<string, string>, signable?: Set<string>): Map<string, string> {
  const canonical = new Map<string, string>()
  for (const name of Object.keys(headers).sort()) {
    const value = headers[name]
    if (value === undefined || value === null) continue
    const lower = name.toLowerCase()
    const unsignable = unsignableHeaders.has(lower) || lower.startsWith('proxy-') || lower.startsWith('sec-')
    if (unsignable && !signable?.has(lower)) continue
    canonical.set(
      lower,
      value
        .replace(/[\r\n]/g, ' ')
        .replace(/[ \t]+/g, ' ')
        .replace(/^ | $/g, ''),
    )
  }
  return new Map([...canonical].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

function signedHeaderList(headers: Map<string, string>): string {
  return [...headers.keys()].join(';')
}

/** The path without empty, `.` and `..` segments, encoded once more (but its slashes). */
function canonicalPath(path: string): string {
  const segments: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') segments.pop()
    else segments.push(segment)
  }
  const normalised =
    (path.startsWith('/') ? '/' : '') +
    segments.join('/') +
    (segments.length > 0 && path.endsWith('/') ? '/' : '')
  return escapeUri(normalised).replace(/%2F/g, '/')
}

/** The query's pairs, encoded and sorted by name, without the signature itself. */
function canonicalQuery(query: Record<string, string>): string {
  const pairs = new Map<string, string>()
  for (const [name, value] of Object.entries(query)) {
    if (name.toLowerCase() === 'x-amz-signature') continue
    const encoded = escapeUri(name)
    pairs.set(encoded, `${encoded}=${escapeUri(value)}`)
  }
  return [...pairs.keys()]
    .sort()
    .map((name) => pairs.get(name))
    .join('&')
}
