import { describe, expect, it, vi } from 'vitest'
import { ChatService } from '../../packages/client/src/chat.js'
import type { Connection, ConnectionStatus, RequestOptions } from '../../packages/client/src/connection.js'
import { GroupDirectory } from '../../packages/client/src/directory.js'
import { ChatError } from '../../packages/client/src/error.js'
import type { ChatMessage } from '../../packages/client/src/group.js'
import type { GroupInfo, GroupState, MembershipStatus } from '../../packages/client/src/group-info.js'
import type {
  AckResults,
  Action,
  ChatEvent,
  GroupView,
  MessageEvent,
  Requests,
} from '../../packages/client/src/protocol.js'

// The SDK's features depend on the Connection seam alone: here they run over one held in memory, with no
// ChatClient, no socket and no server.

type Answer<A extends Action> = (fields: Requests[A]) => AckResults[A]
type Answers = { [A in Action]?: Answer<A> }

interface Sent {
  action: Action
  fields: object
  options: RequestOptions | undefined
}

/** A Connection the test drives: `answers` reply to requests (others: NOT_FOUND); the test pushes events. */
class MemoryConnection implements Connection {
  status: ConnectionStatus = 'open'
  readonly sent: Sent[] = []
  readonly #events = new Set<(event: ChatEvent) => unknown>()
  readonly #statuses = new Set<(status: ConnectionStatus) => unknown>()

  constructor(readonly answers: Answers) {}

  async request<A extends Action>(
    action: A,
    fields: Requests[A],
    options?: RequestOptions,
  ): Promise<AckResults[A]> {
    this.sent.push({ action, fields, options })
    const answer: Answer<A> | undefined = this.answers[action]
    if (answer === undefined) throw new ChatError('NOT_FOUND', `no answer for ${action}`)
    return answer(fields)
  }

  onEvent(callback: (event: ChatEvent) => unknown): () => void {
    this.#events.add(callback)
    return () => this.#events.delete(callback)
  }

  onStatus(callback: (status: ConnectionStatus) => unknown): () => void {
    this.#statuses.add(callback)
    return () => this.#statuses.delete(callback)
  }

