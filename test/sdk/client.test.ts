import { createHash } from 'node:crypto'
import {
  ChatClient,
  ChatError,
  type ChatMessage,
  type ConnectOptions,
  memoryCursorStore,
} from '@huddle/client'
import { type Attachment, type ChatEvent, limits } from '@huddle/client/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openFile, sealFile } from '../../packages/client/src/attachment.js'
import { CallOrder } from '../../packages/client/src/order.js'
import { connected, fakeNetwork } from './fake-network.js'

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('ChatClient connection', () => {
  it('puts the token in the query string and calls a token function again on every reconnect', async () => {
    let calls = 0
    const { net, first } = await connected({ token: async () => `token-${++calls}` })
    expect(new URL(first.url).searchParams.get('token')).toBe('token-1')
    first.drop()
    const second = await net.socket(1)
    expect(new URL(second.url).searchParams.get('token')).toBe('token-2')
  })

  it('rejects connect with TOKEN_REFUSED when the handshake is refused', async () => {
    const net = fakeNetwork()
    const pending = ChatClient.connect('ws://huddle.test/', { token: 'bad', WebSocket: net.WebSocket })
    ;(await net.socket(0)).refuse()
    const error = await pending.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ChatError)
    expect(error).toMatchObject({ code: 'TOKEN_REFUSED', message: expect.stringContaining('HTTP 401') })
  })

  it('keeps retrying with backoff while handshakes fail, then reports open again', async () => {
    const { client, net, first } = await connected()
    const statuses: string[] = []
    client.onStatus((status) => statuses.push(status))
    first.drop()
    ;(await net.socket(1)).refuse()
    ;(await net.socket(2)).open()
    expect(statuses).toEqual(['reconnecting', 'open'])
    expect(client.status).toBe('open')
  })

  it('stops reconnecting and rejects unsettled requests with CLOSED on close()', async () => {
    const { client, net, first } = await connected()
    const request = client.request('groups', {})
    await client.close()
    await expect(request).rejects.toMatchObject({ code: 'CLOSED' })
    expect(first.readyState).toBe(3)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(net.sockets).toHaveLength(1)
    await expect(client.request('groups', {})).rejects.toMatchObject({ code: 'CLOSED' })
  })
})

