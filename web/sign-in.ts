/**
 * Signing in at an OpenID provider with the Authorization Code flow and PKCE (oauth4webapi): to the
 * provider's pages and back to the web chat's root, where the code is exchanged for an ID token (what the
 * WebSocket API's authorizer checks) and a refresh token.
 */
import * as oauth from 'oauth4webapi'
import type { SignInConfig } from './config.js'

/** What the provider gave: the ID token, when it expires, who it names, and how to get the next one. */
export interface Tokens {
  idToken: string
  /** Epoch seconds. */
  expiresAt: number
  identity: string
  refreshToken?: string
}

/** A sign-in step failed; its message says what happened and what to do. */
export class SignInError extends Error {
  override readonly name: string = 'SignInError'
}

/** The provider refused the refresh token (expired, revoked): the session is over, sign in again. */
export class SessionEnded extends SignInError {
  override readonly name = 'SessionEnded'
}

/** What a sign-in started in this tab keeps across the trip to the provider (sessionStorage: this tab only). */
const pendingKey = 'huddle.sign-in'
interface Pending {
  state: string
  nonce: string
  codeVerifier: string
  redirectUri: string
}

const servers = new Map<string, Promise<oauth.AuthorizationServer>>()

/** The provider's metadata, read once per issuer; the issuer it names must be the one configured. */
function discover(config: SignInConfig): Promise<oauth.AuthorizationServer> {
  let server = servers.get(config.issuer)
  if (!server) {
    const issuer = new URL(config.issuer)
    server = oauth
      .discoveryRequest(issuer, { algorithm: 'oidc', ...insecure(issuer) })
      .then((response) => oauth.processDiscoveryResponse(issuer, response))
      .catch((error: unknown) => {
        servers.delete(config.issuer)
        throw explain(error, config)
      })
    servers.set(config.issuer, server)
  }
  return server
}

/** Plain http is allowed for a provider on this machine only (the local stack's). */
function insecure(url: URL): { [oauth.allowInsecureRequests]?: true } {
  const local = url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  return local ? { [oauth.allowInsecureRequests]: true } : {}
}

const client = (config: SignInConfig): oauth.Client => ({ client_id: config.clientId })

/** Where the provider sends the browser back: the web chat's root, as the client registers it. */
export const redirectUri = (): string => `${location.origin}/`

/** Goes to the provider's sign-in page (a full navigation); `prompt=login` so that anyone may sign in. */
export async function startSignIn(config: SignInConfig): Promise<void> {
  const server = await discover(config)
  if (!server.authorization_endpoint) {
    throw new SignInError(`The sign-in provider at ${config.issuer} has no authorization endpoint.`)
  }
  const pending: Pending = {
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    codeVerifier: oauth.generateRandomCodeVerifier(),
    redirectUri: redirectUri(),
  }
  sessionStorage.setItem(pendingKey, JSON.stringify(pending))
  const url = new URL(server.authorization_endpoint)
  url.search = new URLSearchParams({
    client_id: config.clientId,
    response_type: 'code',
    redirect_uri: pending.redirectUri,
    scope: config.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(pending.codeVerifier),
    code_challenge_method: 'S256',
    prompt: 'login',
  }).toString()
  location.assign(url)
}

/** Whether this address is the provider's answer to a sign-in (a code or an error, with a state). */
export function isSignInResponse(url: URL): boolean {
  return url.searchParams.has('state') && (url.searchParams.has('code') || url.searchParams.has('error'))
}

/** The address without the provider's answer, for the address bar and the history. */
export function withoutSignInResponse(url: URL): string {
  const clean = new URL(url)
  for (const name of ['code', 'state', 'error', 'error_description', 'error_uri', 'iss', 'session_state']) {
    clean.searchParams.delete(name)
  }
  return clean.toString()
}

