import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { limits } from '@huddle/client/protocol'
import {
  type RouteDefinition,
  routes as sharedRoutes,
  workers as sharedWorkers,
  type WorkerDefinition,
} from '../lambdas/routes.js'
import {
  type AwsBehaviourCounters,
  type AwsBehaviours,
  newCounters,
  resolveBehaviours,
} from './aws-behaviours.js'
import type { DevTokens } from './dev-tokens.js'
import type { FunctionOutput } from './functions.js'
import { Connections } from './gateway/connections.js'
import { DevApi } from './gateway/dev-api.js'
import type { Endpoints } from './gateway/environment.js'
import { PostMeter, TokenBucket } from './gateway/limits.js'
import { manageConnection } from './gateway/management-api.js'
import type { GatewayState } from './gateway/state.js'
import { WebSocketSide } from './gateway/websocket.js'
import { startFunctions } from './gateway/wiring.js'
import { sendAwsError, sendJson } from './http.js'
import type { EventCounts } from './lambda-api.js'
import { type LocalSignInOptions, startLocalSignIn } from './oidc/provider.js'

export type { Endpoints } from './gateway/environment.js'

export interface GatewayOptions {
  port: number
  /**
   * Dev mode: serves the web chat and its /config.json, the local OpenID provider under /oidc, POST
   * /dev/token, the JWKS the authorizer verifies against, and the /dev/ helpers.
   */
  tokens?: DevTokens
  /** Dev mode's OpenID provider: where its accounts are kept and how long its ID tokens live. */
  signIn?: LocalSignInOptions
  idleTimeoutMs?: number
  maxLifetimeMs?: number
  /**
   * The environment the CDK stack would give the functions, pointing at the emulators, given the gateway's
   * own URL (its management API). Each function gets only the part its access implies, and its own keys.
   */
  handlerEnvironment(url: string): Record<string, string>
  /** The route table to serve: the shared one (lambdas/routes.ts), or a modified copy in a test. */
  routes?: readonly RouteDefinition[]
  /** The functions no route triggers, invoked through the gateway's Lambda API: the shared ones by default. */
  workers?: readonly WorkerDefinition[]
  /** The waits before Lambda's two retries of a failed asynchronous invocation (1 s and 2 s by default). */
  eventRetryDelaysMs?: readonly number[]
  /** Where a handler's code is: its TypeScript source by default, or a built bundle (cdk.out) to try what ships. */
  handlerModule?: (handler: string) => string
  log?: (line: string) => void
  /** Where the functions' own output (their logs) goes: the terminal by default. */
  functionOutput?: FunctionOutput
  /** The AWS behaviours the access proxies reproduce (local/aws-behaviours.ts): awsLikeBehaviours unless overridden. */
  aws?: Partial<AwsBehaviours>
}

export interface Gateway {
  url: string
  port: number
  /** What the functions are given as DYNAMODB_ENDPOINT and S3_ENDPOINT: proxies that enforce their grants. */
  endpoints: Endpoints
  /** The asynchronous invocations (the workers') the Lambda API took: what became of them, and a wait for the rest. */
  events: {
    counts(functionName: string): EventCounts
    /** Resolves once none is running or waiting for a retry. */
    settled(): Promise<void>
  }
  /** Resolves once the invocations running now have ended: the gateway's own and the Lambda API's. */
  settled(): Promise<void>
  /**
   * The AWS behaviours in force, and what the proxies and the gateway injected so far (also GET
   * /dev/aws-behaviours). The gateway's limits read `behaviours` at each request, so a test may change them
   * while it runs.
   */
  aws: { behaviours: AwsBehaviours; counters: AwsBehaviourCounters }
  close(): Promise<void>
}