describe('ChatClient requests', () => {
  it('resolves with the ack that carries the request id and rejects with the error code', async () => {
    const { client, first } = await connected()
    const groups = client.request('groups', {})
    expect(first.frame(0)).toMatchObject({ action: 'groups' })
    first.push({ type: 'ack', id: 'someone-else', groups: [] })
    first.ack(0, { groups: [{ gid: 'g', name: 'G', members: [], status: 'joined' }] })
    expect((await groups).groups[0]?.gid).toBe('g')

    const join = client.request('join', { gid: 'nope' })
    first.push({ type: 'error', id: first.frame(1).id, code: 'NOT_FOUND', message: 'no such group' })
    await expect(join).rejects.toEqual(new ChatError('NOT_FOUND', 'no such group'))
  })

  it('sends one request at a time, in call order', async () => {
    const { client, first } = await connected()
    const a = client.request('message', { gid: 'g', body: 'a' })
    const b = client.request('message', { gid: 'g', body: 'b' })
    expect(first.sent.map((f) => f.body)).toEqual(['a'])
    first.ack(0, { gid: 'g', jti: '1', iat: 'now', duplicate: false })
    await a
    expect(first.sent.map((f) => f.body)).toEqual(['a', 'b'])
    first.ack(1, { gid: 'g', jti: '2', iat: 'now', duplicate: false })
    await b
  })

  it('sends a request answered INTERNAL, CONFLICT or API Gateway’s own error again, in order, then gives up', async () => {
    const { client, first } = await connected({ retries: 2 })
    const a = client.request('message', { gid: 'g', body: 'a', jti: 'ja' })
    const b = client.request('message', { gid: 'g', body: 'b', jti: 'jb' })
    first.push({ type: 'error', id: first.frame(0).id, code: 'INTERNAL', message: 'store down' })
    await vi.waitFor(() => expect(first.sent).toHaveLength(2))
    // The same request again, before the one queued behind it.
    expect(first.frame(1)).toEqual(first.frame(0))
    first.onmessage?.({
      data: JSON.stringify({ message: 'Internal server error', connectionId: 'c', requestId: 'r' }),
    })
    await vi.waitFor(() => expect(first.sent).toHaveLength(3))
    first.ack(2, { gid: 'g', jti: 'ja', iat: 'now', seq: 1, duplicate: true })
    await expect(a).resolves.toMatchObject({ jti: 'ja' })
    expect(first.frame(3)).toMatchObject({ body: 'b' })
    for (const index of [3, 4, 5]) {
      await vi.waitFor(() => first.frame(index))
      first.push({ type: 'error', id: first.frame(index).id, code: 'CONFLICT', message: 'busy' })
    }
    await expect(b).rejects.toMatchObject({ code: 'CONFLICT' })
    expect(first.sent).toHaveLength(6)
  })

  it('waits as long as a RATE_LIMITED answer says before sending the request again', async () => {
    const { client, first } = await connected()
    const groups = client.request('groups', {})
    first.push({
      type: 'error',
      id: first.frame(0).id,
      code: 'RATE_LIMITED',
      message: 'slow down',
      retryAfter: 0.05,
    })
    expect(first.sent).toHaveLength(1)
    await vi.waitFor(() => expect(first.sent).toHaveLength(2))
    first.ack(1, { groups: [] })
    await expect(groups).resolves.toEqual({ type: 'ack', id: first.frame(1).id, groups: [] })
    const refused = client.request('join', { gid: 'nope' })
    first.push({ type: 'error', id: first.frame(2).id, code: 'FORBIDDEN', message: 'not invited' })
    await expect(refused).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(first.sent).toHaveLength(3)
  })

  it('rejects with TIMEOUT when no reply comes, and moves on to the next request', async () => {
    const { client, first } = await connected({ timeoutMs: 30 })
    const stuck = client.request('groups', {})
    const next = client.request('sync', {})
    await expect(stuck).rejects.toMatchObject({ code: 'TIMEOUT' })
    expect(first.frame(1).action).toBe('sync')
    first.ack(0, { groups: [] })
    first.ack(1, { invites: 0 })
    await expect(next).resolves.toMatchObject({ invites: 0 })
  })

  it('refuses a frame over API Gateway’s 32 KB with TOO_LARGE instead of letting the server close the socket', async () => {
    const { client, first } = await connected()
    // JSON escaping counts: 6,000 control characters are 36,000 bytes in the frame.
    for (const body of ['x'.repeat(limits.frameBytes), '\u0001'.repeat(6000)]) {
      await expect(client.request('message', { gid: 'g', body })).rejects.toMatchObject({ code: 'TOO_LARGE' })
    }
    expect(first.sent).toHaveLength(0)
    const fitting = client.request('message', { gid: 'g', body: 'x'.repeat(limits.frameBytes - 100) })
    expect(first.sent).toHaveLength(1)
    first.ack(0, { gid: 'g', jti: 'j', iat: 'now', seq: 1, duplicate: false })
    await fitting
  })

  it('re-sends the request in flight and the queued ones after a drop, then catches up', async () => {
    const { client, net, first } = await connected()
    client.chat().onInvite(() => {})
    await vi.waitFor(() => expect(first.frame(0).action).toBe('sync'))
    first.ack(0, { iss: 'me', invites: 0, groups: [] })

    const a = client.chat().invite('g', 'G', ['bob'])
    const inFlight = await vi.waitFor(() => first.frame(1))
    first.drop()
    const b = client.request('message', { gid: 'g', body: 'queued while offline' })
    const second = await net.socket(1)
    second.open()
    expect(second.frame(0)).toEqual(inFlight)
    second.ack(0, {
      group: { gid: 'g', name: 'G', head: 0, members: [{ iss: 'me', status: 'joined', role: 'admin' }] },
    })
    expect((await a).members).toEqual(['me'])
    expect(second.frame(1)).toMatchObject({ action: 'message', body: 'queued while offline' })
    second.ack(1, { gid: 'g', jti: 'j', iat: 'now', seq: 1, duplicate: false })
    await b
    await vi.waitFor(() => expect(second.frame(2).action).toBe('sync'))
  })
})

/** A client whose chat() has had its first sync answered: `me` is in group g, whose head is 0. */
async function chatting(options: Partial<ConnectOptions> = {}) {
  const connection = await connected(options)
  const chat = connection.client.chat()
  await vi.waitFor(() => expect(connection.first.frame(0).action).toBe('sync'))
  connection.first.ack(0, {
    iss: 'me',
    invites: 0,
    groups: [{ gid: 'g', status: 'joined', head: 0, joinSeq: 0 }],
  })
  return { ...connection, chat }
}

