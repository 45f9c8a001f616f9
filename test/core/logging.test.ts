import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import type { WebSocketEvent } from '../../lambdas/adapters/websocket-event.js'
import { localHandlerEnvironment } from '../../local/stack.js'
import { tableClient, unique } from '../support/huddle.js'

// The handlers are called directly here, with a management API that does not answer, so that a
// fan-out fails and logs; everything they write to stdout and stderr is captured.
const lines: string[] = []
const streams = [process.stdout, process.stderr]
const writes = streams.map((stream) => stream.write.bind(stream))

beforeAll(() => {
  const environment = localHandlerEnvironment(
    'http://127.0.0.1:9',
    inject('dynamoEndpoint'),
    inject('s3Endpoint'),
  )
  for (const [name, value] of Object.entries(environment)) if (value !== undefined) vi.stubEnv(name, value)
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG')
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0) as typeof stream.write
  }
})
afterAll(() => {
  vi.unstubAllEnvs()
  streams.forEach((stream, i) => {
    stream.write = writes[i] as typeof stream.write
  })
})

function event(routeKey: string, iss: string, body: unknown): WebSocketEvent {
  return {
    requestContext: {
      routeKey,
      eventType: 'MESSAGE',
      connectionId: `conn-${iss}`,
      connectedAt: Date.now(),
      requestId: 'request-1',
      requestTimeEpoch: Date.now(),
      domainName: 'localhost',
      stage: 'test',
      apiId: 'test',
      authorizer: { sub: iss, principalId: iss },
      identity: { sourceIp: '127.0.0.1' },
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  }
}

describe('structured logs', () => {
  it('carry the connection, route and identity, and never a token or a message body', async () => {
    const { handler: authorize } = await import('../../lambdas/handlers/authorizer.js')
    const { handler: message } = await import('../../lambdas/handlers/message.js')
    const { store } = tableClient()
    const [alice, bob, gid] = [unique('alice'), unique('bob'), unique('logged')]
    const at = new Date().toISOString()
    const member = {
      gid,
      status: 'joined',
      role: 'member',
      invitedBy: alice,
      invitedAt: at,
      since: 0,
    } as const
    await store.createGroup(
      { gid, name: 'Logged', createdBy: alice, createdAt: at, head: 0, departedSeq: 0 },
      [
        { ...member, iss: alice, role: 'admin' },
        { ...member, iss: bob },
      ],
    )
    await store.saveConnection({ connectionId: `conn-${bob}`, iss: bob, connectedAt: at, expiresAt: 2e9 })

    await expect(
      authorize({
        type: 'REQUEST',
        methodArn: 'arn:aws:execute-api:local:0:test/test/$connect',
        queryStringParameters: { token: 'secret-token-value' },
        requestContext: {
          routeKey: '$connect',
          eventType: 'CONNECT',
          connectionId: 'c',
          apiId: 'test',
          stage: 'test',
        },
      }),
    ).rejects.toThrow('Unauthorized')
    const reply = await message(event('message', alice, { action: 'message', gid, body: 'very-secret-body' }))
    expect(JSON.parse(reply.body ?? '')).toMatchObject({ type: 'ack' })

    const logs = lines
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line))
    expect(logs.find((log) => log.message === 'connection refused')).toBeDefined()
    const fanOut = logs.find((log) => log.message === 'fan-out')
    expect(fanOut).toMatchObject({ connectionId: `conn-${alice}`, route: 'message', iss: alice, failed: 1 })
    expect(lines.join('')).not.toContain('secret-token-value')
    expect(lines.join('')).not.toContain('very-secret-body')
  })
})
