import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { minPasswordLength } from './accounts.js'

const style = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:24rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px #0003}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin-top:1rem}
input{box-sizing:border-box;width:100%;font:inherit;padding:.5rem;border:1px solid #8a93a6;border-radius:.3rem}
input[aria-invalid=true]{border-color:#b3261e}
.hint{font-size:.9rem;color:#4a5263;margin:.25rem 0 0}
.problem{color:#b3261e;font-weight:600}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{font:inherit;padding:.5rem 1rem;border-radius:.3rem;border:1px solid #1f5fbf;background:#1f5fbf;color:#fff;cursor:pointer}
button.quiet{background:#fff;color:#1f5fbf}
:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
a{color:#1f5fbf}
`
const styleHash = createHash('sha256').update(style).digest('base64')

/** What a page's form posts to, and where it goes on. */
export interface PageRoutes {
  /** The interaction's own path (/oidc/interaction/<uid>). */
  base: string
  /** The origins a form may end at: the provider's, then the web chat's redirects. */
  formOrigins: string[]
}

/** What was typed and what went wrong, to show the form again. */
export interface FormState {
  name?: string
  problem?: { field: 'name' | 'password' | 'form'; message: string }
}

/** The sign-in page: a user name, a password, Cancel (ends the flow with access_denied), and sign-up's link. */
export function signInPage(routes: PageRoutes, state: FormState = {}): string {
  return page(
    'Sign in to Huddle',
    `<form method="post" action="${routes.base}/sign-in">
      ${fields(state, 'current-password')}
      <div class="actions">
        <button type="submit">Sign in</button>
        <button type="submit" class="quiet" formaction="${routes.base}/cancel" formnovalidate>Cancel</button>
      </div>
    </form>
    <p>New here? <a href="${routes.base}/sign-up">Create an account</a></p>`,
    state,
  )
}

/** The sign-up page: a new user name and password, with the rules for both said up front. */
export function signUpPage(routes: PageRoutes, state: FormState = {}): string {
  return page(
    'Create a Huddle account',
    `<form method="post" action="${routes.base}/sign-up">
      ${fields(state, 'new-password')}
      <div class="actions">
        <button type="submit">Create account</button>
        <button type="submit" class="quiet" formaction="${routes.base}/cancel" formnovalidate>Cancel</button>
      </div>
    </form>
    <p>Have an account? <a href="${routes.base}">Sign in</a></p>`,
    state,
  )
}

/** A page that only says what went wrong and what to do (an expired or unknown sign-in, a provider error). */
export function problemPage(title: string, message: string): string {
  return page(title, `<p class="problem" role="alert">${escapeHtml(message)}</p>`, {})
}

/**
 * The headers every provider page is sent with: no script at all, its own style only, and forms that may
 * end only at the provider and at `formOrigins` (a sign-in's last redirect is to the web chat).
 */
export function pageHeaders(formOrigins: string[]): Record<string, string> {
  return {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy':
      `default-src 'none'; style-src 'sha256-${styleHash}'; img-src data:; ` +
      `form-action ${["'self'", ...formOrigins].join(' ')}; base-uri 'none'; frame-ancestors 'none'`,
  }
}

/** Sends a provider page with its headers (pageHeaders). */
export function sendPage(
  response: ServerResponse,
  status: number,
  html: string,
  formOrigins: string[],
): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...pageHeaders(formOrigins) })
  response.end(html)
}

function fields(state: FormState, passwordKind: 'current-password' | 'new-password'): string {
  const { problem } = state
  const invalid = (field: string) =>
    problem?.field === field ? ' aria-invalid="true" aria-describedby="problem" autofocus' : ''
  return `<label for="name">User name</label>
      <input id="name" name="name" required autocomplete="username" autocapitalize="none" spellcheck="false"
        maxlength="128" pattern="[A-Za-z0-9_.:@\\-]{1,128}" aria-describedby="name-hint"
        value="${escapeHtml(state.name ?? '')}"${invalid('name') || (problem ? '' : ' autofocus')}>
      <p id="name-hint" class="hint">Letters, digits and _ . : @ - (it is the name others invite).</p>
      <label for="password">Password</label>
      <input id="password" name="password" type="password" required minlength="${minPasswordLength}"
        autocomplete="${passwordKind}" aria-describedby="password-hint"${invalid('password')}>
      <p id="password-hint" class="hint">At least ${minPasswordLength} characters.</p>`
}

function page(title: string, body: string, state: FormState): string {
  const problem = state.problem
    ? `<p id="problem" class="problem" role="alert">${escapeHtml(state.problem.message)}</p>`
    : ''
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${escapeHtml(title)}</title>
    <style>${style}</style>
  </head>
  <body>
    <main>
      <h1>${escapeHtml(title)}</h1>
      ${problem}
      ${body}
    </main>
  </body>
</html>
`
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}
