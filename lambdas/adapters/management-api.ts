import type { EventSender } from '../core/ports.js'
import { escapeUri, SignedHttp, type SignedHttpOptions } from './signed-http.js'

/**
 * Posts events to connections through the API Gateway management API (POST @connections/{id}), signed
 * requests of its own (signed-http.ts): a fan-out's CPU is mostly posts, and the SDK client's stack cost
 * about four times the post itself.
 */
export class SignedPostSender implements EventSender {
  private readonly http: SignedHttp

  /** `endpoint` is the callback URL with its stage: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}. */
  constructor(options: Omit<SignedHttpOptions, 'service'>) {
    this.http = new SignedHttp({ ...options, service: 'execute-api' })
  }

  async send(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    // Encoded as the SDK encodes a path label: connection ids hold '=' (and could hold '/').
    const status = await this.http.post(
      `PostToConnection ${connectionId}`,
      `/@connections/${escapeUri(connectionId)}`,
      Buffer.from(data, 'utf8'),
      { 'content-type': 'application/octet-stream' },
      [410],
    )
    return status === 410 ? 'gone' : 'sent'
  }

  close(): void {
    this.http.close()
  }
}
