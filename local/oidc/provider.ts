import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JWK } from 'jose'
import { type Accounts, openAccounts } from './accounts.js'
import { interactionPath, SignInPages } from './interactions.js'
import { pageHeaders, problemPage } from './pages.js'
import { providerStore } from './store.js'

/** Where the provider is mounted in the gateway; its issuer is the gateway's URL and this path. */
export const oidcMount = '/oidc'

/** The web chat's client: its id is the audience of its ID tokens, which the authorizer expects. */
export const webChatClientId = 'huddle'

/** The issuer of the local stack's tokens, for the gateway at `gatewayUrl`. */
export const localIssuer = (gatewayUrl: string): string => `${gatewayUrl}${oidcMount}`

/** How long an ID token lives unless told otherwise: 15 minutes. */
export const defaultIdTokenLifetimeSeconds = 15 * 60

export interface LocalSignInOptions {
  /** Where accounts are kept (the data folder's accounts file); in memory when undefined. */
  accountsFile?: string
  /** Where the provider keeps its grants and refresh tokens across restarts; in memory when undefined. */
  stateFile?: string
  /** How long an ID token lives, in seconds (15 minutes by default). */
  idTokenLifetimeSeconds?: number
}

/** The local OpenID provider, as the gateway serves it. */
export interface LocalSignIn {
  issuer: string
  clientId: string
  /** The scope the web chat asks for: refresh tokens come with the client's grant, not with a scope. */
  scope: string
  accounts: Accounts
  /** Answers a request under the mount path; false for any other path. */
  serve(request: IncomingMessage, response: ServerResponse, path: string): Promise<boolean>
  /** Sets how long the ID tokens issued from now on live: `sub`'s alone, or everyone's without it. */
  setIdTokenLifetime(seconds: number, sub?: string): void
}

/**
 * A real OpenID Connect provider (oidc-provider) for the gateway at `gatewayUrl`: Authorization Code with
 * PKCE (S256) for the web chat (a public client at the gateway's root, as 127.0.0.1 and as localhost),
 * refresh tokens rotated at each use, revocation, and ID tokens signed with the dev tokens' key, so the JWKS
 * the authorizer fetches verifies both.
 */
export async function startLocalSignIn(
  gatewayUrl: string,
  signingKey: JWK,
  options: LocalSignInOptions = {},
): Promise<LocalSignIn> {
  const issuer = localIssuer(gatewayUrl)
  const { port } = new URL(gatewayUrl)
  const webChatOrigins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`]
  const accounts = await openAccounts(options.accountsFile)
  let defaultLifetime = options.idTokenLifetimeSeconds ?? defaultIdTokenLifetimeSeconds
  const lifetimes = new Map<string, number>()
  // Loaded with the first provider, so that what only imports the stack's names does not load Koa.
  const { Provider } = await import('oidc-provider')
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: webChatClientId,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: webChatOrigins.map((origin) => `${origin}/`),
        id_token_signed_response_alg: 'ES256',
      },
    ],
    adapter: await providerStore(options.stateFile),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      // The web chat revokes its own refresh token at sign-out; a token of another client is left alone.
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
    },
    interactions: { url: (_ctx, interaction) => interactionPath(oidcMount, interaction.uid) },
    findAccount: async (_ctx, sub) =>
      (await accounts.has(sub)) ? { accountId: sub, claims: async () => ({ sub }) } : undefined,
    // The client asks for refresh tokens by its grant types, as Cognito's app clients do, with no
    // offline_access scope (which would also require a consent prompt); they outlive the provider's session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris.some((uri) => new URL(uri).origin === origin),
    renderError: async (ctx, out) => {
      for (const [name, value] of Object.entries(pageHeaders(webChatOrigins))) ctx.set(name, value)
      ctx.type = 'html'
      ctx.body = problemPage(
        'Sign-in failed',
        `The sign-in could not go on (${out.error_description ?? out.error}). Go back to the web chat and choose Sign in again.`,
      )
    },
    ttl: {
      AccessToken: 15 * 60,
      AuthorizationCode: 60,
      ClientCredentials: 10 * 60,
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60,
      Grant: 14 * 24 * 60 * 60,
      IdToken: (_ctx, token) => lifetimes.get(token.available?.sub ?? '') ?? defaultLifetime,
      Interaction: 60 * 60,
      RefreshToken: 14 * 24 * 60 * 60,
      Session: 14 * 24 * 60 * 60,
    },
  })
  const pages = new SignInPages(provider, accounts, oidcMount, webChatOrigins)
  const handle = provider.callback()
  return {
    issuer,
    clientId: webChatClientId,
    scope: 'openid',
    accounts,
    async serve(request, response, path) {
      if (path !== oidcMount && !path.startsWith(`${oidcMount}/`)) return false
      if (await pages.serve(request, response, path)) return true
      // Mounted as Express mounts it: the provider reads its mount path from originalUrl.
      const original = request.url ?? '/'
      Object.assign(request, { originalUrl: original, url: original.slice(oidcMount.length) || '/' })
      // Koa answers on its own, its errors included (renderError).
      handle(request, response)
      return true
    },
    setIdTokenLifetime(seconds, sub) {
      if (sub === undefined) defaultLifetime = seconds
      else lifetimes.set(sub, seconds)
    },
  }
}