/**
 * A local stand-in for API Gateway WebSockets: the authorizer and $connect on the handshake, routing by
 * `action` through the route table, two-way replies, the SigV4-checked management API, and API Gateway's
 * and Lambda's limits (frame sizes, connection life, the account's request and connection rates, the
 * integration timeout, Lambda's concurrency; local/aws-behaviours.ts). Each function runs as Lambda would
 * run it (local/functions.ts), with the grants the CDK stack gives it, enforced in front of the emulators
 * (local/access-proxies.ts). It also serves Lambda's Invoke API (local/lambda-api.ts), through which the
 * routes' functions hand work to the workers. The rooms it is made of live in local/gateway/; this
 * composes them.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? (() => {})
  const routes = options.routes ?? sharedRoutes
  const workers = options.workers ?? sharedWorkers
  const aws = { behaviours: resolveBehaviours(options.aws), counters: newCounters() }
  const { behaviours } = aws
  const state: GatewayState = {
    connections: new Connections(),
    functions: undefined,
    aws,
    throttles: {
      callbacks: new TokenBucket(() => ({
        rate: behaviours.callbackRatePerSecond,
        burst: behaviours.callbackBurst,
      })),
      connections: new TokenBucket(() => ({
        rate: behaviours.connectionsPerSecond,
        burst: behaviours.connectionsPerSecond,
      })),
    },
    posts: new PostMeter(),
  }
  const endpoints: Endpoints = {}
  // Made once the gateway's URL, the provider's issuer, is known.
  let devApi: DevApi | undefined

  async function serveHttp(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://gateway')
    const connection = url.pathname.match(/^\/@connections\/([^/]+)$/)
    if (connection?.[1]) {
      return manageConnection(state, request, response, decodeURIComponent(connection[1]), log)
    }
    const invocation = url.pathname.match(/^\/2015-03-31\/functions\/([^/]+)\/invocations$/)
    if (request.method === 'POST' && invocation?.[1]) {
      const lambdaApi = state.functions?.lambdaApi
      if (!lambdaApi) return sendAwsError(response, 503, 'ServiceException', 'starting')
      return lambdaApi.serve(request, response, decodeURIComponent(invocation[1]))
    }
    if (
      request.method === 'POST' &&
      url.pathname === '/' &&
      request.headers['x-amz-target']?.toString().startsWith('AmazonSQS.')
    ) {
      const sqsApi = state.functions?.sqsApi
      if (!sqsApi) return sendAwsError(response, 503, 'ServiceUnavailable', 'starting')
      return sqsApi.serve(request, response)
    }
    if (request.method === 'GET' && url.pathname === '/health') {
      const ready = state.functions !== undefined
      return sendJson(response, ready ? 200 : 503, { status: ready ? 'ok' : 'starting' })
    }
    if (request.method === 'GET' && url.pathname === '/dev/aws-behaviours')
      return sendJson(response, 200, aws)
    if (await devApi?.serve(request, response, url)) return
    sendJson(response, 404, { message: `no route for ${request.method} ${url.pathname}` })
  }

  const server: Server = createServer((request, response) => {
    serveHttp(request, response).catch((error) => {
      log(`http ${request.method} ${request.url} failed: ${error}`)
      if (!response.headersSent) sendJson(response, 500, { message: 'Internal server error' })
    })
  })
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(options.port, '127.0.0.1', done)
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  const url = `http://127.0.0.1:${port}`
  if (options.tokens) {
    try {
      const signIn = await startLocalSignIn(url, options.tokens.signingKey, options.signIn)
      devApi = new DevApi(state, options.tokens, endpoints, signIn)
    } catch (error) {
      server.close()
      throw error
    }
  }

  const webSocket = new WebSocketSide({
    state,
    routes,
    idleTimeoutMs: options.idleTimeoutMs ?? limits.idleSeconds * 1000,
    maxLifetimeMs: options.maxLifetimeMs ?? limits.lifetimeSeconds * 1000,
    domainName: `127.0.0.1:${port}`,
    log,
  })
  server.on('upgrade', (request, socket, head) => webSocket.upgrade(request, socket, head))

  let stopFunctions: () => Promise<void>
  try {
    const started = await startFunctions(
      {
        url,
        environment: options.handlerEnvironment(url),
        routes,
        workers,
        ...(options.tokens && { tokens: options.tokens }),
        ...(options.eventRetryDelaysMs && { eventRetryDelaysMs: options.eventRetryDelaysMs }),
        ...(options.handlerModule && { handlerModule: options.handlerModule }),
        ...(options.functionOutput && { output: options.functionOutput }),
        aws,
        log,
      },
      endpoints,
    )
    stopFunctions = started.stop
    state.functions = started.functions
  } catch (error) {
    server.close()
    throw error
  }

  return {
    url,
    port,
    endpoints,
    aws,
    events: {
      counts: (name) =>
        state.functions?.lambdaApi.eventCounts(name) ?? { queued: 0, attempts: 0, failed: 0, exhausted: 0 },
      settled: () => state.functions?.lambdaApi.settled() ?? Promise.resolve(),
    },
    settled: async () => {
      await state.functions?.settled()
      await state.functions?.lambdaApi.settled()
    },
    close: async () => {
      await state.connections.terminateAll()
      // Their $disconnect handlers still need the emulators: let them finish first.
      await state.functions?.settled()
      await stopFunctions()
      const closed = new Promise((done) => server.close(done))
      server.closeAllConnections()
      await closed
    },
  }
}
