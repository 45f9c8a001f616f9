/**
 * A signed-in session at the OpenID provider: the ID token in memory, renewed through the refresh token,
 * which waits for the next load in the encrypted store (web/token-store.ts).
 */
import type { SignInConfig } from './config.js'
import { refresh, revoke, SessionEnded, type Tokens } from './sign-in.js'
import { forgetSession, loadSession, saveSession } from './token-store.js'

/** An ID token with less than this left is renewed before it is used. */
const renewWithinSeconds = 60

/**
 * The store and the refresh are one step across this browser's tabs: a rotated refresh token used twice
 * ends the whole grant at the provider, so one tab refreshes at a time, with the latest token kept.
 */
async function exclusively<T>(work: () => Promise<T>): Promise<T> {
  let result: { value: T } | undefined
  await navigator.locks.request('huddle-session', async () => {
    result = { value: await work() }
  })
  return (result as { value: T }).value
}

export class ProviderSession {
  private constructor(
    private readonly config: SignInConfig,
    private tokens: Tokens,
  ) {}

  /** Who is signed in (the identity claim of the ID token). */
  get identity(): string {
    return this.tokens.identity
  }

  /** A session from a finished sign-in; its refresh token is kept for the next load. */
  static async begin(config: SignInConfig, tokens: Tokens): Promise<ProviderSession> {
    await exclusively(() => keep(config, tokens))
    return new ProviderSession(config, tokens)
  }

  /**
   * The session kept from an earlier load, renewed now; undefined when none is kept (or it belongs to another
   * provider). Throws SessionEnded when the provider refuses it, a SignInError when it cannot be reached.
   */
  static async resume(config: SignInConfig): Promise<ProviderSession | undefined> {
    const tokens = await exclusively(async () => {
      const kept = await loadSession()
      if (!kept || kept.issuer !== config.issuer || kept.clientId !== config.clientId) return undefined
      return renew(config, kept.refreshToken)
    })
    return tokens && new ProviderSession(config, tokens)
  }

  /**
   * An ID token with more than a minute to live: the one held, or the next one through the refresh token
   * (what ChatClient asks for before every connect). Throws SessionEnded when the provider refuses it.
   */
  async token(): Promise<string> {
    if (this.tokens.expiresAt - Date.now() / 1000 > renewWithinSeconds) return this.tokens.idToken
    this.tokens = await exclusively(async () => {
      const kept = await loadSession()
      const refreshToken = kept?.issuer === this.config.issuer ? kept.refreshToken : this.tokens.refreshToken
      if (!refreshToken) throw new SessionEnded('Your session has ended. Sign in again.')
      return renew(this.config, refreshToken)
    })
    return this.tokens.idToken
  }

  /** Revokes the refresh token at the provider (when it can be reached) and forgets it here. */
  async end(): Promise<void> {
    await exclusively(async () => {
      const kept = await loadSession()
      await forgetSession()
      const refreshToken = kept?.refreshToken ?? this.tokens.refreshToken
      if (refreshToken) await revoke(this.config, refreshToken).catch(() => {})
    })
  }
}

/** Refreshes, keeping the rotated refresh token (or the same one, for a provider that does not rotate). */
async function renew(config: SignInConfig, refreshToken: string): Promise<Tokens> {
  let tokens: Tokens
  try {
    tokens = await refresh(config, refreshToken)
  } catch (error) {
    if (error instanceof SessionEnded) await forgetSession()
    throw error
  }
  const next = { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken }
  await keep(config, next)
  return next
}

async function keep(config: SignInConfig, tokens: Tokens): Promise<void> {
  if (!tokens.refreshToken) return
  await saveSession({
    issuer: config.issuer,
    clientId: config.clientId,
    identity: tokens.identity,
    refreshToken: tokens.refreshToken,
  })
}
