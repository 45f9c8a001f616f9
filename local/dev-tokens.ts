import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'

/** Issuer and audience of the tokens the local stack signs; the authorizer is configured with the same. */
export const devTokenClaims = { issuer: 'huddle-local', audience: 'huddle' } as const

export interface DevTokens {
  jwks: { keys: JWK[] }
  /** Signs a token for any identity; `expiresIn` seconds from now (negative for an already expired one). */
  issue(sub: string, expiresIn?: number): Promise<string>
}

/** A fresh signing key per run, published as a JWKS so tokens go through the real verification code. */
export async function createDevTokens(): Promise<DevTokens> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const kid = crypto.randomUUID()
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }
  return {
    jwks: { keys: [jwk] },
    issue: (sub, expiresIn = 12 * 60 * 60) => {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(sub)
        .setIssuer(devTokenClaims.issuer)
        .setAudience(devTokenClaims.audience)
        .setIssuedAt(now)
        .setExpirationTime(now + expiresIn)
        .sign(privateKey)
    },
  }
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
