import { identityPattern } from '@huddle/client/protocol'
import { createRemoteJWKSet, errors, jwtVerify } from 'jose'

export interface TokenSettings {
  jwksUrl: string
  issuer: string
  audience: string
  /** The claim whose value is the user's identity: `sub`, or a custom one such as `https://example.com/huddle_id`. */
  identityClaim: string
}

/** A token the client must not connect with: its fault, answered 401 and never alarmed on. */
export class TokenRefused extends Error {
  override readonly name = 'TokenRefused'
}

/** jose's errors that describe the token itself; every other failure (fetching the JWKS, a bug) is ours. */
const badTokenCodes = new Set([
  errors.JWTExpired.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
])

/**
 * Verifies a JWT's signature (keys from the JWKS URL, cached), issuer, audience and expiry, and returns the
 * identity its configured claim names. A bad token throws `TokenRefused`; anything else that throws means
 * the token could not be checked.
 */
export function tokenVerifier(settings: TokenSettings): (token: string | undefined) => Promise<string> {
  const keys = createRemoteJWKSet(new URL(settings.jwksUrl))
  const claim = settings.identityClaim
  return async (token) => {
    if (!token) throw new TokenRefused('no token query parameter')
    const { payload } = await jwtVerify(token, keys, {
      issuer: settings.issuer,
      audience: settings.audience,
      requiredClaims: ['exp'],
    }).catch((error: unknown) => {
      throw error instanceof errors.JOSEError && badTokenCodes.has(error.code)
        ? new TokenRefused(error.message, { cause: error })
        : error
    })
    const identity = payload[claim]
    if (identity === undefined) throw new TokenRefused(`the token has no ${claim} claim`)
    // The value is not logged: it may be an e-mail address.
    if (typeof identity !== 'string' || !identityPattern.test(identity)) {
      throw new TokenRefused(
        `the token's ${claim} claim is not a valid identity (1–128 characters of A-Z a-z 0-9 _ . : @ -)`,
      )
    }
    return identity
  }
}
