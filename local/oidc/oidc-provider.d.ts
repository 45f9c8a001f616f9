/** The part of oidc-provider (an untyped package) that the local stack's OpenID provider uses. */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export interface ClientMetadata {
    client_id: string
    token_endpoint_auth_method: 'none'
    application_type: 'web'
    grant_types: string[]
    response_types: string[]
    redirect_uris: string[]
    id_token_signed_response_alg: string
  }

  /** The parts of the artefacts (tokens, sessions, interactions) a TTL function reads. */
  export interface Token {
    accountId?: string
    /** An ID token's claims. */
    available?: { sub?: string }
  }

  export interface Client {
    clientId: string
    clientAuthMethod: string
    redirectUris: string[]
    grantTypeAllowed(type: string): boolean
  }

  export interface Account {
    accountId: string
    claims(use: string, scope: string): Promise<{ sub: string }>
  }

  export interface KoaContextWithOIDC {
    oidc: { route?: string; client?: Client }
    type: string
    body: unknown
    status: number
    set(header: string, value: string): void
  }

  export interface ErrorOut {
    error: string
    error_description?: string
  }

  export interface Configuration {
    adapter: new (model: string) => unknown
    clients: ClientMetadata[]
    jwks: { keys: object[] }
    cookies: { keys: string[] }
    pkce: { required: () => boolean }
    features: {
      devInteractions: { enabled: boolean }
      revocation: {
        enabled: boolean
        allowedPolicy: (
          ctx: KoaContextWithOIDC,
          client: Client,
          token: { clientId?: string },
        ) => Promise<boolean>
      }
    }
    interactions: { url: (ctx: KoaContextWithOIDC, interaction: { uid: string }) => string }
    findAccount: (ctx: KoaContextWithOIDC, sub: string) => Promise<Account | undefined>
    issueRefreshToken: (ctx: KoaContextWithOIDC, client: Client) => Promise<boolean>
    expiresWithSession: () => Promise<boolean>
    clientBasedCORS: (ctx: KoaContextWithOIDC, origin: string, client: Client) => boolean
    renderError: (ctx: KoaContextWithOIDC, out: ErrorOut, error: Error) => Promise<void>
    ttl: Record<
      | 'AccessToken'
      | 'AuthorizationCode'
      | 'Grant'
      | 'IdToken'
      | 'Interaction'
      | 'RefreshToken'
      | 'Session'
      | 'ClientCredentials'
      | 'DeviceCode'
      | 'BackchannelAuthenticationRequest'
      | 'PreAuthorizedCode',
      number | ((ctx: KoaContextWithOIDC, token: Token, client: Client) => number)
    >
  }

  export interface InteractionDetails {
    uid: string
    prompt: { name: string; reasons: string[] }
    params: { client_id?: string; scope?: string; login_hint?: string; [key: string]: unknown }
    session?: { accountId?: string }
  }

  export interface InteractionResults {
    login?: { accountId: string }
    consent?: { grantId: string }
    error?: string
    error_description?: string
  }

  export class Grant {
    constructor(init: { accountId: string; clientId: string })
    addOIDCScope(scope: string): void
    save(): Promise<string>
  }

  export class Provider {
    constructor(issuer: string, configuration: Partial<Configuration>)
    readonly issuer: string
    readonly Grant: typeof Grant
    callback(): (request: IncomingMessage, response: ServerResponse) => void
    interactionDetails(request: IncomingMessage, response: ServerResponse): Promise<InteractionDetails>
    interactionFinished(
      request: IncomingMessage,
      response: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>
    on(event: string, listener: (...args: unknown[]) => void): this
  }
}
