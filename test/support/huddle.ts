import { createHash, randomBytes } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb'
import type { Attachment, ChatEvent, ServerFrame } from '@huddle/client/protocol'
import { inject } from 'vitest'
import WebSocket from 'ws'
import { dynamoStores } from '../../lambdas/adapters/dynamo/stores.js'
import { DynamoTable } from '../../lambdas/adapters/dynamo/table.js'
import type { Stores } from '../../lambdas/core/ports.js'
import { awsLikeBehaviours } from '../../local/aws-behaviours.js'
import { fetchDevToken } from '../../local/dev-tokens.js'
import { emulatorClientConfig, emulatorDynamoClient } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'

export const httpUrl = (): string => inject('httpUrl')
export const wsUrl = (): string => httpUrl().replace(/^http/, 'ws')

/** A name no other test uses, since every test file shares one database. */
export function unique(name: string): string {
  return `${name}-${randomBytes(4).toString('hex')}`
}

/**
 * Waits out the shared stack's replica lag: the membership index behind `groups` and `sync` is eventually
 * consistent (on AWS too), so a test that lists what it has just written reads it once the index has it.
 */
export function indexCaughtUp(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, awsLikeBehaviours.staleReadLagMs + 50))
}

export function tokenFor(sub: string, expiresIn?: number, base = httpUrl()): Promise<string> {
  return fetchDevToken(base, sub, expiresIn)
}

/** The HTTP status a WebSocket handshake ends with (101 when it is accepted). */
export async function handshakeStatus(url: string): Promise<number> {
  const socket = new WebSocket(url)
  return new Promise((resolve) => {
    socket.on('open', () => {
      socket.close()
      resolve(101)
    })
    socket.on('unexpected-response', (_, response) => resolve(response.statusCode ?? 0))
    socket.on('error', () => resolve(0))
  })
}

/** A tiny valid PNG (1×1, transparent). */
export const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
)

type Reply = Extract<ServerFrame, { type: 'ack' | 'error' }> & Record<string, unknown>

/** A raw WebSocket client speaking the wire protocol, recording every frame it receives. */
export class TestClient {
  readonly frames: unknown[] = []
  private nextId = 0
  private readonly waiters = new Set<() => void>()

