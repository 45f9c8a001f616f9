import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Gateway } from '../../local/gateway.js'
import { ownGateway } from '../support/gateways.js'
import { TestClient, tableClient, unique } from '../support/huddle.js'

// A gateway of its own with API Gateway's 10 min idle and 2 h lifetimes scaled down, on the shared emulators.
let gateway: Gateway
beforeAll(async () => {
  gateway = await ownGateway({ idleTimeoutMs: 1500, maxLifetimeMs: 3000 })
})
afterAll(() => gateway?.close())

describe('connection lifetimes', () => {
  it('closes an idle connection with 1001 and forgets it', async () => {
    const client = await TestClient.connect(unique('idle'), gateway.url)
    const { code, reason } = await client.closed()
    expect(code).toBe(1001)
    expect(reason).toBe('idle timeout')
    const { store } = tableClient()
    await expect.poll(async () => (await store.connectionsOf([client.iss])).get(client.iss)).toBeUndefined()
  })

  it('closes a busy connection when it reaches the maximum lifetime', async () => {
    const client = await TestClient.connect(unique('busy'), gateway.url)
    const closed = client.closed()
    const keepBusy = setInterval(() => client.socket.send('{"action":"groups"}'), 100)
    const { code, reason } = await closed
    clearInterval(keepBusy)
    expect(code).toBe(1001)
    expect(reason).toBe('maximum connection lifetime')
  })
})