describe('ChatService', () => {
  const message: ChatEvent = {
    type: 'chat.message',
    gid: 'g',
    iss: 'alice',
    jti: 'j1',
    body: 'hi',
    iat: 'now',
    seq: 1,
  }

  it('turns events into groups, messages and (iss, gid, event) callbacks, in seq order, and unsubscribes', async () => {
    const { first, chat } = await chatting()
    const seen: unknown[] = []
    chat.onInvite((g) => seen.push(['invite', g.gid, g.name, g.members, g.status]))
    chat.onJoin((iss, gid, event) => seen.push(['join', iss, gid, event.seq]))
    const stopLeaves = chat.onLeave((iss, gid, event) => seen.push(['leave', iss, gid, event.seq]))
    chat.onMessage((m) => seen.push(['message', m.gid, m.iss, m.body, m.rid, m.seq]))
    chat.onEdit((e) => seen.push(['edit', e.jti, e.body]))
    chat.onDelete((e) => seen.push(['delete', e.jti]))
    const at = { gid: 'g', iat: 'now' }
    const invite: ChatEvent = {
      type: 'chat.invite',
      gid: 'h',
      name: 'H',
      iss: 'alice',
      members: ['alice', 'me'],
      memberCount: 2,
      admins: ['alice'],
      invites: 'admins',
    }
    // Sent twice (a sync re-sends pending invites), handed once.
    first.push(invite)
    first.push(invite)
    first.push({ ...at, type: 'chat.join', iss: 'bob', seq: 2 })
    first.push(message)
    first.push({ ...at, type: 'chat.leave', iss: 'bob', seq: 3 })
    await vi.waitFor(() => expect(seen).toHaveLength(4))
    stopLeaves()
    first.push({ ...at, type: 'chat.leave', iss: 'carol', seq: 4 })
    first.push({ ...at, type: 'chat.edit', iss: 'alice', jti: 'j1', body: 'hi!', seq: 5 })
    first.push({ ...at, type: 'chat.delete', iss: 'alice', jti: 'j1', seq: 6 })
    await vi.waitFor(() => expect(seen).toHaveLength(6))
    expect(seen).toEqual([
      ['invite', 'h', 'H', ['alice', 'me'], 'invited'],
      ['message', 'g', 'alice', 'hi', undefined, 1],
      ['join', 'bob', 'g', 2],
      ['leave', 'bob', 'g', 3],
      ['edit', 'j1', 'hi!'],
      ['delete', 'j1'],
    ])
  })

  it('answers a message in its group: respond() sets rid to its jti, message() does not', async () => {
    const { first, chat } = await chatting({ deliveredReceipts: false })
    const received = new Promise<ChatMessage>((resolve) => chat.onMessage(resolve))
    first.push(message)
    const m = await received
    const reply = m.respond('hello back')
    expect(first.frame(1)).toMatchObject({ action: 'message', gid: 'g', body: 'hello back', rid: 'j1' })
    expect(first.frame(1).jti).toMatch(/^[0-9a-f-]{36}$/)
    first.ack(1, { gid: 'g', jti: first.frame(1).jti, iat: 'now', seq: 2, duplicate: false })
    await reply
    const again = m.message('again')
    expect(first.frame(2)).toMatchObject({ action: 'message', gid: 'g', body: 'again' })
    expect(first.frame(2)).not.toHaveProperty('rid')
    first.ack(2, { gid: 'g', jti: first.frame(2).jti, iat: 'now', seq: 3, duplicate: false })
    await expect(again).resolves.toMatchObject({ gid: 'g', seq: 3, duplicate: false })
  })

  // After the ack: the first attempt's function, still running, may post it to the new connection late.
  it.each(['before', 'after'])(
    'does not hand back its own message when, after a drop, its event comes %s the ack',
    async (when) => {
      const { first, net, chat } = await chatting({ deliveredReceipts: false })
      const received: ChatMessage[] = []
      chat.onMessage((m) => received.push(m))
      first.push(message)
      await vi.waitFor(() => expect(received).toHaveLength(1))
      const sending = received[0]?.message('mine')
      const frame = first.frame(1)
      first.drop()
      const second = await net.socket(1)
      second.open()
      expect(second.frame(0)).toEqual(frame)
      // The first attempt was stored, and its post reaches the new connection.
      const mine = {
        type: 'chat.message',
        gid: 'g',
        iss: 'me',
        jti: String(frame.jti),
        body: 'mine',
        iat: 'now',
        seq: 2,
      }
      if (when === 'before') second.push(mine as ChatEvent)
      second.ack(0, { gid: 'g', jti: frame.jti, iat: 'now', seq: 2, duplicate: true })
      await expect(sending).resolves.toMatchObject({ seq: 2, duplicate: true })
      if (when === 'after') second.push(mine as ChatEvent)
      second.push({ ...message, jti: 'j3', body: 'after', seq: 3 })
      await vi.waitFor(() => expect(received.map((m) => m.body)).toEqual(['hi', 'after']))
    },
  )

  it('sends one delivered receipt per group once messages pause, and none for its own', async () => {
    const { first, chat } = await chatting({ deliveredReceipts: { delayMs: 10 } })
    chat.onMessage(() => {})
    first.push(message)
    first.push({ ...message, jti: 'j2', seq: 2 })
    first.push({ ...message, iss: 'me', jti: 'j3', seq: 3 })
    await vi.waitFor(() =>
      expect(first.frame(1)).toMatchObject({ action: 'receipt', gid: 'g', delivered: 2 }),
    )
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(first.sent).toHaveLength(2)
  })

  it('sends no second delivered receipt for a group while its last is unanswered; the next covers all', async () => {
    const { first, chat } = await chatting({ deliveredReceipts: { delayMs: 10 } })
    chat.onMessage(() => {})
    first.push(message)
    await vi.waitFor(() => expect(first.frame(1)).toMatchObject({ action: 'receipt', delivered: 1 }))
    // Handed over several delays while the first receipt waits for its answer.
    for (const seq of [2, 3]) {
      first.push({ ...message, jti: `j${seq}`, seq })
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    first.ack(1, { gid: 'g', delivered: 1, read: 0 })
    await vi.waitFor(() =>
      expect(first.frame(2)).toMatchObject({ action: 'receipt', gid: 'g', delivered: 3 }),
    )
    first.ack(2, { gid: 'g', delivered: 3, read: 0 })
    await new Promise((resolve) => setTimeout(resolve, 40))
    expect(first.sent).toHaveLength(3)
  })

  it('keeps delivering to other callbacks when one throws, and reports the error', async () => {
    const errors: unknown[] = []
    const { first, chat } = await chatting({ onError: (e) => errors.push(e) })
    const bodies: string[] = []
    chat.onMessage(() => {
      throw new Error('listener bug')
    })
    chat.onMessage(async () => Promise.reject(new Error('async listener bug')))
    chat.onMessage((m) => bodies.push(m.body))
    first.push(message)
    await vi.waitFor(() => expect(errors).toHaveLength(2))
    expect(bodies).toEqual(['hi'])
  })

  it('uploads an avatar through the presigned PUT and invites with its key', async () => {
    const uploads: { url: string; init: RequestInit | undefined }[] = []
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      uploads.push({ url, init })
      return new Response(null, { status: 200 })
    })
    const { first, chat } = await chatting()
    const created = chat.invite('g2', 'G', ['bob'], { data: new Uint8Array([1, 2, 3]), mime: 'image/png' })
    await vi.waitFor(() => first.frame(1))
    expect(first.frame(1)).toMatchObject({ action: 'avatar', mime: 'image/png', size: 3 })
    const headers = { 'content-type': 'image/png' }
    first.ack(1, { url: 'http://s3.test/put', method: 'PUT', headers, key: 'avatars/k', expires: 'soon' })
    await vi.waitFor(() => first.frame(2))
    expect(uploads).toHaveLength(1)
    expect(uploads[0]?.init).toMatchObject({ method: 'PUT', headers })
    expect(first.frame(2)).toMatchObject({
      action: 'invite',
      gid: 'g2',
      members: ['bob'],
      avatar: { key: 'avatars/k' },
    })
    const image = { url: 'http://s3.test/get', mime: 'image/png', expires: 'soon' }
    first.ack(2, { group: { gid: 'g2', name: 'G', head: 0, members: [], image }, invited: ['bob'] })
    expect((await created).image).toEqual(image)
  })

  it('rejects with UPLOAD_FAILED and sends no invite when the upload is refused', async () => {
    vi.stubGlobal('fetch', async () => new Response(null, { status: 403 }))
    const { first, chat } = await chatting()
    const created = chat.invite('g2', 'G', ['bob'], { data: new Uint8Array([1]), mime: 'image/png' })
    await vi.waitFor(() => first.frame(1))
    first.ack(1, { url: 'http://s3.test/put', method: 'PUT', headers: {}, key: 'k', expires: 'soon' })
    await expect(created).rejects.toMatchObject({ code: 'UPLOAD_FAILED' })
    expect(first.sent).toHaveLength(2)
  })
})

