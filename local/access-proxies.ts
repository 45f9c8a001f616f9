import { randomUUID } from 'node:crypto'
import {
  Agent,
  createServer,
  request as forward,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { denialMessage, type Grants, localAccount, type Principal } from './grants.js'
import { SignatureVerifier } from './sigv4.js'

/** A local stand-in for IAM in front of an emulator: it lets through only what the signer was granted. */
export interface AccessProxy {
  endpoint: string
  close(): Promise<void>
}

/** DynamoDB's largest request (a 16 MB BatchWriteItem) with room to spare. */
const dynamoBodyLimit = 17 * 1024 * 1024

/**
 * In front of DynamoDB Local (which accepts any request): verifies each request's SigV4 signature and
 * answers what DynamoDB answers when the signer's grants do not cover the call (400
 * AccessDeniedException), so that a function missing a grant fails locally as it would in AWS.
 */
export async function startDynamoDbProxy(
  upstream: string,
  grants: Grants,
  log: (line: string) => void,
): Promise<AccessProxy> {
  const target = new URL(upstream)
  const agent = new Agent({ keepAlive: true })
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
      pass(request, response, body, target, agent, { authorization })
    })().catch((error: unknown) => {
      log(`DynamoDB proxy: ${error instanceof Error ? error.message : error}`)
      response.destroy()
    })
  })
  return listen(server, agent)
}

/**
 * In front of the S3 emulator: S3rver checks signatures (every function's key pair is registered there),
 * this checks what it cannot, the object key prefixes each function may read and write, and answers 403
 * AccessDenied as S3 does. Bodies are streamed, never held.
 */
export async function startS3Proxy(
  upstream: string,
  grants: Grants,
  log: (line: string) => void,
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