/** Checks the provider's answer against the sign-in this tab started and exchanges its code for tokens. */
export async function finishSignIn(config: SignInConfig, url: URL): Promise<Tokens> {
  const saved = sessionStorage.getItem(pendingKey)
  sessionStorage.removeItem(pendingKey)
  if (!saved) {
    throw new SignInError(
      'This sign-in was not started in this tab (or it was already finished). Choose Sign in to start again.',
    )
  }
  const pending = JSON.parse(saved) as Pending
  try {
    const server = await discover(config)
    const parameters = oauth.validateAuthResponse(server, client(config), url, pending.state)
    const response = await oauth.authorizationCodeGrantRequest(
      server,
      client(config),
      oauth.None(),
      parameters,
      pending.redirectUri,
      pending.codeVerifier,
      insecure(new URL(config.issuer)),
    )
    const result = await oauth.processAuthorizationCodeResponse(server, client(config), response, {
      expectedNonce: pending.nonce,
      requireIdToken: true,
    })
    return tokensOf(result, config)
  } catch (error) {
    throw explain(error, config)
  }
}

/** The next ID token, through the refresh token; a SessionEnded when the provider refuses it. */
export async function refresh(config: SignInConfig, refreshToken: string): Promise<Tokens> {
  try {
    const server = await discover(config)
    const response = await oauth.refreshTokenGrantRequest(
      server,
      client(config),
      oauth.None(),
      refreshToken,
      insecure(new URL(config.issuer)),
    )
    const result = await oauth.processRefreshTokenResponse(server, client(config), response)
    return tokensOf(result, config)
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant') {
      throw new SessionEnded(
        'Your session has ended (it expired, or you signed out in another tab). Sign in again.',
      )
    }
    throw explain(error, config)
  }
}

/** Revokes a refresh token at the provider, when it has a revocation endpoint (RFC 7009). */
export async function revoke(config: SignInConfig, refreshToken: string): Promise<void> {
  const server = await discover(config)
  if (!server.revocation_endpoint) return
  const response = await oauth.revocationRequest(server, client(config), oauth.None(), refreshToken, {
    ...insecure(new URL(config.issuer)),
    additionalParameters: { token_type_hint: 'refresh_token' },
  })
  await oauth.processRevocationResponse(response)
}

function tokensOf(result: oauth.TokenEndpointResponse, config: SignInConfig): Tokens {
  const claims = oauth.getValidatedIdTokenClaims(result)
  if (!result.id_token || !claims) {
    throw new SignInError(`The sign-in provider sent no ID token: check that signIn.scope includes openid.`)
  }
  const identity = claims[config.identityClaim]
  if (typeof identity !== 'string' || identity === '') {
    throw new SignInError(
      `The ID token has no ${config.identityClaim} claim to name you by: check signIn.identityClaim in config.json.`,
    )
  }
  return {
    idToken: result.id_token,
    expiresAt: claims.exp,
    identity,
    ...(result.refresh_token && { refreshToken: result.refresh_token }),
  }
}

/** An error from a sign-in step, in words a user can act on (never with a token in them). */
function explain(error: unknown, config: SignInConfig): SignInError {
  if (error instanceof SignInError) return error
  const provider = new URL(config.issuer).origin
  if (error instanceof oauth.AuthorizationResponseError) {
    if (error.error === 'access_denied') {
      return new SignInError('Sign-in was cancelled, so you are not signed in. Choose Sign in to try again.')
    }
    return new SignInError(
      `The sign-in provider refused the sign-in: ${error.error_description ?? error.error}. Choose Sign in to try again.`,
    )
  }
  if (error instanceof oauth.ResponseBodyError) {
    return new SignInError(
      `The sign-in provider refused: ${error.error_description ?? error.error}. Choose Sign in to try again.`,
    )
  }
  if (error instanceof oauth.OperationProcessingError) {
    if (error.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
      return new SignInError(
        `The sign-in provider at ${provider} names another issuer than this web chat's settings (${config.issuer}): its config.json needs the provider's exact issuer. Ask whoever deployed it.`,
      )
    }
    if (error.message.includes('"state"')) {
      return new SignInError(
        'This sign-in answer does not belong to the sign-in started here (an old or copied link). Choose Sign in to start again.',
      )
    }
    return new SignInError(
      `The sign-in provider's answer could not be used (${error.message}). Choose Sign in to try again.`,
    )
  }
  if (error instanceof TypeError) {
    return new SignInError(
      `Cannot reach the sign-in provider at ${provider}: check your connection (locally, that \`npm start\` is running), then try again.`,
    )
  }
  return new SignInError(`Sign-in failed: ${error instanceof Error ? error.message : String(error)}.`)
}