  private constructor(
    readonly iss: string,
    readonly socket: WebSocket,
  ) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()))
      for (const wake of this.waiters) wake()
    })
    socket.on('close', () => {
      for (const wake of this.waiters) wake()
    })
  }

  /** Connects to the shared local stack, or to the gateway at `base`. */
  static async connect(iss: string, base = httpUrl()): Promise<TestClient> {
    const socket = new WebSocket(
      `${base.replace(/^http/, 'ws')}/?token=${await tokenFor(iss, undefined, base)}`,
    )
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return new TestClient(iss, socket)
  }

  /**
   * Sends one request and waits for the reply that carries its id, among the frames that came after it: a
   * raw frame sent earlier may have carried the same id (the fuzz test's do), and its reply is not this one.
   */
  async request(action: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    const id = `r${++this.nextId}`
    const seen = this.frames.length
    this.socket.send(JSON.stringify({ action, id, ...fields }))
    return (await this.waitFor((frame, index) => index >= seen && isReply(frame) && frame.id === id)) as Reply
  }

  /** Sends raw text and waits for the next reply frame. */
  async sendRaw(data: string | Buffer): Promise<Reply> {
    const seen = this.frames.length
    this.socket.send(data)
    return (await this.waitFor((frame, index) => index >= seen && isReply(frame))) as Reply
  }

  async ok(action: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    const reply = await this.request(action, fields)
    if (reply.type !== 'ack') throw new Error(`${action} failed: ${JSON.stringify(reply)}`)
    return reply
  }

  /** Uploads an avatar through the presigned flow; returns the key to invite with. */
  async uploadAvatar(bytes: Uint8Array<ArrayBuffer>, mime = 'image/png'): Promise<string> {
    const upload = await this.ok('avatar', { mime, size: bytes.length })
    const response = await fetch(String(upload.url), {
      method: 'PUT',
      headers: upload.headers as Record<string, string>,
      body: bytes,
    })
    if (response.status !== 200) throw new Error(`avatar upload failed with ${response.status}`)
    return String(upload.key)
  }

  /**
   * Uploads `bytes` as one file of a message to `gid` through the presigned flow; the attachment that names
   * the upload (`fields` in place of the defaults, a wrong `size` say).
   */
  async uploadAttachment(gid: string, bytes: Buffer, fields: Partial<Attachment> = {}): Promise<Attachment> {
    const granted = await this.ok('attachment', { gid, size: bytes.length })
    const put = await fetch(String(granted.url), {
      method: 'PUT',
      headers: granted.headers as Record<string, string>,
      body: new Uint8Array(bytes),
    })
    if (put.status !== 200) throw new Error(`attachment upload failed with ${put.status}`)
    const digest = `sha256:${createHash('sha256').update(bytes).digest('base64')}`
    const mime = 'application/octet-stream'
    return {
      key: String(granted.key),
      name: 'f.bin',
      mime,
      size: bytes.length,
      digest,
      secret: 'k',
      ...fields,
    }
  }

  /**
   * A round trip on this connection. The gateway writes an event to the socket before it answers the
   * post, so once this returns, every event sent to this connection before it has arrived.
   */
  async settle(): Promise<void> {
    await this.request('barrier')
  }

  events<T extends ChatEvent['type']>(type: T, gid?: string): Extract<ChatEvent, { type: T }>[] {
    return this.frames.filter(
      (frame): frame is Extract<ChatEvent, { type: T }> =>
        isObject(frame) && frame.type === type && (gid === undefined || frame.gid === gid),
    )
  }

  async nextEvent<T extends ChatEvent['type']>(
    type: T,
    match: (event: Extract<ChatEvent, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ChatEvent, { type: T }>> {
    return (await this.waitFor(
      (frame) =>
        isObject(frame) && frame.type === type && match(frame as unknown as Extract<ChatEvent, { type: T }>),
    )) as Extract<ChatEvent, { type: T }>
  }

  /** The first frame received (before or after the call) that matches, waiting up to 10 s for it. */
  async frame(match: (frame: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return (await this.waitFor((frame) => isObject(frame) && match(frame))) as Record<string, unknown>
  }

  close(): void {
    this.socket.close()
  }

  async closed(): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState === WebSocket.CLOSED) throw new Error('already closed')
    return new Promise((resolve) =>
      this.socket.once('close', (code, reason) => resolve({ code, reason: `${reason}` })),
    )
  }

  private waitFor(match: (frame: unknown, index: number) => boolean, timeoutMs = 10_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.frames.findIndex(match)
        if (index >= 0) {
          done()
          resolve(this.frames[index])
        } else if (this.socket.readyState >= WebSocket.CLOSING) {
          done()
          reject(new Error(`${this.iss}: connection closed while waiting`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(
            `${this.iss}: no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`,
          ),
        )
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }
}

function isObject(frame: unknown): frame is Record<string, unknown> {
  return typeof frame === 'object' && frame !== null
}

function isReply(frame: unknown): frame is Reply {
  return isObject(frame) && (frame.type === 'ack' || frame.type === 'error')
}

/**
 * Direct access to the table: the stores over the functions' own client, and the SDK's document client for
 * checking what is stored.
 */
export function tableClient(endpoint = inject('dynamoEndpoint')): {
  db: DynamoDBDocumentClient
  store: Stores
  tableName: string
} {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ ...emulatorClientConfig, endpoint }))
  const table = new DynamoTable(emulatorDynamoClient(endpoint), localNames.table)
  return { db, store: dynamoStores(table), tableName: localNames.table }
}

/** Every stored item of a group, to show that a refused request changed nothing. */
export async function groupItems(gid: string): Promise<unknown[]> {
  const { db, tableName } = tableClient()
  const { Items } = await db.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'PK = :pk',
      ExpressionAttributeValues: { ':pk': `GROUP#${gid}` },
      ConsistentRead: true,
    }),
  )
  return Items ?? []
}
