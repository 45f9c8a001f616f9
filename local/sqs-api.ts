import { createHash, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { denialMessage, type Grants, localAccount, queueArn } from './grants.js'
import { readBody, sendJson } from './http.js'
import type { LocalLambdaApi } from './lambda-api.js'
import type { SignatureVerifier } from './sigv4.js'

/** SQS's limits on SendMessage (2025): a 256 KiB body, delayed by at most 15 minutes. */
export const sqsLimits = { bodyBytes: 256 * 1024, maxDelaySeconds: 900 } as const

export interface SqsApiOptions {
  /** The queues, each named after the worker it triggers. */
  queues: ReadonlySet<string>
  grants: Grants
  /** Checks SigV4 for service `sqs`. */
  verifier: SignatureVerifier
  /** Runs the worker a queue triggers (named after it) with each message, as SQS's event source does. */
  lambdaApi: Pick<LocalLambdaApi, 'queueAfter'>
  log: (line: string) => void
}

/** A local queue's URL at the gateway: `{gateway}/{account}/{queue}`, as SQS's are `https://sqs…/{account}/{queue}`. */
export function localQueueUrl(gatewayUrl: string, queue: string): string {
  return `${gatewayUrl}/${localAccount.id}/${queue}`
}

/**
 * SQS's SendMessage (JSON protocol: POST / with X-Amz-Target AmazonSQS.SendMessage) for the queues that
 * trigger workers: SigV4 (service `sqs`) and sqs:SendMessage checked first, the body and DelaySeconds
 * within SQS's limits; the message is handed to its worker as an SQS event of one record once its delay has
 * run, retried as an asynchronous invocation is (where SQS would make it visible again after its visibility
 * timeout, then move it to the dead-letter queue).
 */
export class LocalSqsApi {
  constructor(private readonly options: SqsApiOptions) {}

  async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { queues, grants, verifier, lambdaApi, log } = this.options
    const refuse = (status: number, type: string, message: string) => {
      log(`SQS API: refused ${target ?? 'a request'}: ${type}: ${message}`)
      response.setHeader('x-amzn-query-error', `${type};Sender`)
      sendJson(response, status, { __type: `com.amazonaws.sqs#${type}`, message })
    }
    const target = header(request, 'x-amz-target')
    const body = await readBody(request, sqsLimits.bodyBytes * 2).catch(() => undefined)
    if (body === undefined) return refuse(413, 'RequestEntityTooLarge', 'the request is too large')
    const signed = await verifier.check({
      method: request.method ?? 'POST',
      url: request.url ?? '/',
      headers: request.headers,
      body,
    })
    if (!signed.ok) return refuse(403, signed.refusal, signed.message)
    const principal = grants.principalOf(signed.accessKeyId)
    if (!principal)
      return refuse(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.')
    if (target !== 'AmazonSQS.SendMessage') {
      return refuse(400, 'UnsupportedOperation', `the local SQS API serves SendMessage only, not ${target}`)
    }
    const input = parseObject(body)
    const queue = typeof input?.QueueUrl === 'string' ? input.QueueUrl.split('/').pop() : undefined
    if (input === undefined || queue === undefined) {
      return refuse(400, 'InvalidParameterValue', 'the body must be a JSON object with a QueueUrl')
    }
    if (!queues.has(queue)) {
      return refuse(400, 'QueueDoesNotExist', `The specified queue does not exist: ${queue}`)
    }
    const denial = grants.sendMessage(principal, queue)
    if (denial) return refuse(403, 'AccessDenied', denialMessage(principal, denial))
    const message = input.MessageBody
    if (
      typeof message !== 'string' ||
      message.length === 0 ||
      Buffer.byteLength(message) > sqsLimits.bodyBytes
    ) {
      return refuse(400, 'InvalidParameterValue', `MessageBody must be 1 to ${sqsLimits.bodyBytes} bytes`)
    }
    const delay = input.DelaySeconds ?? 0
    if (!Number.isInteger(delay) || (delay as number) < 0 || (delay as number) > sqsLimits.maxDelaySeconds) {
      return refuse(
        400,
        'InvalidParameterValue',
        `DelaySeconds must be an integer from 0 to ${sqsLimits.maxDelaySeconds}`,
      )
    }
    const messageId = randomUUID()
    const event = {
      Records: [
        {
          messageId,
          receiptHandle: messageId,
          body: message,
          attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
          messageAttributes: {},
          md5OfBody: md5(message),
          eventSource: 'aws:sqs',
          eventSourceARN: queueArn(queue),
          awsRegion: localAccount.region,
        },
      ],
    }
    if (!lambdaApi.queueAfter(queue, event, (delay as number) * 1000, messageId)) {
      return refuse(500, 'InternalError', `no worker is started for queue ${queue}`)
    }
    sendJson(response, 200, { MessageId: messageId, MD5OfMessageBody: md5(message) })
  }
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex')
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
