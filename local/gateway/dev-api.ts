import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { identityPattern } from '@huddle/client/protocol'
import type { WebChatOrigins } from '../../web/build.js'
import { type DevTokens, explainRefusedToken } from '../dev-tokens.js'
import { readJson, sendJson } from '../http.js'
import type { LocalSignIn } from '../oidc/provider.js'
import { WebApp } from '../web-app.js'
import type { Endpoints } from './environment.js'
import type { GatewayState } from './state.js'

/** The largest body a /dev/ endpoint reads. */
const devBodyBytes = 4096

/** What the web chat reads at /config.json (web/config.ts): where to connect, and how to sign in. */
export interface WebChatConfig {
  websocketUrl: string
  signIn?: { issuer: string; clientId: string; scope: string; identityClaim: string }
}

/**
 * Dev mode's HTTP side: the web chat and its configuration, the local OpenID provider (/oidc), the JWKS the
 * authorizer verifies against, tokens and their check, and the helpers tests and benchmarks use (connections, memory) and the faults they inject (posts that fail,
 * worker invocations that fail or repeat, invocations that start late).
 */
export class DevApi {
  private readonly webApp = new WebApp()

  constructor(
    private readonly state: GatewayState,
    private readonly tokens: DevTokens,
    private readonly endpoints: Endpoints,
    private readonly signIn: LocalSignIn,
  ) {}

  /**
   * What the web chat may reach besides its own origin: the bucket, and the sign-in provider, whose issuer
   * names 127.0.0.1 even when the page is opened at localhost.
   */
  private webChatOrigins(): WebChatOrigins {
    const bucket = this.endpoints.s3 ? [this.endpoints.s3] : []
    return { connect: [...bucket, new URL(this.signIn.issuer).origin], images: bucket }
  }