describe('ChatGroup administration', () => {
  const at = { gid: 'g', iat: 'now' }
  const listing = (head: number, name = 'G') => ({
    groups: [
      {
        gid: 'g',
        name,
        head,
        members: [
          { iss: 'alice', status: 'joined', role: 'admin' },
          { iss: 'bob', status: 'joined', role: 'member' },
          { iss: 'me', status: 'joined', role: 'member' },
        ],
        memberCount: 3,
        invites: 'members',
        status: 'joined',
        unread: 0,
      },
    ],
  })

  /** `me`'s group g as chat.groups() hands it out, listed at `head`. */
  async function listed(options: Partial<ConnectOptions> = {}) {
    const connection = await chatting({ deliveredReceipts: false, ...options })
    const groups = connection.chat.groups()
    connection.first.ack(1, listing(0))
    const group = (await groups)[0]
    if (!group) throw new Error('no group listed')
    return { ...connection, group }
  }

  it('takes admin changes into the group object in seq order, then hands them to onChange with it', async () => {
    const { first, chat, group } = await listed()
    expect(group).toMatchObject({ admins: ['alice'], invites: 'members', members: ['alice', 'bob', 'me'] })
    const seen: unknown[] = []
    chat.onChange((change, changed) => {
      seen.push([
        change.type,
        changed === group,
        changed?.name,
        changed?.invites,
        changed?.admins,
        changed?.members,
      ])
    })
    // The role comes first, the update it follows second: both are taken in the group's order.
    first.push({ ...at, type: 'chat.role', iss: 'bob', role: 'admin', by: 'alice', seq: 2 })
    first.push({ ...at, type: 'chat.update', iss: 'alice', name: 'G2', invites: 'admins', seq: 1 })
    first.push({ ...at, type: 'chat.ban', iss: 'bob', by: 'alice', seq: 3 })
    first.push({ ...at, type: 'chat.unban', iss: 'bob', by: 'alice', seq: 4 })
    await vi.waitFor(() => expect(seen).toHaveLength(4))
    expect(seen).toEqual([
      ['chat.update', true, 'G2', 'admins', ['alice'], ['alice', 'bob', 'me']],
      ['chat.role', true, 'G2', 'admins', ['alice', 'bob'], ['alice', 'bob', 'me']],
      ['chat.ban', true, 'G2', 'admins', ['alice'], ['alice', 'me']],
      ['chat.unban', true, 'G2', 'admins', ['alice'], ['alice', 'me']],
    ])
    expect(group.memberCount).toBe(2)
    expect(group.status).toBe('joined')
  })

  it('drops an admin who leaves from admins, and takes in the successor the server names', async () => {
    const { first, group } = await listed()
    first.push({ ...at, type: 'chat.leave', iss: 'alice', seq: 1 })
    first.push({ ...at, type: 'chat.role', iss: 'bob', role: 'admin', seq: 2 })
    await vi.waitFor(() => expect(group.admins).toEqual(['bob']))
    // Members on leaves are the app's to keep, as before: onLeave hands it the leave.
    expect(group.members).toEqual(['alice', 'bob', 'me'])
  })

  it('hands out one object per group, and a view older than the events it took does not undo them', async () => {
    const { first, chat, group } = await listed()
    const image = { url: 'http://s3.test/new', mime: 'image/png', expires: 'soon' }
    first.push({ ...at, type: 'chat.update', iss: 'alice', name: 'New', image, seq: 1 })
    await vi.waitFor(() => expect(group.name).toBe('New'))
    // A listing read before the update was stored: its head says it is older.
    const stale = chat.groups()
    first.ack(2, listing(0, 'Old'))
    expect(await stale).toEqual([group])
    expect(group).toMatchObject({ name: 'New', image })
    const fresh = chat.groups()
    first.ack(3, listing(2, 'Newer'))
    await fresh
    expect(group.name).toBe('Newer')
    // The event the listing already showed, arriving after it, changes nothing, and is still handed over.
    const handed: string[] = []
    chat.onChange((change) => handed.push(change.type))
    first.push({ ...at, type: 'chat.update', iss: 'alice', name: 'Mid', seq: 2 })
    await vi.waitFor(() => expect(handed).toEqual(['chat.update']))
    expect(group.name).toBe('Newer')
  })

  it('applies its own role change in the group’s order and does not hand it back', async () => {
    const { first, chat, group } = await listed()
    const seen: string[] = []
    chat.onChange((change) => seen.push(change.type))
    const promoted = group.promote('bob')
    expect(first.frame(2)).toMatchObject({ action: 'role', gid: 'g', iss: 'bob', role: 'admin' })
    first.ack(2, { gid: 'g', iss: 'bob', role: 'admin', seq: 2 })
    await promoted
    // Another admin's rename took seq 1 and has not arrived: the promotion waits for it.
    expect(group.admins).toEqual(['alice'])
    first.push({ ...at, type: 'chat.update', iss: 'alice', name: 'Theirs', seq: 1 })
    await vi.waitFor(() => expect(group.admins).toEqual(['alice', 'bob']))
    expect(group.name).toBe('Theirs')
    // Posted to this connection after a drop, say: its own event is not handed back either.
    first.push({ ...at, type: 'chat.role', iss: 'bob', role: 'admin', by: 'me', seq: 2 })
    first.push({ ...at, type: 'chat.update', iss: 'alice', invites: 'admins', seq: 3 })
    await vi.waitFor(() => expect(group.invites).toBe('admins'))
    expect(seen).toEqual(['chat.update', 'chat.update'])
  })

  it('uploads a new avatar through the presigned PUT, updates with its key and takes the view it gets back', async () => {
    const uploads: string[] = []
    vi.stubGlobal('fetch', async (url: string) => {
      uploads.push(url)
      return new Response(null, { status: 200 })
    })
    const { first, group } = await listed()
    const updated = group.update({
      name: 'Pictured',
      image: { data: new Uint8Array([1, 2]), mime: 'image/png' },
    })
    await vi.waitFor(() => first.frame(2))
    expect(first.frame(2)).toMatchObject({ action: 'avatar', mime: 'image/png', size: 2 })
    first.ack(2, {
      url: 'http://s3.test/put',
      method: 'PUT',
      headers: {},
      key: 'uploads/me/k',
      expires: 'soon',
    })
    await vi.waitFor(() => first.frame(3))
    expect(uploads).toEqual(['http://s3.test/put'])
    expect(first.frame(3)).toEqual({
      action: 'update',
      id: first.frame(3).id,
      gid: 'g',
      name: 'Pictured',
      avatar: { key: 'uploads/me/k' },
    })
    const image = { url: 'http://s3.test/get', mime: 'image/png', expires: 'soon' }
    const view = listing(1, 'Pictured').groups[0]
    first.ack(3, { group: { ...view, image }, seq: 1 })
    await updated
    expect(group).toMatchObject({ name: 'Pictured', image })
  })

  it('waits out RATE_LIMITED on admin requests too, then sends them again', async () => {
    const { first, group } = await listed()
    const banning = group.ban('bob')
    first.push({
      type: 'error',
      id: first.frame(2).id,
      code: 'RATE_LIMITED',
      message: 'slow',
      retryAfter: 0.05,
    })
    await vi.waitFor(() => expect(first.sent).toHaveLength(4))
    expect(first.frame(3)).toEqual(first.frame(2))
    first.ack(3, { gid: 'g', iss: 'bob', seq: 1 })
    await banning
    expect(group.members).toEqual(['alice', 'me'])
  })

  it('ends the group on a ban of this identity, as on its removal', async () => {
    const { first, chat, group } = await listed()
    const seen: unknown[] = []
    chat.onChange((change, changed) => seen.push([change.type, change.iss, changed?.status]))
    first.push({ ...at, type: 'chat.ban', iss: 'me', by: 'alice', seq: 1 })
    await vi.waitFor(() => expect(seen).toEqual([['chat.ban', 'me', 'left']]))
    expect(group.status).toBe('left')
    // Unbanned and invited again: the same object is handed out, invited.
    const invites: unknown[] = []
    chat.onInvite((invited) =>
      invites.push([invited === group, invited.status, invited.invitedBy, invited.admins, invited.invites]),
    )
    first.push({
      type: 'chat.invite',
      gid: 'g',
      name: 'G',
      iss: 'alice',
      members: ['alice'],
      memberCount: 1,
      admins: ['alice'],
      invites: 'members',
    })
    await vi.waitFor(() => expect(invites).toEqual([[true, 'invited', 'alice', ['alice'], 'members']]))
  })

  it('drops a deleted group’s object and position, and hands the deletion to onGroupDelete', async () => {
    const cursors = memoryCursorStore()
    const { first, chat, group } = await listed({ cursors })
    await vi.waitFor(() => expect(cursors.load()).toEqual({ g: 0 }))
    const deletions: unknown[] = []
    chat.onGroupDelete((event, deleted) => deletions.push([event.iss, deleted === group, deleted?.status]))
    first.push({ type: 'chat.deleted', gid: 'g', iss: 'alice', iat: 'now' })
    expect(deletions).toEqual([['alice', true, 'left']])
    await vi.waitFor(() => expect(cursors.load()).toEqual({}))
    // A group made again under the same gid is another group, with an object of its own.
    const groups = chat.groups()
    first.ack(2, listing(0, 'Again'))
    const [again] = await groups
    expect(again).not.toBe(group)
    expect(again?.name).toBe('Again')
  })

  it('deletes a group of its own without handing the deletion back', async () => {
    const cursors = memoryCursorStore()
    const { first, chat, group } = await listed({ cursors })
    const deletions: unknown[] = []
    chat.onGroupDelete((event) => deletions.push(event))
    const deleting = group.deleteGroup()
    expect(first.frame(2)).toMatchObject({ action: 'deleteGroup', gid: 'g' })
    // Posted to this connection after a drop, before the ack of the request sent again.
    first.push({ type: 'chat.deleted', gid: 'g', iss: 'me', iat: 'now' })
    first.ack(2, { gid: 'g' })
    await deleting
    expect(group.status).toBe('left')
    expect(deletions).toEqual([])
    await vi.waitFor(() => expect(cursors.load()).toEqual({}))
  })
})

