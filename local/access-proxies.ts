import { randomUUID } from 'node:crypto'
import {
  Agent,
  createServer,
  request as forward,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import {
  type AwsBehaviourCounters,
  type AwsBehaviours,
  awsLikeBehaviours,
  InFlightTransactions,
  newCounters,
} from './aws-behaviours.js'
import { type Denial, denialMessage, type Grants, localAccount, type Principal } from './grants.js'
import { type Admission, meterAnswer, PartitionLimits } from './partition-limits.js'
import { SignatureVerifier } from './sigv4.js'
import { isEventualRead, itemKey, LaggingReplica, staleAnswer, writtenItems } from './stale-reads.js'

/** A local stand-in for IAM in front of an emulator: it lets through only what the signer was granted. */
export interface AccessProxy {
  endpoint: string
  close(): Promise<void>
}

/** The AWS behaviours a proxy reproduces, and the counters of what it injected (shared by both proxies). */
export interface ProxyBehaviours {
  behaviours: AwsBehaviours
  counters: AwsBehaviourCounters
}

const defaultBehaviours = (): ProxyBehaviours => ({ behaviours: awsLikeBehaviours, counters: newCounters() })

/** DynamoDB's largest request (a 16 MB BatchWriteItem) with room to spare. */
const dynamoBodyLimit = 17 * 1024 * 1024

/**
 * In front of DynamoDB Local (which accepts any request): verifies each request's SigV4 signature and
 * answers what DynamoDB answers when the signer's grants do not cover the call (400
 * AccessDeniedException), so that a function missing a grant fails locally as it would in AWS. It also
 * reproduces DynamoDB's transaction conflicts (local/aws-behaviours.ts), which DynamoDB Local never raises,
 * and its throughput limit per partition (local/partition-limits.ts).
 */
export async function startDynamoDbProxy(
  upstream: string,
  grants: Grants,
  log: (line: string) => void,
  aws: ProxyBehaviours = defaultBehaviours(),
): Promise<AccessProxy> {
  const target = new URL(upstream)
  const agent = new Agent({ keepAlive: true })
  const transactions = new InFlightTransactions(aws.behaviours, aws.counters)
  const limits = new PartitionLimits(aws.behaviours, aws.counters)
  const { staleReadLagMs, staleReadRate } = aws.behaviours
  const replica = staleReadLagMs > 0 && staleReadRate > 0 ? new LaggingReplica(staleReadLagMs) : undefined
  const answerAsDynamo = (response: ServerResponse, body: Record<string, unknown>) => {
    response
      .writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() })
      .end(JSON.stringify(body))
  }
  const verifier = new SignatureVerifier('dynamodb', localAccount.region, (id) => grants.secretOf(id))

  const refuse = (response: ServerResponse, type: string, message: string) => {
    response
      .writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() })
      .end(JSON.stringify({ __type: `com.amazon.coral.service#${type}`, Message: message }))
  }

  const server = createServer((request, response) => {
    void (async () => {
      const body = await readAll(request, dynamoBodyLimit)
      const signed = await verifier.check({
        method: request.method ?? 'POST',
        url: request.url ?? '/',
        headers: request.headers,
        body,
      })
      if (!signed.ok) return refuse(response, `${signed.refusal}Exception`, signed.message)
      const principal = grants.principalOf(signed.accessKeyId) as Principal
      const operation = String(request.headers['x-amz-target'] ?? '').split('.')[1] ?? ''
      let input: unknown
      try {
        input = JSON.parse(body.toString('utf8') || '{}')
      } catch {
        return refuse(response, 'SerializationException', 'the request body is not JSON')
      }
      const denial = grants.dynamo(
        principal,
        operation,
        typeof input === 'object' && input !== null ? input : {},
      )
      if (denial) {
        const message = denialMessage(principal, denial)
        log(`AccessDenied: ${message}`)
        return refuse(response, 'AccessDeniedException', message)
      }
      // DynamoDB Local checks no signature, but refuses key ids other than letters and digits: it is told
      // the account's own, now that the call is known to be allowed.
      const authorization = String(request.headers.authorization).replace(
        `Credential=${signed.accessKeyId}/`,
        `Credential=${localAccount.admin.accessKeyId}/`,
      )
      const admission = limits.admit(operation, input)
      if (admission?.refusal) return answerAsDynamo(response, admission.refusal.body)
      if (admission?.cut) return passCut(request, response, target, agent, authorization, admission.cut)
      // A read's units past the least it was charged, from the size of what DynamoDB answers.
      const metered =
        (intercept?: (answer: IncomingMessage) => boolean) =>
        (answer: IncomingMessage): boolean => {
          if (admission?.charge && answer.statusCode === 200) meterAnswer(answer, admission.charge)
          return intercept?.(answer) ?? false
        }
      if (operation === 'TransactWriteItems') {
        const refusal = transactions.begin(input)
        if (refusal) return answerAsDynamo(response, refusal.body)
      } else if (operation === 'PutItem' || operation === 'UpdateItem' || operation === 'DeleteItem') {
        const refusal = transactions.write(input)
        if (refusal) return answerAsDynamo(response, refusal.body)
      }
      const headers = { authorization }
      if (replica) {
        const written = writtenItems(operation, input)
        if (written.size > 0) {
          // What each item was before the write, for the replica to serve until it catches up.
          const before = await currentItems(target, agent, authorization, written)
          return pass(request, response, body, target, agent, headers, (answer) => {
            if (answer.statusCode === 200) replica.record(before)
            return false
          })
        }
        const { staleReadRate } = aws.behaviours
        if (replica.lagging && isEventualRead(operation, input) && Math.random() < staleReadRate) {
          return pass(
            request,
            response,
            body,
            target,
            agent,
            headers,
            metered((answer) =>
              serveStale(
                answer,
                response,
                (current) => staleAnswer(replica, operation, input, current),
                () => aws.counters.staleReads++,
              ),
            ),
          )
        }
      }
      pass(request, response, body, target, agent, headers, metered())
    })().catch((error: unknown) => {
      log(`DynamoDB proxy: ${error instanceof Error ? error.message : error}`)
      response.destroy()
    })
  })
  return listen(server, agent)
}

