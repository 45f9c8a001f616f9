import { timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { Sha256 } from '@smithy/core/checksum'
import { SignatureV4 } from '@smithy/signature-v4'

/** A request as it arrived, with its whole body (the signature covers the payload's hash). */
export interface ArrivedRequest {
  method: string
  /** Path and query, exactly as sent. */
  url: string
  headers: IncomingHttpHeaders
  body: Uint8Array
}

/** Why AWS refuses a request before it looks at permissions; the names are AWS's error codes. */
export type SignatureRefusal =
  | 'MissingAuthenticationToken'
  | 'IncompleteSignature'
  | 'UnrecognizedClient'
  | 'InvalidSignature'
  | 'SignatureExpired'

export type SignatureCheck =
  | { ok: true; accessKeyId: string }
  | { ok: false; refusal: SignatureRefusal; message: string }

const authorization =
  /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/([^/\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;.-]+),\s*Signature=([0-9a-f]{64})$/
const maxSkewMs = 15 * 60 * 1000

/**
 * Checks a header-signed SigV4 request the way AWS does, by signing it again with the key's secret
 * (@smithy/signature-v4, the SDK's own signer) and comparing: the scope must name `service` and `region`,
 * the time must be within 15 minutes, and the signature must match.
 */
export class SignatureVerifier {
  private readonly signers = new Map<string, SignatureV4>()

  constructor(
    private readonly service: string,
    private readonly region: string,
    private readonly secretOf: (accessKeyId: string) => string | undefined,
  ) {}

  async check(request: ArrivedRequest): Promise<SignatureCheck> {
    const header = request.headers.authorization
    if (header === undefined) {
      return { ok: false, refusal: 'MissingAuthenticationToken', message: 'Missing Authentication Token' }
    }
    const match = authorization.exec(header)
    if (!match) {
      return {
        ok: false,
        refusal: 'IncompleteSignature',
        message: 'Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256)',
      }
    }
    const [, accessKeyId = '', day, region, service, signedHeaders = '', signature = ''] = match
    const secret = this.secretOf(accessKeyId)
    if (secret === undefined) {
      return {
        ok: false,
        refusal: 'UnrecognizedClient',
        message: 'The security token included in the request is invalid.',
      }
    }
    const signedAt = parseAmzDate(String(request.headers['x-amz-date'] ?? ''))
    if (region !== this.region || service !== this.service || signedAt === undefined) {
      return {
        ok: false,
        refusal: 'InvalidSignature',
        message: `Credential should be scoped to a valid date, region ${this.region} and service ${this.service}`,
      }
    }
    if (Math.abs(Date.now() - signedAt.getTime()) > maxSkewMs || !day || !isoDay(signedAt).startsWith(day)) {
      return { ok: false, refusal: 'SignatureExpired', message: 'Signature expired or not yet valid' }
    }

    const url = new URL(request.url, 'http://signed')
    const headers: Record<string, string> = {}
    for (const name of signedHeaders.split(';')) {
      const value = request.headers[name]
      headers[name] = Array.isArray(value) ? value.join(',') : (value ?? '')
    }
    const query: Record<string, string | string[]> = {}
    for (const [name, value] of url.searchParams) {
      const seen = query[name]
      query[name] = seen === undefined ? value : [...[seen].flat(), value]
    }
    const resigned = await this.signer(accessKeyId, secret).sign(
      {
        method: request.method,
        protocol: 'http:',
        hostname: url.hostname,
        path: url.pathname,
        query,
        headers,
        body: request.body,
      },
      { signingDate: signedAt },
    )
    const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization))?.[1] ?? ''
    if (
      expected.length === signature.length &&
      timingSafeEqual(Buffer.from(expected), Buffer.from(signature))
    ) {
      return { ok: true, accessKeyId }
    }
    return {
      ok: false,
      refusal: 'InvalidSignature',
      message:
        'The request signature we calculated does not match the signature you provided. ' +
        'Check your AWS Secret Access Key and signing method.',
    }
  }

  /** One signer per key, so that its derived signing keys are cached across requests. */
  private signer(accessKeyId: string, secretAccessKey: string): SignatureV4 {
    let signer = this.signers.get(accessKeyId)
    if (!signer) {
      signer = new SignatureV4({
        credentials: { accessKeyId, secretAccessKey },
        region: this.region,
        service: this.service,
        sha256: Sha256,
        uriEscapePath: this.service !== 's3',
      })
      this.signers.set(accessKeyId, signer)
    }
    return signer
  }
}

/** "20260126T101500Z" → a Date. */
function parseAmzDate(value: string): Date | undefined {
  const parts = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (!parts) return undefined
  const [, y, mo, d, h, mi, s] = parts
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`)
  return Number.isNaN(date.getTime()) ? undefined : date
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10).replaceAll('-', '')
}
