import type { IncomingMessage, ServerResponse } from 'node:http'
import type { InteractionDetails, Provider } from 'oidc-provider'
import { readBody } from '../http.js'
import type { AccountOutcome, Accounts } from './accounts.js'
import { type FormState, type PageRoutes, problemPage, sendPage, signInPage, signUpPage } from './pages.js'

/** Where the provider sends a browser to sign in: its own path under the issuer. */
export const interactionPath = (mount: string, uid: string) => `${mount}/interaction/${uid}`

/** The largest sign-in form read. */
const formBytes = 4096

/**
 * The provider's interactions: the sign-in and sign-up pages and what their forms post. The web chat is a
 * first-party client, so a signed-in account is granted what it asked for without a consent screen; Cancel
 * ends the flow with `access_denied`.
 */
export class SignInPages {
  constructor(
    private readonly provider: Provider,
    private readonly accounts: Accounts,
    private readonly mount: string,
    private readonly formOrigins: string[],
  ) {}

  /** Answers a request under <mount>/interaction/; false when the path is not one of its pages. */
  async serve(request: IncomingMessage, response: ServerResponse, path: string): Promise<boolean> {
    const match = path.match(
      new RegExp(`^${this.mount}/interaction/([\\w-]+)(?:/(sign-in|sign-up|cancel))?$`),
    )
    if (!match?.[1]) return false
    const [, uid, action] = match
    const routes: PageRoutes = { base: interactionPath(this.mount, uid), formOrigins: this.formOrigins }
    let details: InteractionDetails
    try {
      details = await this.provider.interactionDetails(request, response)
      if (details.uid !== uid) throw new Error('another interaction')
    } catch {
      this.send(
        response,
        400,
        problemPage(
          'This sign-in has ended',
          'This sign-in page expired or was replaced by a newer one. Go back to the web chat and choose Sign in again.',
        ),
      )
      return true
    }
    const { method } = request
    if (method === 'GET' && !action) {
      if (details.prompt.name === 'consent' && details.session?.accountId) {
        await this.finish(request, response, details, details.session.accountId)
      } else this.send(response, 200, signInPage(routes))
    } else if (method === 'GET' && action === 'sign-up') this.send(response, 200, signUpPage(routes))
    else if (method === 'POST' && action === 'cancel') {
      await this.provider.interactionFinished(
        request,
        response,
        { error: 'access_denied', error_description: 'the sign-in was cancelled' },
        { mergeWithLastSubmission: false },
      )
    } else if (method === 'POST' && (action === 'sign-in' || action === 'sign-up')) {
      const form = await readForm(request)
      if (!form) {
        this.send(
          response,
          413,
          signInPage(routes, { problem: { field: 'form', message: 'The form is too large.' } }),
        )
        return true
      }
      const name = form.get('name')?.trim() ?? ''
      const password = form.get('password') ?? ''
      const outcome: AccountOutcome =
        action === 'sign-in'
          ? await this.accounts.signIn(name, password)
          : await this.accounts.signUp(name, password)
      if (outcome.ok) await this.finish(request, response, details, name)
      else {
        const state: FormState = { name, problem: { field: outcome.field, message: outcome.message } }
        const render = action === 'sign-in' ? signInPage : signUpPage
        this.send(response, action === 'sign-in' ? 401 : 400, render(routes, state))
      }
    } else {
      response.writeHead(405, { allow: action ? 'POST' : 'GET' }).end()
    }
    return true
  }

  /** Signs `accountId` in and grants the client the scopes it asked for (a first-party client: no consent). */
  private async finish(
    request: IncomingMessage,
    response: ServerResponse,
    details: InteractionDetails,
    accountId: string,
  ): Promise<void> {
    const grant = new this.provider.Grant({ accountId, clientId: String(details.params.client_id) })
    if (details.params.scope) grant.addOIDCScope(details.params.scope)
    const grantId = await grant.save()
    await this.provider.interactionFinished(
      request,
      response,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    )
  }

  private send(response: ServerResponse, status: number, html: string): void {
    sendPage(response, status, html, this.formOrigins)
  }
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams | undefined> {
  try {
    return new URLSearchParams((await readBody(request, formBytes)).toString('utf8'))
  } catch {
    return undefined
  }
}