/**
 * Forwards a batch cut short by the partition limits (its other items are the caller's to send again) and
 * answers with what `cut.answer` makes of DynamoDB's answer. It is answered current, never by the lagging
 * replica, which does not record its writes either: a rare batch, a little kinder than AWS.
 */
function passCut(
  request: IncomingMessage,
  response: ServerResponse,
  target: URL,
  agent: Agent,
  authorization: string,
  cut: NonNullable<Admission['cut']>,
): void {
  const body = Buffer.from(JSON.stringify(cut.input), 'utf8')
  const headers = { authorization, 'content-length': String(body.length) }
  pass(request, response, body, target, agent, headers, (answer) => {
    if (answer.statusCode !== 200) return false
    readAll(answer, dynamoBodyLimit).then(
      (text) => {
        const merged = JSON.stringify(cut.answer(JSON.parse(text.toString('utf8'))))
        const { 'x-amz-crc32': _, 'content-length': __, ...rest } = answer.headers
        response.writeHead(200, { ...rest, 'content-length': Buffer.byteLength(merged) }).end(merged)
      },
      () => response.destroy(),
    )
    return true
  })
}

/**
 * The items a write is about to change, as one consistent BatchGetItem to DynamoDB Local reads them (absent
 * ones as undefined), sent with the caller's Authorization header, which DynamoDB Local does not check.
 */
