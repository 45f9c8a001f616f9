import { get as httpGet } from 'node:http'
import { get as httpsGet } from 'node:https'
import { identityPattern } from '@huddle/client/protocol'
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey, jwtVerify } from 'jose'

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

/** The JWKS could not be fetched or read: the token could not be checked, which is not the client's fault. */
export class JwksUnavailable extends Error {
  override readonly name = 'JwksUnavailable'
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
  const keys = remoteKeySet(new URL(settings.jwksUrl))
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

/** How long fetched keys are used before they are fetched again (jose's `cacheMaxAge`). */
const keysMaxAgeMs = 10 * 60_000
/** A token whose key the set lacks fetches the set again only when it is older than this (jose's cooldown). */
const keysCooldownMs = 30_000
/** A JWKS fetch that takes longer fails. */
const jwksTimeoutMs = 5_000

/**
 * The keys at a JWKS URL, fetched on first use and kept for ten minutes; a token whose key is not among them
 * (the issuer may have rotated) fetches them again, at most once per cooldown. Concurrent callers share one
 * fetch. Fetched over node:http(s) rather than `fetch`, which would load undici into every cold start.
 */
function remoteKeySet(url: URL): JWTVerifyGetKey {
  let keys: ReturnType<typeof createLocalJWKSet> | undefined
  let fetchedAt = 0
  let fetching: Promise<ReturnType<typeof createLocalJWKSet>> | undefined
  const refetch = () => {
    fetching ??= fetchJwks(url)
      .then((jwks) => {
        keys = keySetOf(url, jwks)
        fetchedAt = Date.now()
        return keys
      })
      .finally(() => {
        fetching = undefined
      })
    return fetching
  }
  return async (header, token) => {
    const current = keys !== undefined && Date.now() - fetchedAt < keysMaxAgeMs ? keys : await refetch()
    try {
      return await current(header, token)
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || Date.now() - fetchedAt < keysCooldownMs) throw error
      return (await refetch())(header, token)
    }
  }
}

function keySetOf(url: URL, jwks: unknown): ReturnType<typeof createLocalJWKSet> {
  try {
    return createLocalJWKSet(jwks as JSONWebKeySet)
  } catch (error) {
    throw new JwksUnavailable(`the JWKS at ${url.href} is not a JSON Web Key Set`, { cause: error })
  }
}

/** GETs the JWKS and parses it as JSON; any failure (no answer, a status other than 200, not JSON) is ours. */
function fetchJwks(url: URL): Promise<unknown> {
  const get = { 'http:': httpGet, 'https:': httpsGet }[url.protocol]
  if (get === undefined) return Promise.reject(new JwksUnavailable(`the JWKS URL ${url.href} is not http(s)`))
  const headers = { accept: 'application/json, application/jwk-set+json', 'user-agent': 'huddle-authorizer' }
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) => {
      clearTimeout(timer)
      reject(new JwksUnavailable(`the JWKS at ${url.href} ${why}`, { cause }))
    }
    const request = get(url, { headers }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        return fail(`answered HTTP ${response.statusCode}, not 200`)
      }
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', (error) => fail(`could not be read (${networkError(error)})`, error))
      response.on('end', () => {
        clearTimeout(timer)
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        } catch (error) {
          fail('answered HTTP 200 with a body that is not JSON', error)
        }
      })
    })
    request.on('error', (error) => fail(`could not be fetched (${networkError(error)})`, error))
    const timer = setTimeout(() => {
      fail(`did not answer within ${jwksTimeoutMs / 1000} s`)
      request.destroy()
    }, jwksTimeoutMs)
  })
}

/** A network error's code (ECONNREFUSED), which a refused connection to a host of two addresses has alone. */
function networkError(error: NodeJS.ErrnoException): string {
  return error.code ?? error.message
}