  /** Answers a dev-mode request; false when none of its endpoints is asked for. */
  async serve(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean> {
    const { method } = request
    const path = url.pathname
    // The web chat signs in at the local provider, so both come with dev mode.
    if ((method === 'GET' || method === 'HEAD') && this.webApp.has(path)) {
      if (!this.state.functions) sendJson(response, 503, { message: 'starting' })
      else await this.webApp.serve(path, method, response, this.webChatOrigins())
      return true
    }
    if (await this.signIn.serve(request, response, path)) return true
    if (method === 'GET' && path === '/config.json') {
      response.setHeader('cache-control', 'no-store')
      sendJson(response, 200, this.webChatConfig(request))
      return true
    }
    const devConnection = path.match(/^\/dev\/connections\/([^/]+)$/)
    if (method === 'GET' && path === '/.well-known/jwks.json') sendJson(response, 200, this.tokens.jwks)
    else if (method === 'POST' && path === '/dev/token') await this.issueToken(request, response)
    else if (method === 'POST' && path === '/dev/check-token') await this.checkToken(request, response)
    else if (method === 'POST' && path === '/dev/id-token-lifetime')
      await this.setIdTokenLifetime(request, response)
    else if (method === 'GET' && path === '/dev/connections') {
      sendJson(response, 200, { connectionIds: this.state.connections.idsOf(url.searchParams.get('sub')) })
    } else if (method === 'DELETE' && devConnection?.[1]) {
      this.closeConnection(response, decodeURIComponent(devConnection[1]))
    } else if (method === 'POST' && path === '/dev/fail-posts') await this.failPosts(request, response)
    else if (method === 'GET' && path === '/dev/memory') await this.reportMemory(response)
    else if (method === 'GET' && path === '/dev/posts') this.reportPosts(response, url)
    else if (method === 'POST' && path === '/dev/fail-invocations') {
      await this.invocationFault(request, response, 'fail')
    } else if (method === 'POST' && path === '/dev/duplicate-invocations') {
      await this.invocationFault(request, response, 'duplicate')
    } else if (method === 'POST' && path === '/dev/slow-invocations')
      await this.slowInvocations(request, response)
    else return false
    return true
  }

  /**
   * The management API's posts that got past the account's rate: by the function `caller` names (all when
   * absent), since `since` (epoch ms), with the most in any `windowMs` (1,000 by default).
   */
  private reportPosts(response: ServerResponse, url: URL): void {
    const caller = url.searchParams.get('caller') ?? undefined
    const since = Number(url.searchParams.get('since') ?? 0)
    const windowMs = Number(url.searchParams.get('windowMs') ?? 1000)
    if (!Number.isFinite(since) || !Number.isFinite(windowMs) || windowMs <= 0) {
      sendJson(response, 400, { message: 'since and windowMs are numbers (epoch ms, and ms above 0)' })
      return
    }
    sendJson(response, 200, this.state.posts.rate(caller, since, windowMs))
  }

  /** A token for `sub`, after saying exactly what is wrong with a request for one. */
  private async issueToken(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"sub": "<identity>", "expiresIn"?: <seconds>}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { sub, expiresIn } = input.value
    if (typeof sub !== 'string' || sub.length === 0) {
      return sendJson(response, 400, { message: `sub is missing or not a string; ${usage}` })
    }
    if (!identityPattern.test(sub)) {
      return sendJson(response, 400, {
        message: 'sub is not a valid identity: 1–128 characters of A-Z a-z 0-9 _ . : @ -',
      })
    }
    if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn))) {
      return sendJson(response, 400, { message: `expiresIn must be a number of seconds; ${usage}` })
    }
    sendJson(response, 200, { token: await this.tokens.issue(sub, expiresIn, this.signIn.issuer) })
  }

  /**
   * The web chat's configuration: its WebSocket at the host the page was loaded from (127.0.0.1 or
   * localhost), and the local provider to sign in at.
   */
  private webChatConfig(request: IncomingMessage): WebChatConfig {
    const host = request.headers.host ?? new URL(this.signIn.issuer).host
    return {
      websocketUrl: `ws://${host}`,
      signIn: {
        issuer: this.signIn.issuer,
        clientId: this.signIn.clientId,
        scope: this.signIn.scope,
        identityClaim: 'sub',
      },
    }
  }

  /**
   * How long the provider's ID tokens live from now on, in whole seconds: `sub`'s alone, or everyone's
   * without it (a test that sees a token expire mid-session).
   */
  private async setIdTokenLifetime(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"seconds": <whole seconds, 1 or more>, "sub"?: "<identity>"}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { seconds, sub } = input.value
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1) {
      return sendJson(response, 400, { message: usage })
    }
    if (sub !== undefined && (typeof sub !== 'string' || !identityPattern.test(sub))) {
      return sendJson(response, 400, { message: `sub is not a valid identity; ${usage}` })
    }
    this.signIn.setIdTokenLifetime(seconds, sub)
    response.writeHead(204).end()
  }

  /**
   * Whether the authorizer accepts a token, and why not. A browser's WebSocket never sees the handshake's
   * 401, so a web app asks here to tell its user what to do.
   */
  private async checkToken(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"token": "<JWT>"}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { token } = input.value
    if (typeof token !== 'string') return sendJson(response, 400, { message: `token is missing; ${usage}` })
    const { functions } = this.state
    if (!functions) return sendJson(response, 503, { message: 'starting' })
    const verdict = await functions.authorize({ token }, {}, randomBytes(9).toString('base64'))
    if (verdict.ok && verdict.result.policyDocument.Statement.every((s) => s.Effect === 'Allow')) {
      return sendJson(response, 200, { accepted: true, sub: verdict.result.principalId })
    }
    const reason = await explainRefusedToken(token, functions.expectedTokens)
    sendJson(response, 200, { accepted: false, reason })
  }

  /**
   * The most memory each function's instance held since the last read, in bytes (its heap and buffers; see
   * LocalFunction.peakMemory), for benchmarks that size the functions.
   */
  private async reportMemory(response: ServerResponse): Promise<void> {
    const every = this.state.functions?.every ?? []
    const peaks = await Promise.all(every.map(async (fn) => [fn.definition.name, await fn.peakMemory()]))
    sendJson(response, 200, Object.fromEntries(peaks))
  }

  /**
   * Every post to `connectionId` whose data contains `containing` fails with `status` (500 by default),
   * retries included, as a throttled or failing post would in AWS; the connection stays open.
   */
  private async failPosts(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"connectionId", "containing", "status"?}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { connectionId, containing, status = 500 } = input.value
    if (typeof connectionId !== 'string' || typeof containing !== 'string' || typeof status !== 'number') {
      return sendJson(response, 400, { message: usage })
    }
    this.state.connections.failPosts({ connectionId, containing, status })
    response.writeHead(204).end()
  }

  /**
   * For a function invoked through the Lambda API (a worker): `fail` makes its next `count` runs fail before
   * its handler starts, as a crashed instance would, so that Lambda's retries are seen; `duplicate` delivers
   * each of its next `count` asynchronous events twice, as Lambda's at-least-once delivery may.
   */
  private async invocationFault(
    request: IncomingMessage,
    response: ServerResponse,
    fault: 'fail' | 'duplicate',
  ): Promise<void> {
    const usage = 'send {"function": "<name>", "count"?: <invocations, 1 by default>}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { function: name, count = 1 } = input.value
    if (typeof name !== 'string' || typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      return sendJson(response, 400, { message: usage })
    }
    const lambdaApi = this.state.functions?.lambdaApi
    if (!lambdaApi?.has(name)) return sendJson(response, 404, { message: `no function named ${name}` })
    if (fault === 'fail') lambdaApi.failNext(name, count)
    else lambdaApi.duplicateNext(name, count)
    response.writeHead(204).end()
  }

  /**
   * Makes the next `count` invocations of any function (a route's included) start `ms` late, as a slow cold
   * start or a slow call would, so that a test sees API Gateway's integration timeout without a slow handler.
   */
  private async slowInvocations(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"function": "<name>", "ms": <delay>, "count"?: <invocations, 1 by default>}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { function: name, ms, count = 1 } = input.value
    const valid = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1
    if (typeof name !== 'string' || !valid(ms) || !valid(count))
      return sendJson(response, 400, { message: usage })
    const fn = this.state.functions?.every.find((f) => f.definition.name === name)
    if (!fn) return sendJson(response, 404, { message: `no function named ${name}` })
    fn.slowNext(count as number, ms as number)
    response.writeHead(204).end()
  }

  /** Closes a connection as DELETE @connections does, without signing (tests, benchmarks). */
  private closeConnection(response: ServerResponse, id: string): void {
    const target = this.state.connections.get(id)
    if (!target) {
      sendJson(response, 410, { message: `connection ${id} is gone` })
      return
    }
    target.socket.close(1000, 'closed by the management API')
    response.writeHead(204).end()
  }
}
