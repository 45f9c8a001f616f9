import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { metricNames } from '../../lambdas/adapters/metric-names.js'
import { JwksUnavailable, TokenRefused, tokenVerifier } from '../../lambdas/adapters/tokens.js'
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
  vi.unstubAllEnvs()
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
  const environment = {
    [authorizerSettings.jwksUrl.variable]: settings.jwksUrl ?? jwksUrl,
    [authorizerSettings.jwtIssuer.variable]: issuer,
    [authorizerSettings.jwtAudience.variable]: audience,
    [authorizerSettings.identityClaim.variable]: settings.identityClaim ?? 'sub',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  }
  // Stubbed, and restored after the file: other files share this worker's process.
  for (const [name, value] of Object.entries(environment)) vi.stubEnv(name, value)
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

/** A signing key of the issuer's: its JWK as the JWKS publishes it, and tokens signed with it. */
interface IssuerKey {
  jwk: JWK
  sign: Signer
}
async function issuerKey(kid: string): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  return { jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' }, sign: signerFor(privateKey, kid) }
}
const keySet = (...keys: IssuerKey[]) => JSON.stringify({ keys: keys.map((key) => key.jwk) })

describe('the JWKS source', () => {
  // The endpoint answers as `answer` says, and counts what it is asked.
  let answer: (response: ServerResponse) => void
  let requests = 0
  let endpoint: Server
  let url: string
  let keyA: IssuerKey
  let keyB: IssuerKey

  beforeAll(async () => {
    keyA = await issuerKey('key-a')
    keyB = await issuerKey('key-b')
    endpoint = await listen((_, response) => {
      requests++
      answer(response)
    })
    url = urlOf(endpoint)
  })
  afterAll(() => new Promise((resolve) => endpoint.close(resolve)))

  const serve = (body: string, status = 200) => {
    answer = (response) => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(body)
    }
  }
  const verifier = (jwksUrl = url) => tokenVerifier({ jwksUrl, issuer, audience, identityClaim: 'sub' })
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.unreachable('the token was accepted'),
      (error: unknown) => error as Error,
    )

  beforeEach(() => {
    requests = 0
    serve(keySet(keyA))
    // Date alone is faked: the cache's clock moves only when a test moves it, and the I/O stays real.
    vi.useFakeTimers({ toFake: ['Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })
  const wait = (ms: number) => vi.setSystemTime(Date.now() + ms)

  it('fetches the keys once for concurrent first tokens, and keeps them ten minutes', async () => {
    const verify = verifier()
    const token = await keyA.sign({ sub: 'alice' }, { expiresIn: 3600 })
    const identities = await Promise.all(Array.from({ length: 10 }, () => verify(token)))
    expect(identities).toEqual(Array(10).fill('alice'))
    expect(requests).toBe(1)
    wait(10 * 60_000 - 1)
    expect(await verify(token)).toBe('alice')
    expect(requests).toBe(1)
    wait(1)
    expect(await verify(token)).toBe('alice')
    expect(requests).toBe(2)
  })

  it("accepts a new key's tokens once the JWKS is fetched again, and refuses the retired key's", async () => {
    const verify = verifier()
    expect(await verify(await keyA.sign({ sub: 'alice' }))).toBe('alice')
    serve(keySet(keyB))
    const rotated = await keyB.sign({ sub: 'bob' })
    // Within 30 s of the last fetch an unknown key is refused without asking again.
    await expect(verify(rotated)).rejects.toThrow(TokenRefused)
    expect(requests).toBe(1)
    wait(30_000)
    expect(await verify(rotated)).toBe('bob')
    expect(requests).toBe(2)
    await expect(verify(await keyA.sign({ sub: 'alice' }))).rejects.toThrow(TokenRefused)
    expect(requests).toBe(2)
  })

  it('fetches at most once for a burst of tokens whose key it lacks, and again only after 30 s', async () => {
    const verify = verifier()
    expect(await verify(await keyA.sign({ sub: 'alice' }))).toBe('alice')
    const unknown = await keyB.sign({ sub: 'mallory' })
    wait(30_000)
    const refusals = await Promise.all(Array.from({ length: 20 }, () => failure(verify(unknown))))
    for (const error of refusals) expect(error).toBeInstanceOf(TokenRefused)
    expect(requests).toBe(2)
    for (let i = 0; i < 5; i++) await expect(verify(unknown)).rejects.toThrow(TokenRefused)
    wait(29_999)
    await expect(verify(unknown)).rejects.toThrow(TokenRefused)
    expect(requests).toBe(2)
    wait(1)
    await expect(verify(unknown)).rejects.toThrow(TokenRefused)
    expect(requests).toBe(3)
  })

  it.each([
    ['answers 500', () => serve('{"message":"unavailable"}', 500), 'answered HTTP 500, not 200'],
    ['redirects', () => serve('', 302), 'answered HTTP 302, not 200'],
    [
      'answers HTML',
      () => serve('<html>maintenance</html>'),
      'answered HTTP 200 with a body that is not JSON',
    ],
    ['answers JSON that is no key set', () => serve('{"keys":"none"}'), 'is not a JSON Web Key Set'],
  ])('fails with its own error, not a refusal, when the JWKS %s', async (_, setUp, why) => {
    setUp()
    const error = await failure(verifier()(await keyA.sign({ sub: 'alice' })))
    expect(error).toBeInstanceOf(JwksUnavailable)
    expect(error.message).toBe(`the JWKS at ${url} ${why}`)
  })

  it('fails with its own error when nothing answers at the URL', async () => {
    const error = await failure(verifier(unreachableUrl)(await keyA.sign({ sub: 'alice' })))
    expect(error).toBeInstanceOf(JwksUnavailable)
    expect(error.message).toBe(`the JWKS at ${unreachableUrl} could not be fetched (ECONNREFUSED)`)
  })

  it('keeps failing, not refusing, while the JWKS is down after the keys expire, and recovers', async () => {
    const verify = verifier()
    const token = await keyA.sign({ sub: 'alice' }, { expiresIn: 3600 })
    expect(await verify(token)).toBe('alice')
    wait(10 * 60_000)
    serve('', 503)
    await expect(verify(token)).rejects.toThrow(JwksUnavailable)
    await expect(verify(token)).rejects.toThrow(JwksUnavailable)
    serve(keySet(keyA))
    expect(await verify(token)).toBe('alice')
    expect(requests).toBe(4)
  })

  it('gives up on a JWKS that does not answer within 5 s', async () => {
    const token = await keyA.sign({ sub: 'alice' })
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] })
    const asked = new Promise<void>((resolve) => {
      answer = () => resolve()
    })
    let settled = false
    const verifying = failure(verifier()(token)).finally(() => {
      settled = true
    })
    await asked
    vi.advanceTimersByTime(4_999)
    await new Promise(setImmediate)
    expect(settled).toBe(false)
    vi.advanceTimersByTime(1)
    const error = await verifying
    expect(error).toBeInstanceOf(JwksUnavailable)
    expect(error.message).toBe(`the JWKS at ${url} did not answer within 5 s`)
  })
})
