import { createRemoteJWKSet, jwtVerify } from 'jose'
import { identityPattern } from '../core/frames.js'

export interface TokenSettings {
  jwksUrl: string
  issuer: string
  audience: string
}

/** Verifies a JWT's signature (keys from the JWKS URL, cached), issuer, audience and expiry; returns its `sub`. */
export function tokenVerifier(settings: TokenSettings): (token: string) => Promise<string> {
  const keys = createRemoteJWKSet(new URL(settings.jwksUrl))
  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      issuer: settings.issuer,
      audience: settings.audience,
      requiredClaims: ['sub', 'exp'],
    })
    if (typeof payload.sub !== 'string' || !identityPattern.test(payload.sub)) {
      throw new Error('the token subject is not a valid identity')
    }
    return payload.sub
  }
}
