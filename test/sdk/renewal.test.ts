import { ChatClient, type ChatError } from '@huddle/client'
import { describe, expect, it, vi } from 'vitest'
import { connected } from './fake-network.js'

/** What a client told its app about its connection, in order. */
function watch(client: Awaited<ReturnType<typeof connected>>['client']) {
  const told: string[] = []
  client.onStatus((status) => told.push(status))
  client.onConnectionError((error: ChatError) => told.push(`${error.code}: ${error.message}`))
  return told
}

describe('ChatClient token renewal and connection errors (fake sockets)', () => {
  it('renews before the cut: a fresh token on a new socket, the old one kept until its reply comes, status open throughout', async () => {
    let calls = 0
    const { client, net, first } = await connected({
      token: async () => `token-${++calls}`,
      renewConnectionMs: 20,
    })
    const told = watch(client)
    const inFlight = client.request('groups', {})
    expect(first.frame(0).action).toBe('groups')
    const second = await net.socket(1)
    expect(new URL(second.url).searchParams.get('token')).toBe('token-2')
    second.open()
    const next = client.request('blocks', {})
    // The reply to the request sent on the old socket still comes there; nothing goes out before it.
    expect(second.sent).toEqual([])
    expect(first.readyState).toBe(1)
    first.ack(0, { groups: [] })
    await expect(inFlight).resolves.toMatchObject({ groups: [] })
    expect(first.readyState).toBe(3)
    expect(second.frame(0).action).toBe('blocks')
    second.ack(0, { blocked: [] })
    await expect(next).resolves.toMatchObject({ blocked: [] })
    expect(told).toEqual([])
    expect(client.status).toBe('open')
  })

  it('catches up after the move, for an event a fan-out sent to the old connection after it closed', async () => {
    const { client, net, first } = await connected({ renewConnectionMs: 20, deliveredReceipts: false })
    client.chat()
    await vi.waitFor(() => expect(first.frame(0).action).toBe('sync'))
    first.ack(0, { iss: 'me', invites: 0, groups: [] })
    const second = await net.socket(1)
    second.open()
    await vi.waitFor(() => expect(second.frame(0).action).toBe('sync'))
    expect(first.sent).toHaveLength(1)
  })

  it('sends the request in flight again on the new socket when the old one is cut before its reply', async () => {
    const { client, net, first } = await connected({ renewConnectionMs: 20 })
    const inFlight = client.request('groups', {})
    const second = await net.socket(1)
    second.open()
    first.drop(1001)
    await vi.waitFor(() => expect(second.frame(0)).toMatchObject({ action: 'groups', id: first.frame(0).id }))
    second.ack(0, { groups: [] })
    await expect(inFlight).resolves.toMatchObject({ groups: [] })
    expect(client.status).toBe('open')
  })

  it('reports a renewal whose token function fails and tries again while the connection still works', async () => {
    let failing = false
    const { client, net } = await connected({
      token: () => (failing ? Promise.reject(new Error('provider down')) : 'fresh'),
      renewConnectionMs: 20,
    })
    failing = true
    const told = watch(client)
    await vi.waitFor(() => expect(told.length).toBeGreaterThan(0))
    expect(told[0]).toMatch(/^TOKEN_FAILED: the token function failed \(provider down\)/)
    expect(client.status).toBe('open')
    failing = false
    const second = await net.socket(1)
    expect(new URL(second.url).searchParams.get('token')).toBe('fresh')
  })

  it('reports a token function failing while reconnecting, retries it with backoff, and reconnects once it recovers', async () => {
    let failing = false
    const { client, net, first } = await connected({
      token: () => (failing ? Promise.reject(new Error('offline')) : 'fresh'),
    })
    const told = watch(client)
    failing = true
    first.drop()
    await vi.waitFor(() =>
      expect(told.filter((line) => line.startsWith('TOKEN_FAILED')).length).toBeGreaterThan(1),
    )
    expect(net.sockets).toHaveLength(1)
    failing = false
    ;(await net.socket(1)).open()
    expect(told[0]).toBe('reconnecting')
    expect(told.at(-1)).toBe('open')
    expect(
      told.slice(1, -1).every((line) => line.startsWith('TOKEN_FAILED: the token function failed (offline)')),
    ).toBe(true)
  })

  it('gives up once the server refused the token at two reconnects in a row, rejecting what waits with TOKEN_REFUSED', async () => {
    const { client, net, first } = await connected()
    const told = watch(client)
    first.drop()
    const waiting = client.request('groups', {})
    ;(await net.socket(1)).refuse()
    ;(await net.socket(2)).refuse()
    await expect(waiting).rejects.toMatchObject({
      code: 'TOKEN_REFUSED',
      message: expect.stringContaining('refused the token at 2 reconnects in a row'),
    })
    expect(told).toEqual([
      'reconnecting',
      'TOKEN_REFUSED: the server refused the token (HTTP 401): get a fresh token or sign in again',
      expect.stringMatching(/^TOKEN_REFUSED: .* sign in again \(get a fresh token\), then connect anew$/),
      'closed',
    ])
    expect(net.sockets).toHaveLength(3)
  })

  it('rejects a URL that is no WebSocket URL with CONNECT_FAILED, quoting no token', async () => {
    const attempt = ChatClient.connect('localhost:3001', { token: 'secret-token' })
    await expect(attempt).rejects.toMatchObject({
      code: 'CONNECT_FAILED',
      message: 'localhost:3001 is not a WebSocket URL: give a ws:// or wss:// one',
    })
  })
})