  push(event: ChatEvent): void {
    for (const callback of this.#events) callback(event)
  }

  become(status: ConnectionStatus): void {
    this.status = status
    for (const callback of this.#statuses) callback(status)
  }

  /** The requests sent with `action`, oldest first. */
  fieldsOf<A extends Action>(action: A): Requests[A][] {
    return this.sent.flatMap((sent) => (sent.action === action ? [sent.fields as Requests[A]] : []))
  }
}

const groupAt = (head: number): GroupView => ({
  gid: 'g',
  name: 'G',
  members: [
    { iss: 'me', status: 'joined', role: 'admin' },
    { iss: 'bob', status: 'invited', role: 'member' },
  ],
  memberCount: 2,
  invites: 'members',
  head,
})

const fromBob = (seq: number, body: string): MessageEvent => ({
  type: 'chat.message',
  gid: 'g',
  iss: 'bob',
  jti: `bob-${seq}`,
  body,
  iat: 'now',
  seq,
})

/** A ChatService over a MemoryConnection whose sync knows this identity as `me` and no groups yet. */
function chatOver(answers: Answers = {}, options: ConstructorParameters<typeof ChatService>[1] = {}) {
  const connection = new MemoryConnection({
    sync: () => ({ iss: 'me', invites: 0, groups: [] }),
    invite: () => ({ group: groupAt(1), invited: ['bob'] }),
    ...answers,
  })
  const chat = new ChatService(connection, { deliveredReceipts: false, gapGraceMs: 10, ...options })
  return { connection, chat }
}

describe('the SDK over a Connection that is not a ChatClient', () => {
  it('creates a group, hands its events to the app and answers a message through the same connection', async () => {
    const { connection, chat } = chatOver({
      message: ({ gid, jti = 'none' }) => ({ gid, jti, iat: 'later', seq: 4, duplicate: false }),
    })
    await chat.catchUp()
    const group = await chat.invite('g', 'G', ['bob'])
    expect(connection.fieldsOf('invite')).toEqual([{ gid: 'g', name: 'G', members: ['bob'] }])
    expect(group).toMatchObject({ gid: 'g', members: ['me', 'bob'], admins: ['me'], status: 'joined' })

    const joins: string[] = []
    chat.onJoin((iss) => joins.push(iss))
    const received = new Promise<ChatMessage>((resolve) => chat.onMessage(resolve))
    connection.push({ type: 'chat.join', gid: 'g', iss: 'bob', iat: 'now', seq: 2 })
    connection.push(fromBob(3, 'hello'))
    const message = await received
    expect(joins).toEqual(['bob'])
    expect(message).toMatchObject({ gid: 'g', iss: 'bob', body: 'hello', seq: 3 })

    await expect(message.respond('hi bob')).resolves.toMatchObject({ gid: 'g', seq: 4 })
    expect(connection.fieldsOf('message')).toEqual([
      { gid: 'g', body: 'hi bob', rid: 'bob-3', jti: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    ])
  })

  it("reads a hole in a group's order from the connection's history before handing on what came after it", async () => {
    const { connection, chat } = chatOver({
      history: ({ gid }) => ({
        gid,
        head: 3,
        events: [
          { type: 'chat.join', gid: 'g', iss: 'bob', iat: 'now', seq: 2 },
          fromBob(3, 'after the join'),
        ],
      }),
    })
    await chat.catchUp()
    await chat.invite('g', 'G', ['bob'])
    const seen: string[] = []
    chat.onJoin((iss, _gid, event) => seen.push(`join ${iss} ${event.seq}`))
    chat.onMessage((message) => seen.push(`message ${message.body} ${message.seq}`))
    connection.push(fromBob(3, 'after the join'))
    await vi.waitFor(() => expect(seen).toHaveLength(2))
    expect(seen).toEqual(['join bob 2', 'message after the join 3'])
    expect(connection.fieldsOf('history')).toEqual([{ gid: 'g', after: 1, limit: 100 }])
  })

  it('catches up when the connection opens again, reading what was missed while it was away', async () => {
    let head = 1
    const { connection, chat } = chatOver({
      sync: () => ({ iss: 'me', invites: 0, groups: [{ gid: 'g', status: 'joined', head, joinSeq: 0 }] }),
      history: ({ gid, after = 0 }) => ({
        gid,
        head,
        events: [fromBob(2, 'while away')].filter((event) => event.seq > after),
      }),
    })
    await chat.catchUp()
    const bodies: string[] = []
    chat.onMessage((message) => bodies.push(message.body))
    const syncs = connection.fieldsOf('sync').length
    connection.become('reconnecting')
    head = 2
    connection.become('open')
    await vi.waitFor(() => expect(bodies).toEqual(['while away']))
    expect(connection.fieldsOf('sync')).toHaveLength(syncs + 1)
    expect(connection.fieldsOf('history')).toEqual([{ gid: 'g', after: 1, limit: 100 }])
  })

  it("passes the connection's errors to the caller and a callback's to onError", async () => {
    const errors: unknown[] = []
    const { connection, chat } = chatOver(
      {
        message: () => {
          throw new ChatError('FORBIDDEN', 'not a member')
        },
      },
      { onError: (error) => errors.push(error) },
    )
    await chat.catchUp()
    const group = await chat.invite('g', 'G', ['bob'])
    await expect(group.message('hi')).rejects.toMatchObject({ code: 'FORBIDDEN' })
    chat.onMessage(() => {
      throw new Error('the app failed')
    })
    connection.push(fromBob(2, 'hello'))
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(errors[0]).toMatchObject({ message: 'the app failed' })
  })
})

describe('GroupDirectory', () => {
  const info: GroupInfo = { gid: 'g', name: 'G', members: ['alice', 'me'], memberCount: 2, admins: ['alice'] }
  const plain = (group: GroupInfo, status: MembershipStatus): GroupState => ({
    ...group,
    image: group.image,
    invites: group.invites,
    status,
    encrypted: false,
    invitedBy: group.invitedBy,
  })

  it("keeps any object with a group's state current: events in order, and views no older than them", () => {
    const directory = new GroupDirectory(plain)
    const group = directory.show(info, 'invited')
    expect(directory.apply({ type: 'chat.join', gid: 'g', iss: 'me', seq: 2 }, 'me')).toBe(group)
    expect(group.status).toBe('joined')
    directory.apply({ type: 'chat.update', gid: 'g', iss: 'alice', seq: 3, name: 'Renamed' }, 'me')
    directory.apply({ type: 'chat.update', gid: 'g', iss: 'alice', seq: 3, name: 'Again' }, 'me')
    expect(group.name).toBe('Renamed')
    expect(directory.show({ ...info, name: 'Stale' }, 'joined', 2)).toBe(group)
    expect(group.name).toBe('Renamed')
    directory.show({ ...info, name: 'Fresh', admins: ['alice', 'me'] }, 'joined', 4)
    expect(group).toMatchObject({ name: 'Fresh', admins: ['alice', 'me'] })
    expect(directory.forget('g')).toBe(group)
    expect(group.status).toBe('left')
    expect(directory.get('g')).toBeUndefined()
  })
})
