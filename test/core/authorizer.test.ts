import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { metricNames } from '../../lambdas/adapters/metric-names.js'
import type { AuthorizerEvent, AuthorizerResult } from '../../lambdas/adapters/websocket-event.js'
import { authorizerSettings } from '../../lambdas/settings.js'

// The authorizer is called directly, configured through its environment as the CDK stack configures it,
// against a JWKS that a local HTTP server publishes; everything it writes (logs, EMF metrics) is captured.
const issuer = 'https://issuer.test/'
const audience = 'huddle-test'
const kid = 'test-key'
const namespacedClaim = 'https://example.com/huddle_id'

type Signer = (
  claims: JWTPayload,
  options?: { expiresIn?: number; issuer?: string; audience?: string },
) => Promise<string>
let sign: Signer
let signWithOtherKey: Signer
let jwksStatus = 200
let jwksUrl: string
let unreachableUrl: string
let server: Server

function signerFor(key: CryptoKey, keyId: string): Signer {
  return (claims, options = {}) => {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: keyId })
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? audience)
      .setIssuedAt(now)
      .setExpirationTime(now + (options.expiresIn ?? 600))
      .sign(key)
  }
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const listening = createServer(handler)
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve))
  return listening
}
const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/.well-known/jwks.json`

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const other = await generateKeyPair('ES256')
  sign = signerFor(privateKey, kid)
  signWithOtherKey = signerFor(other.privateKey, 'unknown-key')
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] })
  server = await listen((_, response) => {
    response.writeHead(jwksStatus, { 'content-type': 'application/json' })
    response.end(jwksStatus === 200 ? jwks : '{"message":"unavailable"}')
  })
  jwksUrl = urlOf(server)
  // A port that was just free: nothing answers there.
  const closed = await listen(() => {})
  unreachableUrl = urlOf(closed)
  await new Promise((resolve) => closed.close(resolve))
})
afterAll(() => new Promise((resolve) => server.close(resolve)))

const written: string[] = []
const streams = [process.stdout, process.stderr]
const writes = streams.map((stream) => stream.write.bind(stream))
beforeAll(() => {
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array) => written.push(String(chunk)) > 0) as typeof stream.write
  }
})
afterAll(() => {
  streams.forEach((stream, i) => {
    stream.write = writes[i] as typeof stream.write
  })
})
afterEach(() => {
  written.length = 0
  jwksStatus = 200
})

/** The JSON lines written so far: structured logs and EMF metric blobs. */
function output(): Record<string, unknown>[] {
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}
/** The metrics published so far, by name, summed. */
function publishedMetrics(): Record<string, number> {
  const totals: Record<string, number> = {}
  for (const blob of output().filter((line) => line._aws)) {
    const [directive] = (
      blob._aws as { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] }
    ).CloudWatchMetrics
    expect(directive?.Namespace).toBe('Huddle')
    for (const { Name } of directive?.Metrics ?? []) totals[Name] = (totals[Name] ?? 0) + Number(blob[Name])
  }
  return totals
}

/** A fresh authorizer (a cold start) with the environment the CDK stack gives it. */
async function authorizerWith(settings: { jwksUrl?: string; identityClaim?: string } = {}) {
  Object.assign(process.env, {
    [authorizerSettings.jwksUrl.variable]: settings.jwksUrl ?? jwksUrl,
    [authorizerSettings.jwtIssuer.variable]: issuer,
    [authorizerSettings.jwtAudience.variable]: audience,
    [authorizerSettings.identityClaim.variable]: settings.identityClaim ?? 'sub',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  })
  vi.resetModules()
  const { handler } = await import('../../lambdas/handlers/authorizer.js')
  return (token: string | undefined): Promise<AuthorizerResult> => handler(connectEvent(token))
}

function connectEvent(token: string | undefined): AuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:api/prod/$connect',
    queryStringParameters: token === undefined ? {} : { token },
    requestContext: {
      routeKey: '$connect',
      eventType: 'CONNECT',
      connectionId: 'c1',
      apiId: 'api',
      stage: 'prod',
    },
  }
}

describe('the authorizer', () => {
  it('accepts a valid token and names the connection by its sub', async () => {
    const authorize = await authorizerWith()
    const result = await authorize(await sign({ sub: 'alice' }))
    expect(result).toEqual({
      principalId: 'alice',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: connectEvent('').methodArn }],
      },
      context: { sub: 'alice' },
    })
    expect(publishedMetrics()).toEqual({})
  })

  it('names the connection by the configured claim, namespaced names included', async () => {
    const authorize = await authorizerWith({ identityClaim: namespacedClaim })
    const token = await sign({ sub: 'auth0|65f0c0ffee', [namespacedClaim]: 'alice@example.com' })
    expect(await authorize(token)).toMatchObject({
      principalId: 'alice@example.com',
      context: { sub: 'alice@example.com' },
    })
    const entra = await authorizerWith({ identityClaim: 'oid' })
    const oid = '00000000-0000-0000-66f3-3332eca7ea81'
    expect(await entra(await sign({ sub: 'pairwise-subject', oid }))).toMatchObject({ principalId: oid })
  })

  it('refuses a token without the configured claim, counting a refusal and logging why', async () => {
    const authorize = await authorizerWith({ identityClaim: namespacedClaim })
    const token = await sign({ sub: 'alice' })
    await expect(authorize(token)).rejects.toThrow(/^Unauthorized$/)
    expect(publishedMetrics()).toEqual({ [metricNames.connectionsRefused]: 1 })
    expect(output().find((line) => line.message === 'connection refused')).toMatchObject({
      level: 'INFO',
      reason: `the token has no ${namespacedClaim} claim`,
    })
    expect(written.join('')).not.toContain(token)
  })

  it.each([
    ['an Auth0 subject', 'auth0|65f0c0ffee'],
    ['an empty string', ''],
    ['129 characters', 'a'.repeat(129)],
    ['a number', 42],
    ['a list', ['alice']],
    ['a space', 'alice smith'],
  ])('refuses a claim that is not a valid identity: %s', async (_, value) => {
    const authorize = await authorizerWith()
    await expect(authorize(await sign({ sub: value as string }))).rejects.toThrow(/^Unauthorized$/)
    expect(publishedMetrics()).toEqual({ [metricNames.connectionsRefused]: 1 })
    expect(output().find((line) => line.message === 'connection refused')?.reason).toMatch(
      /the token's sub claim is not a valid identity/,
    )
  })

  it('refuses bad tokens as refusals, never as faults', async () => {
    const authorize = await authorizerWith()
    const tokens = [
      undefined,
      'not-a-jwt',
      await sign({ sub: 'alice' }, { expiresIn: -60 }),
      await sign({ sub: 'alice' }, { issuer: 'https://someone-else.test/' }),
      await sign({ sub: 'alice' }, { audience: 'another-app' }),
      await signWithOtherKey({ sub: 'alice' }),
    ]
    for (const token of tokens)
      await expect(authorize(token), String(token)).rejects.toThrow(/^Unauthorized$/)
    expect(publishedMetrics()).toEqual({ [metricNames.connectionsRefused]: tokens.length })
    const reasons = output()
      .filter((line) => line.message === 'connection refused')
      .map((line) => line.reason)
    expect(reasons).toEqual([
      'no token query parameter',
      expect.any(String),
      expect.stringContaining('"exp"'),
      expect.stringContaining('"iss"'),
      expect.stringContaining('"aud"'),
      expect.stringContaining('no applicable key'),
    ])
    for (const token of tokens) if (token) expect(written.join('')).not.toContain(token)
  })

  it('treats an unreachable JWKS as its own fault: counted and logged apart, and still no connection', async () => {
    const authorize = await authorizerWith({ jwksUrl: unreachableUrl })
    const token = await sign({ sub: 'alice' })
    // Any message but 'Unauthorized': API Gateway answers 500, and the client may try again later.
    const refused = await authorize(token).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(Error)
    expect((refused as Error).message).not.toBe('Unauthorized')
    expect(publishedMetrics()).toEqual({ [metricNames.authorizerFaults]: 1 })
    const logs = output()
    expect(logs.find((line) => line.message === 'connection refused')).toBeUndefined()
    expect(logs.find((line) => String(line.message).startsWith('authorizer fault'))).toMatchObject({
      level: 'ERROR',
    })
    expect(written.join('')).not.toContain(token)
  })

  it('treats a JWKS that answers an error as a fault, and recovers once it answers again', async () => {
    const authorize = await authorizerWith()
    const token = await sign({ sub: 'alice' })
    jwksStatus = 503
    await expect(authorize(token)).rejects.toThrow(/could not be checked/)
    expect(publishedMetrics()).toEqual({ [metricNames.authorizerFaults]: 1 })
    jwksStatus = 200
    expect(await authorize(token)).toMatchObject({ principalId: 'alice' })
  })
})
