import { identityPattern } from '@huddle/client/protocol'
import {
  createLocalJWKSet,
  decodeJwt,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose'
import { readIfPresent, writePrivately } from './data-dir.js'

/**
 * The audience of the tokens the local stack signs: the web chat's client id at the local OpenID provider
 * (local/oidc/provider.ts), so that its ID tokens and dev tokens pass the same check.
 */
export const devTokenClaims = { audience: 'huddle' } as const

/** The issuer a token names when none is given: no stack accepts it (a token from elsewhere). */
const unknownIssuer = 'urn:huddle:no-stack'

export interface DevTokens {
  jwks: { keys: JWK[] }
  /** The private key (ES256) that signs dev tokens and the local OpenID provider's ID tokens alike. */
  signingKey: JWK
  /**
   * Signs a token for any identity; `expiresIn` seconds from now (negative for an already expired one),
   * naming `issuer` (the local stack's: localIssuer(url) in local/oidc/provider.ts).
   */
  issue(sub: string, expiresIn?: number, issuer?: string): Promise<string>
}

/**
 * A signing key published as a JWKS, so that tokens go through the real verification code. With `keyFile`
 * (the data folder's), the key is kept there and reused, so tokens stay valid across restarts; without it,
 * a fresh key per run.
 */
export async function createDevTokens(keyFile?: string): Promise<DevTokens> {
  const stored = keyFile ? await readKey(keyFile) : undefined
  let privateJwk: JWK
  if (stored) {
    privateJwk = stored
  } else {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    privateJwk = { ...(await exportJWK(privateKey)), kid: crypto.randomUUID(), alg: 'ES256', use: 'sig' }
    if (keyFile) await writePrivately(keyFile, `${JSON.stringify(privateJwk, null, 2)}\n`)
  }
  const { d: _private, ...publicJwk } = privateJwk
  const kid = privateJwk.kid
  const privateKey = await importJWK(privateJwk, 'ES256')
  return {
    jwks: { keys: [publicJwk] },
    signingKey: privateJwk,
    issue: (sub, expiresIn = 12 * 60 * 60, issuer = unknownIssuer) => {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', ...(kid && { kid }) })
        .setSubject(sub)
        .setIssuer(issuer)
        .setAudience(devTokenClaims.audience)
        .setIssuedAt(now)
        .setExpirationTime(now + expiresIn)
        .sign(privateKey)
    },
  }
}

async function readKey(file: string): Promise<JWK | undefined> {
  const text = await readIfPresent(file)
  if (text === undefined) return undefined
  const jwk = JSON.parse(text) as JWK
  if (jwk.kty !== 'EC' || typeof jwk.d !== 'string') {
    throw new Error(`${file} is not an ES256 private key (JWK); delete it to have a new one made`)
  }
  return jwk
}

/** What a refused connection's token was checked against. */
export interface TokenExpectations {
  issuer?: string
  audience?: string
  identityClaim?: string
  /** The keys tokens must be signed with, when the stack knows them (its dev tokens). */
  jwks?: { keys: JWK[] }
}

/**
 * Why the authorizer refused a token, in words for the gateway's log: never the token itself, nor the
 * identity it carries.
 */
export async function explainRefusedToken(
  token: string | undefined,
  expected: TokenExpectations,
): Promise<string> {
  if (!token) return 'no token: connect with ?token=<JWT>'
  let payload: JWTPayload
  try {
    payload = decodeJwt(token)
  } catch {
    return 'the token is not a JWT'
  }
  const now = Math.floor(Date.now() / 1000)
  if (typeof payload.exp === 'number' && payload.exp <= now)
    return `the token expired ${now - payload.exp} s ago`
  if (expected.jwks) {
    try {
      ;({ payload } = await jwtVerify(token, createLocalJWKSet(expected.jwks), {
        ...(expected.issuer && { issuer: expected.issuer }),
        ...(expected.audience && { audience: expected.audience }),
        requiredClaims: ['exp'],
      }))
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) {
        return 'the token was signed with a key this stack does not publish (from another stack, or an in-memory run)'
      }
      if (error instanceof errors.JWSSignatureVerificationFailed)
        return 'the token’s signature does not verify'
      if (error instanceof errors.JWTClaimValidationFailed) {
        return `the token’s ${error.claim} claim is not what this stack expects (${error.message})`
      }
      return `the token does not verify: ${error instanceof Error ? error.message : String(error)}`
    }
  } else {
    if (expected.issuer && payload.iss !== expected.issuer)
      return 'the token’s issuer is not the expected one'
    const audiences = [payload.aud ?? []].flat()
    if (expected.audience && !audiences.includes(expected.audience))
      return 'the token’s audience is not the expected one'
  }
  const claim = expected.identityClaim ?? 'sub'
  const identity = payload[claim]
  if (typeof identity !== 'string' || !identityPattern.test(identity)) {
    return `the token’s ${claim} claim is missing or not a valid identity`
  }
  return 'the authorizer refused the token (its signature or claims)'
}

/** Asks a running local stack to sign a token for `sub` (what examples, tests and benchmarks connect with). */
export async function fetchDevToken(httpUrl: string, sub: string, expiresIn?: number): Promise<string> {
  const response = await fetch(new URL('/dev/token', httpUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, ...(expiresIn !== undefined && { expiresIn }) }),
  }).catch((error: unknown) => {
    throw new Error(`cannot reach ${httpUrl} (is \`npm start\` running?): ${String(error)}`)
  })
  if (!response.ok) throw new Error(`POST /dev/token answered ${response.status}: ${await response.text()}`)
  const { token } = (await response.json()) as { token: string }
  return token
}

/** Closes a connection from the server side, as DELETE @connections does in AWS (dev mode, unsigned). */
export async function closeDevConnection(httpUrl: string, connectionId: string): Promise<number> {
  const response = await fetch(new URL(`/dev/connections/${encodeURIComponent(connectionId)}`, httpUrl), {
    method: 'DELETE',
  })
  await response.body?.cancel()
  return response.status
}