async function currentItems(
  target: URL,
  agent: Agent,
  authorization: string,
  written: ReturnType<typeof writtenItems>,
): Promise<Map<string, Record<string, unknown> | undefined>> {
  const entries = [...written]
  const before = new Map<string, Record<string, unknown> | undefined>()
  for (let i = 0; i < entries.length; i += 100) {
    const chunk = entries.slice(i, i + 100)
    const RequestItems: Record<string, { Keys: unknown[]; ConsistentRead: true }> = {}
    for (const [, { table, key }] of chunk) {
      RequestItems[table] ??= { Keys: [], ConsistentRead: true }
      RequestItems[table].Keys.push(key)
    }
    const answer = (await callDynamo(target, agent, authorization, 'BatchGetItem', { RequestItems })) as {
      Responses?: Record<string, Record<string, unknown>[]>
      UnprocessedKeys?: Record<string, unknown>
    }
    if (Object.keys(answer.UnprocessedKeys ?? {}).length > 0) continue
    const found = new Map(
      Object.entries(answer.Responses ?? {}).flatMap(([table, items]) =>
        items.map((item) => [itemKey(table, item), item] as const),
      ),
    )
    for (const [key] of chunk) before.set(key, found.get(key))
  }
  return before
}

/** One call to DynamoDB Local's JSON API; its parsed answer, or an error naming its status. */
function callDynamo(
  target: URL,
  agent: Agent,
  authorization: string,
  operation: string,
  input: unknown,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(input)
    const outgoing = forward(
      {
        hostname: target.hostname,
        port: target.port,
        method: 'POST',
        path: '/',
        headers: {
          authorization,
          'content-type': 'application/x-amz-json-1.0',
          'content-length': Buffer.byteLength(body),
          'x-amz-target': `DynamoDB_20120810.${operation}`,
        },
        agent,
      },
      (answer) => {
        readAll(answer, dynamoBodyLimit).then((text) => {
          if (answer.statusCode === 200) resolve(JSON.parse(text.toString('utf8')))
          else reject(new Error(`${operation} answered ${answer.statusCode}: ${text}`))
        }, reject)
      },
    )
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

/**
 * Answers a read with what `rewrite` makes of DynamoDB's answer (the lagging replica's view), or with the
 * answer itself when the replica has nothing older to give; `served` counts a stale answer.
 */
function serveStale(
  answer: IncomingMessage,
  response: ServerResponse,
  rewrite: (current: Record<string, unknown>) => Record<string, unknown> | undefined,
  served: () => void,
): boolean {
  if (answer.statusCode !== 200) return false
  readAll(answer, dynamoBodyLimit).then(
    (text) => {
      const stale = rewrite(JSON.parse(text.toString('utf8')))
      if (stale) served()
      const body = stale ? JSON.stringify(stale) : text
      // The checksum DynamoDB sends covers the body it sent, not this one.
      const { 'x-amz-crc32': _, 'content-length': __, ...headers } = answer.headers
      response.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body)
    },
    () => response.destroy(),
  )
  return true
}

/**
 * In front of the S3 emulator: S3rver checks signatures (every function's key pair is registered there),
 * this checks what it cannot, the object key prefixes each function may read and write, and answers 403
 * AccessDenied as S3 does. Bodies are streamed, never held. With `s3MissingKeyDenied` it turns the
 * emulator's 404 NoSuchKey for a function that may not list the bucket into S3's 403 AccessDenied.
 */
