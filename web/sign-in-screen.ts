/** The sign-in screen: the provider's sign-in, a session kept from an earlier load, or a pasted token. */

import { ConfigProblem, loadConfig, type WebConfig } from './config.js'
import { byId } from './dom.js'
import { describeError } from './errors.js'
import { ProviderSession } from './provider-session.js'
import { finishSignIn, isSignInResponse, SignInError, startSignIn, withoutSignInResponse } from './sign-in.js'

/** What the screen asks of the app. */
export interface SignInHandlers {
  /** The settings read from /config.json (before any connect). */
  configured(config: WebConfig): void
  /** Connects with the provider session's tokens; says on the screen itself why it could not. */
  connectAs(provider: ProviderSession): Promise<void>
  connectWithToken(token: string): Promise<void>
  signedIn(): boolean
}

const problem = () => byId('sign-in-problem')
let busy = false

/** Runs one sign-in step at a time, saying on the screen what failed. */
async function oneStep(step: () => Promise<void>): Promise<void> {
  if (busy) return
  busy = true
  problem().textContent = ''
  try {
    await step()
  } catch (error) {
    problem().textContent =
      error instanceof SignInError ? error.message : `Could not sign in: ${describeError(error)}.`
  } finally {
    busy = false
    byId('restoring').hidden = true
  }
}

/** Puts the focus on the way to sign in that this web chat offers. */
export function focusSignIn(): void {
  if (!byId('provider-sign-in').hidden) byId('sign-in-button').focus()
  else byId('token-sign-in').querySelector('summary')?.focus()
}

/**
 * Loads the settings, then signs in the way the address says: the provider's answer to a sign-in (its code
 * exchanged, and taken out of the address bar), else the session kept from an earlier load, else nothing
 * until the person chooses.
 */
export async function startSignInScreen(app: SignInHandlers): Promise<void> {
  let config: WebConfig = { websocketUrl: location.origin.replace(/^http/, 'ws') }
  try {
    config = await loadConfig()
  } catch (error) {
    problem().textContent = error instanceof ConfigProblem ? error.message : String(error)
  }
  app.configured(config)
  const { signIn } = config
  byId('provider-sign-in').hidden = !signIn
  // Without a provider, a pasted token is the only way in: shown open.
  byId<HTMLDetailsElement>('token-sign-in').open = !signIn
  byId('sign-in-button').addEventListener('click', () => {
    if (signIn) void oneStep(() => startSignIn(signIn))
  })
  byId('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const token = byId<HTMLTextAreaElement>('token').value.trim()
    void oneStep(() => app.connectWithToken(token))
  })
  const here = new URL(location.href)
  byId('restoring').hidden = !signIn
  if (signIn && isSignInResponse(here)) {
    history.replaceState(history.state, '', withoutSignInResponse(here))
    await oneStep(async () =>
      app.connectAs(await ProviderSession.begin(signIn, await finishSignIn(signIn, here))),
    )
  } else if (signIn) {
    await oneStep(async () => {
      const resumed = await ProviderSession.resume(signIn)
      if (resumed) await app.connectAs(resumed)
    })
  }
  byId('restoring').hidden = true
  if (!app.signedIn()) {
    byId('sign-in').hidden = false
    focusSignIn()
  }
}
