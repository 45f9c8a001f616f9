import type { PresenceChange, PresenceChanges } from '../core/ports.js'
import type { SignedHttp } from './signed-http.js'

/**
 * Sends presence changes to an SQS queue (SendMessage, JSON protocol), each delayed by DelaySeconds: SQS holds
 * it that long for nothing, where a function waiting out the grace period would be billed for it. The queue
 * triggers the presence worker.
 */
export class SqsPresenceChanges implements PresenceChanges {
  /** `http` is signed for service `sqs` at https://sqs.{region}.amazonaws.com. */
  constructor(
    private readonly http: SignedHttp,
    private readonly queueUrl: string,
  ) {}

  async schedule(change: PresenceChange, delaySeconds: number): Promise<void> {
    const request = {
      QueueUrl: this.queueUrl,
      MessageBody: JSON.stringify(change),
      DelaySeconds: delaySeconds,
    }
    await this.http.post('SendMessage', '/', Buffer.from(JSON.stringify(request), 'utf8'), {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'AmazonSQS.SendMessage',
    })
  }
}