describe('attachment crypto', () => {
  const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('base64')}`
  // The size a message gives is its object's: the file and the 16-byte tag.
  const fieldsOf = (plaintext: Uint8Array, sealed: { digest: string; secret: string }) => ({
    name: 'f.bin',
    size: plaintext.byteLength + 16,
    ...sealed,
  })

  it('encrypts with AES-256-GCM under a fresh key and IV per file, and opens what it sealed', async () => {
    for (const length of [0, 1, 100_000]) {
      const plaintext = new Uint8Array(length).map((_, i) => i % 251)
      const sealed = await sealFile(plaintext)
      // The 16-byte tag follows the ciphertext.
      expect(sealed.ciphertext.byteLength).toBe(length + 16)
      expect(sealed.digest).toBe(sha256(sealed.ciphertext))
      expect(sealed.digest).toMatch(/^sha256:[A-Za-z0-9+/]{43}=$/)
      // The raw 32-byte key, then the 12-byte IV.
      expect(Buffer.from(sealed.secret, 'base64')).toHaveLength(44)
      expect(await openFile(sealed.ciphertext, fieldsOf(plaintext, sealed))).toEqual(plaintext)
    }
    const bytes = new TextEncoder().encode('the same file twice')
    const [one, two] = await Promise.all([sealFile(bytes), sealFile(bytes)])
    expect(one?.secret).not.toBe(two?.secret)
    expect(Buffer.from(one.ciphertext).equals(Buffer.from(two.ciphertext))).toBe(false)
  })

  it('decrypts with WebCrypto as the secret says: key, then IV', async () => {
    const plaintext = new TextEncoder().encode('interoperable')
    const { ciphertext, secret } = await sealFile(plaintext)
    const raw = Buffer.from(secret, 'base64')
    const key = await crypto.subtle.importKey('raw', raw.subarray(0, 32), 'AES-GCM', false, ['decrypt'])
    const decrypted = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: raw.subarray(32) }, key, ciphertext)
    expect(new TextDecoder().decode(decrypted)).toBe('interoperable')
  })

  it('refuses with BAD_ATTACHMENT an object that is not the file its message names', async () => {
    const plaintext = new TextEncoder().encode('the real file')
    const sealed = await sealFile(plaintext)
    const fields = fieldsOf(plaintext, sealed)
    const tampered = new Uint8Array(sealed.ciphertext)
    tampered[0] = (tampered[0] ?? 0) ^ 1
    const other = await sealFile(plaintext)
    const refusals: [Uint8Array, Parameters<typeof openFile>[1], string][] = [
      [tampered, fields, 'digest'],
      // The digest of the changed bytes passes; the GCM tag does not.
      [tampered, { ...fields, digest: sha256(tampered) }, 'decrypt'],
      [sealed.ciphertext, { ...fields, secret: other.secret }, 'decrypt'],
      [sealed.ciphertext, { ...fields, secret: 'not base64!' }, 'secret'],
      [sealed.ciphertext, { ...fields, secret: Buffer.alloc(32).toString('base64') }, 'secret'],
      [sealed.ciphertext, { ...fields, size: plaintext.byteLength }, 'bytes'],
    ]
    for (const [bytes, given, why] of refusals) {
      await expect(openFile(bytes, given)).rejects.toMatchObject({
        name: 'ChatError',
        code: 'BAD_ATTACHMENT',
        message: expect.stringMatching(new RegExp(`^f\\.bin: .*${why}`)),
      })
    }
  })
})

describe('CallOrder', () => {
  it('sends at once while nothing waits, and in call order while something does', async () => {
    const order = new CallOrder()
    const sent: string[] = []
    const send = (name: string) => async () => {
      sent.push(name)
      return name
    }
    void order.run(undefined, send('a'))
    expect(sent).toEqual(['a'])
    let ready = (_: string) => {}
    const slow = order.run(new Promise<string>((resolve) => (ready = resolve)), send('b'))
    const fast = order.run(undefined, send('c'))
    const failed = order.run(Promise.reject(new Error('upload refused')), send('d'))
    const last = order.run(undefined, send('e'))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(sent).toEqual(['a'])
    ready('files')
    await expect(Promise.all([slow, fast, last])).resolves.toEqual(['b', 'c', 'e'])
    await expect(failed).rejects.toThrow('upload refused')
    expect(sent).toEqual(['a', 'b', 'c', 'e'])
    void order.run(undefined, send('f'))
    expect(sent.at(-1)).toBe('f')
  })
})

describe('attachments in the chat API', () => {
  const at = { gid: 'g', iat: 'now' }
  const message: ChatEvent = { ...at, type: 'chat.message', iss: 'alice', jti: 'j1', body: 'hi', seq: 1 }

  async function withMessage() {
    const connection = await chatting({ deliveredReceipts: false })
    const received = new Promise<ChatMessage>((resolve) => connection.chat.onMessage(resolve))
    connection.first.push(message)
    return { ...connection, message: await received }
  }

  /** A fake S3: PUTs are kept by URL, GETs answer what was put there (or 404). */
  function fakeBucket(status = 200) {
    const objects = new Map<string, Uint8Array<ArrayBuffer>>()
    const puts: { url: string; init: RequestInit | undefined }[] = []
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      if (init?.method === 'PUT') {
        puts.push({ url, init })
        objects.set(url, new Uint8Array(await new Response(init.body).arrayBuffer()))
        return new Response(null, { status })
      }
      const object = objects.get(url)
      return object ? new Response(object) : new Response(null, { status: 404 })
    })
    return { objects, puts }
  }

  it('encrypts and uploads each file, then sends the message naming them, before messages called after it', async () => {
    const { objects, puts } = fakeBucket()
    const { first, message: m } = await withMessage()
    const text = new TextEncoder().encode('hello file')
    const photo = new Uint8Array(5000).fill(7)
    const headers = { 'content-type': 'application/octet-stream' }
    const sending = m.respond('two files', {
      attachments: [
        { name: 'a.txt', mime: 'text/plain', data: text },
        { name: 'p.bin', mime: 'application/octet-stream', data: new Blob([photo]).slice(0) },
      ],
    })
    const after = m.message('after')
    for (const index of [1, 2]) {
      await vi.waitFor(() => first.frame(index))
      expect(first.frame(index)).toMatchObject({ action: 'attachment', gid: 'g' })
      const key = `uploads/${first.frame(index).size}`
      first.ack(index, { url: `http://s3.test/${key}`, method: 'PUT', headers, key, expires: 'soon' })
    }
    // Each object is the file encrypted: as long as it and its 16-byte tag.
    expect([first.frame(1).size, first.frame(2).size].sort()).toEqual([
      text.byteLength + 16,
      photo.byteLength + 16,
    ])
    await vi.waitFor(() => first.frame(3))
    expect(puts.map(({ init }) => init?.headers)).toEqual([headers, headers])
    const sent = first.frame(3)
    expect(sent).toMatchObject({ action: 'message', body: 'two files', rid: 'j1' })
    const attachments = sent.attachments as Attachment[]
    expect(attachments.map(({ key, name, mime, size }) => ({ key, name, mime, size }))).toEqual([
      {
        key: `uploads/${text.byteLength + 16}`,
        name: 'a.txt',
        mime: 'text/plain',
        size: text.byteLength + 16,
      },
      {
        key: `uploads/${photo.byteLength + 16}`,
        name: 'p.bin',
        mime: 'application/octet-stream',
        size: 5016,
      },
    ])
    for (const [attachment, plaintext] of [
      [attachments[0], text],
      [attachments[1], photo],
    ] as const) {
      const object = objects.get(`http://s3.test/${attachment?.key}`) ?? new Uint8Array()
      expect(await openFile(object, attachment as Attachment)).toEqual(plaintext)
    }
    first.ack(3, { gid: 'g', jti: sent.jti, iat: 'now', seq: 2, duplicate: false })
    await expect(sending).resolves.toMatchObject({ seq: 2 })
    expect(first.frame(4)).toMatchObject({ action: 'message', body: 'after' })
    expect(first.frame(4)).not.toHaveProperty('attachments')
    first.ack(4, { gid: 'g', jti: first.frame(4).jti, iat: 'now', seq: 3, duplicate: false })
    await expect(after).resolves.toMatchObject({ seq: 3 })
  })

  it('rejects with UPLOAD_FAILED and sends no message when an upload is refused; later messages still go', async () => {
    fakeBucket(403)
    const { first, message: m } = await withMessage()
    const sending = m.message('with a file', {
      attachments: [{ name: 'a.txt', mime: 'text/plain', data: new Uint8Array([1]) }],
    })
    const after = m.message('after')
    await vi.waitFor(() => first.frame(1))
    first.ack(1, { url: 'http://s3.test/k', method: 'PUT', headers: {}, key: 'k', expires: 'soon' })
    await expect(sending).rejects.toMatchObject({
      code: 'UPLOAD_FAILED',
      message: expect.stringContaining('403'),
    })
    await vi.waitFor(() => first.frame(2))
    expect(first.frame(2)).toMatchObject({ action: 'message', body: 'after' })
    first.ack(2, { gid: 'g', jti: first.frame(2).jti, iat: 'now', seq: 2, duplicate: false })
    await after
    expect(first.sent).toHaveLength(3)
  })

  it('sends files uploaded already as they are, with no upload', async () => {
    fakeBucket()
    const { first, message: m } = await withMessage()
    const uploaded = {
      key: 'uploads/k',
      name: 'a',
      mime: 'text/plain',
      size: 1,
      digest: 'sha256:x',
      secret: 's',
    }
    const sending = m.message('again', {
      jti: 'mine',
      attachments: [{ ...uploaded, extra: 'not sent' } as Attachment],
    })
    // Sent at once, as a message without files is.
    expect(first.frame(1)).toMatchObject({ action: 'message', jti: 'mine', attachments: [uploaded] })
    expect((first.frame(1).attachments as object[])[0]).not.toHaveProperty('extra')
    first.ack(1, { gid: 'g', jti: 'mine', iat: 'now', seq: 2, duplicate: true })
    await expect(sending).resolves.toMatchObject({ duplicate: true })
    expect(first.sent).toHaveLength(2)
  })

  it('downloads a received file through a presigned GET, checks it and decrypts it', async () => {
    const { objects } = fakeBucket()
    const plaintext = new TextEncoder().encode('a file for me')
    const sealed = await sealFile(plaintext)
    const file = { name: 'f.txt', mime: 'text/plain', size: sealed.ciphertext.byteLength, ...sealed }
    const { ciphertext: _, ...named } = file
    const { first, chat } = await chatting({ deliveredReceipts: false })
    const received = new Promise<ChatMessage>((resolve) => chat.onMessage(resolve))
    first.push({
      ...message,
      attachments: [
        { ...named, key: 'g/good' },
        { ...named, key: 'g/other' },
      ],
    })
    const m = await received
    expect(m.attachments.map(({ name, mime, size }) => ({ name, mime, size }))).toEqual([
      { name: 'f.txt', mime: 'text/plain', size: plaintext.byteLength },
      { name: 'f.txt', mime: 'text/plain', size: plaintext.byteLength },
    ])
    expect(JSON.parse(JSON.stringify(m.attachments[0]))).toEqual({ ...named, key: 'g/good' })

    objects.set('http://s3.test/good', sealed.ciphertext)
    const download = m.attachments[0]?.download()
    await vi.waitFor(() => first.frame(1))
    expect(first.frame(1)).toMatchObject({ action: 'download', gid: 'g', key: 'g/good' })
    first.ack(1, { gid: 'g', key: 'g/good', url: 'http://s3.test/good', expires: 'soon' })
    expect(await download).toEqual(plaintext)

    // Other bytes under the second key: refused, not handed over.
    objects.set('http://s3.test/other', (await sealFile(plaintext)).ciphertext)
    const refused = m.attachments[1]?.download()
    await vi.waitFor(() => first.frame(2))
    first.ack(2, { gid: 'g', key: 'g/other', url: 'http://s3.test/other', expires: 'soon' })
    await expect(refused).rejects.toMatchObject({ code: 'BAD_ATTACHMENT' })

    const gone = m.attachments[1]?.download()
    await vi.waitFor(() => first.frame(3))
    first.ack(3, { gid: 'g', key: 'g/other', url: 'http://s3.test/gone', expires: 'soon' })
    await expect(gone).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      message: expect.stringContaining('404'),
    })
  })
})
