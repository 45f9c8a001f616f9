/**
 * The web chat's configuration, /config.json beside its page: the local gateway serves it, and the deployed
 * stack writes it to the web chat's bucket at deploy time.
 */

/** Where and how to sign in: an OpenID provider and the web chat's client there. */
export interface SignInConfig {
  /** The provider's issuer; its discovery document is at <issuer>/.well-known/openid-configuration. */
  issuer: string
  /** The web chat's client id, a public client (no secret) allowed PKCE and refresh tokens. */
  clientId: string
  scope: string
  /** The ID token's claim that names the user, as the authorizer is configured with (`sub`, `cognito:username`, …). */
  identityClaim: string
}

export interface WebConfig {
  /** The WebSocket API's URL: ws:// locally, wss:// deployed. */
  websocketUrl: string
  /** Without it, the web chat offers only signing in with a pasted token. */
  signIn?: SignInConfig
}

/** What is wrong with /config.json, in words for the sign-in screen. */
export class ConfigProblem extends Error {
  override readonly name = 'ConfigProblem'
}

/** Reads and checks /config.json; throws a ConfigProblem saying what is wrong and what to do. */
export async function loadConfig(): Promise<WebConfig> {
  let response: Response
  try {
    response = await fetch('/config.json', { cache: 'no-store' })
  } catch {
    throw new ConfigProblem(
      'The web chat could not load its settings (/config.json): the server is not reachable. Check your connection and reload.',
    )
  }
  if (!response.ok) {
    throw new ConfigProblem(
      `The web chat could not load its settings: /config.json answered ${response.status}. Reload, or ask whoever deployed it to check the file.`,
    )
  }
  const value: unknown = await response.json().catch(() => undefined)
  const problem = configProblem(value)
  if (problem) {
    throw new ConfigProblem(
      `The web chat's settings (/config.json) are not valid: ${problem}. Ask whoever deployed it to fix the file.`,
    )
  }
  return value as WebConfig
}

/** What is wrong with a parsed config.json, or undefined when nothing is. */
export function configProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'it is not a JSON object'
  const { websocketUrl, signIn } = value as Record<string, unknown>
  if (typeof websocketUrl !== 'string' || !/^wss?:\/\/[^/]/.test(websocketUrl)) {
    return 'websocketUrl is not a ws:// or wss:// URL'
  }
  if (signIn === undefined) return undefined
  if (typeof signIn !== 'object' || signIn === null) return 'signIn is not an object'
  const { issuer, clientId, scope, identityClaim } = signIn as Record<string, unknown>
  if (typeof issuer !== 'string' || !URL.canParse(issuer)) return 'signIn.issuer is not a URL'
  if (typeof clientId !== 'string' || clientId === '') return 'signIn.clientId is missing'
  if (typeof scope !== 'string' || !scope.split(' ').includes('openid')) {
    return 'signIn.scope does not include openid'
  }
  if (typeof identityClaim !== 'string' || identityClaim === '') return 'signIn.identityClaim is missing'
  return undefined
}
