import { ChatClient, type ChatError, type ConnectionStatus, type ConnectOptions } from '@huddle/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeDevConnection, fetchDevToken } from '../../local/dev-tokens.js'
import type { Gateway } from '../../local/gateway.js'
import { ownGateway } from '../support/gateways.js'
import { unique } from '../support/huddle.js'
import { waitFor } from '../support/sdk.js'

// A gateway of its own whose connections last 4 s instead of API Gateway's 2 hours, on the shared emulators.
let gateway: Gateway
beforeAll(async () => {
  gateway = await ownGateway({ maxLifetimeMs: 4000 })
})
const clients: ChatClient[] = []
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
  await gateway?.close()
})

const wsUrl = () => gateway.url.replace(/^http/, 'ws')

/** A connected member and what its app was told: statuses, connection errors, message bodies. */
async function member(sub: string, options: Partial<ConnectOptions> = {}) {
  const client = await ChatClient.connect(wsUrl(), {
    token: () => fetchDevToken(gateway.url, sub),
    renewConnectionMs: false,
    reconnect: { minDelayMs: 50, maxDelayMs: 200 },
    ...options,
  })
  clients.push(client)
  const chat = client.chat()
  const told = { statuses: [] as ConnectionStatus[], errors: [] as ChatError[], bodies: [] as string[] }
  client.onStatus((status) => told.statuses.push(status))
  client.onConnectionError((error) => told.errors.push(error))
  chat.onMessage((message) => told.bodies.push(message.body))
  return { sub, client, chat, told }
}

/** Alice's group with bob in it, and a way for alice to send numbered messages one after another. */
async function groupOf(alice: Awaited<ReturnType<typeof member>>, bob: Awaited<ReturnType<typeof member>>) {
  const gid = unique('renewal')
  const group = await alice.chat.invite(gid, 'Renewal', [bob.sub])
  await bob.chat.join(gid)
  const sent: string[] = []
  const send = async (count: number, label: string) => {
    for (let i = 0; i < count; i++) {
      const body = `${label} ${i}`
      await group.message(body)
      sent.push(body)
    }
  }
  return { sent, send }
}

describe('tokens that renew, against the local gateway', () => {
  it('outlives its token: cut at the maximum lifetime, the token function is asked again, and every message arrives once, in order', async () => {
    const tokens: string[] = []
    let release = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const bobSub = unique('bob')
    const bob = await member(bobSub, {
      token: async () => {
        // The reconnect's token waits until alice has sent while bob was away.
        if (tokens.length > 0) await released
        const token = await fetchDevToken(gateway.url, bobSub, 2)
        tokens.push(token)
        return token
      },
    })
    const alice = await member(unique('alice'))
    const { sent, send } = await groupOf(alice, bob)
    await send(3, 'before')
    await waitFor(() => expect(bob.client.status).toBe('reconnecting'))
    await send(3, 'during')
    release()
    await waitFor(() => expect(bob.client.status).toBe('open'))
    await send(3, 'after')
    await waitFor(() => expect(bob.told.bodies).toEqual(sent))
    expect(sent).toHaveLength(9)
    expect(tokens.length).toBeGreaterThanOrEqual(2)
    expect(bob.told.errors).toEqual([])
    // The first token had expired by the cut: the gateway refuses it now.
    await expect(ChatClient.connect(wsUrl(), { token: tokens[0] as string })).rejects.toMatchObject({
      code: 'TOKEN_REFUSED',
    })
  })

  it('renews before the gateway cuts it: a new connection with a new token, never reconnecting, every message once', async () => {
    let calls = 0
    const bobSub = unique('bob')
    const bob = await member(bobSub, {
      token: () => {
        calls++
        return fetchDevToken(gateway.url, bobSub, 2)
      },
      renewConnectionMs: 1500,
    })
    const alice = await member(unique('alice'))
    const { sent, send } = await groupOf(alice, bob)
    // Alice keeps sending across two of bob's renewals.
    let round = 0
    while (calls < 3) await send(1, `round ${round++}`)
    await send(2, 'after')
    await waitFor(() => expect(bob.told.bodies).toEqual(sent))
    expect(bob.told.statuses).toEqual([])
    expect(bob.told.errors).toEqual([])
    expect(new Set(sent).size).toBe(sent.length)
  })

  it('says so while its token function fails after a cut, then reconnects once it recovers', async () => {
    let failing = false
    const bobSub = unique('bob')
    const bob = await member(bobSub, {
      token: () =>
        failing ? Promise.reject(new Error('provider offline')) : fetchDevToken(gateway.url, bobSub),
    })
    failing = true
    const response = await fetch(`${gateway.url}/dev/connections?sub=${encodeURIComponent(bobSub)}`)
    const { connectionIds } = (await response.json()) as { connectionIds: string[] }
    for (const id of connectionIds) await closeDevConnection(gateway.url, id)
    await waitFor(() => expect(bob.told.errors.length).toBeGreaterThanOrEqual(2))
    expect(bob.client.status).toBe('reconnecting')
    for (const error of bob.told.errors) {
      expect(error).toMatchObject({
        code: 'TOKEN_FAILED',
        message: expect.stringContaining('the token function failed (provider offline)'),
      })
    }
    failing = false
    await waitFor(() => expect(bob.client.status).toBe('open'))
    expect(bob.told.statuses).toEqual(['reconnecting', 'open'])
    await expect(bob.chat.groups()).resolves.toEqual([])
  })
})