export async function startS3Proxy(
  upstream: string,
  grants: Grants,
  log: (line: string) => void,
  aws: ProxyBehaviours = defaultBehaviours(),
): Promise<AccessProxy> {
  const target = new URL(upstream)
  const agent = new Agent({ keepAlive: true })
  const server = createServer((request, response) => {
    const method = request.method ?? 'GET'
    const url = new URL(request.url ?? '/', 'http://s3')
    const accessKeyId = s3AccessKeyId(request, url)
    // Unsigned requests (CORS preflights, or refused ones) go on: the emulator answers them as S3 would.
    if (accessKeyId !== undefined && method !== 'OPTIONS') {
      const principal = grants.principalOf(accessKeyId)
      const denial = principal
        ? grants.s3(principal, method, url, request.headers)
        : { action: `s3:${method}`, resource: `arn:aws:s3:::${url.pathname.slice(1)}` }
      if (denial) {
        const message = principal
          ? denialMessage(principal, denial)
          : `The access key ${accessKeyId} is not one this gateway's functions were given`
        log(`AccessDenied: ${message}`)
        request.resume()
        response.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() })
        return response.end(method === 'HEAD' ? undefined : s3ErrorXml('AccessDenied', message))
      }
      const listing = principal && missingKeyListing(grants, principal, method, url)
      if (aws.behaviours.s3MissingKeyDenied && principal && listing) {
        const message = denialMessage(principal, listing)
        return pass(request, response, request, target, agent, {}, (answer) => {
          if (answer.statusCode !== 404) return false
          aws.counters.missingKeyDenials++
          answer.resume()
          response.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() })
          response.end(method === 'HEAD' ? undefined : s3ErrorXml('AccessDenied', message))
          return true
        })
      }
    }
    pass(request, response, request, target, agent)
  })
  return listen(server, agent)
}

/** S3's error document. */
export function s3ErrorXml(code: string, message: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>${randomUUID()}</RequestId></Error>`
  )
}

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

/**
 * For an object GET or HEAD by a function: the s3:ListBucket denial that makes S3 answer 403 rather than 404
 * when the key is missing, or undefined when the function may list the bucket. The request carries no
 * s3:prefix, so a ListBucket grant conditioned on a prefix (all the CDK stack gives) does not count.
 */
function missingKeyListing(
  grants: Grants,
  principal: Principal,
  method: string,
  url: URL,
): Denial | undefined {
  if (principal.kind !== 'function' || (method !== 'GET' && method !== 'HEAD')) return undefined
  const bucket = url.pathname.slice(1).split('/')[0] ?? ''
  if (bucket === '' || url.pathname.slice(1 + bucket.length).replace(/^\//, '') === '') return undefined
  return grants.s3(principal, 'GET', new URL(`/${bucket}`, 'http://s3'), {})
}

/** The key id a request was signed with: from the Authorization header, or a presigned URL's query. */
function s3AccessKeyId(request: IncomingMessage, url: URL): string | undefined {
  const credential =
    /Credential=([^/,\s]+)\//.exec(request.headers.authorization ?? '')?.[1] ??
    url.searchParams.get('X-Amz-Credential')?.split('/')[0] ??
    /^AWS ([^:]+):/.exec(request.headers.authorization ?? '')?.[1] ??
    url.searchParams.get('AWSAccessKeyId') ??
    undefined
  return credential || undefined
}

/**
 * Sends the request on unchanged (its Host header too, which the signature covers) and the answer back.
 * When the emulator is down the caller's connection is dropped, as a refused connection would be.
 */
function pass(
  request: IncomingMessage,
  response: ServerResponse,
  body: Buffer | IncomingMessage,
  target: URL,
  agent: Agent,
  replacedHeaders: Record<string, string> = {},
  /** Sees the emulator's answer first; true when it answered the caller itself. */
  intercept?: (answer: IncomingMessage) => boolean,
): void {
  const outgoing = forward(
    {
      hostname: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers: { ...request.headers, ...replacedHeaders },
      agent,
    },
    (answer) => {
      if (intercept?.(answer)) return
      response.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(response)
    },
  )
  outgoing.on('error', () => response.destroy())
  response.on('close', () => {
    if (!response.writableFinished) outgoing.destroy()
  })
  if (Buffer.isBuffer(body)) outgoing.end(body)
  else body.pipe(outgoing)
}

function readAll(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) request.destroy(new Error(`request body over ${limit} bytes`))
      else chunks.push(chunk)
    })
    request.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)))
    request.once('error', reject)
  })
}

async function listen(server: Server, agent: Agent): Promise<AccessProxy> {
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', done)
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port')
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: async () => {
      const closed = new Promise((done) => server.close(done))
      server.closeAllConnections()
      agent.destroy()
      await closed
    },
  }
}
