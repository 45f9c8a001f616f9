import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { identityPattern, limits } from '@huddle/client/protocol'
import { WebSocket, WebSocketServer } from 'ws'
import { envNames } from '../lambdas/adapters/env-names.js'
import type {
  AuthorizerEvent,
  AuthorizerResult,
  WebSocketEvent,
  WebSocketResult,
} from '../lambdas/adapters/websocket-event.js'
import {
  authorizer,
  fanOutWorker,
  type RouteAccess,
  type RouteDefinition,
  routes as sharedRoutes,
  workers as sharedWorkers,
  type WorkerDefinition,
} from '../lambdas/routes.js'
import { authorizerSettings, receivesVariable, settingVariables } from '../lambdas/settings.js'
import { startDynamoDbProxy, startS3Proxy } from './access-proxies.js'
import { type DevTokens, explainRefusedToken } from './dev-tokens.js'
import { buildFunctions, LocalFunction, sourceModule } from './functions.js'
import { denialMessage, functionCredentials, Grants, localAccount } from './grants.js'
import { readBody, readJson, sendAwsError, sendJson } from './http.js'
import { type EventCounts, LocalLambdaApi } from './lambda-api.js'
import { SignatureVerifier } from './sigv4.js'
import { WebApp } from './web-app.js'

export interface GatewayOptions {
  port: number
  /** Dev mode: serves POST /dev/token, the JWKS the authorizer verifies against, and the /dev/ helpers. */
  tokens?: DevTokens
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
}

export interface Gateway {
  url: string
  port: number
  /** What the functions are given as DYNAMODB_ENDPOINT and S3_ENDPOINT: proxies that enforce their grants. */
  endpoints: { dynamo?: string; s3?: string }
  /** The asynchronous invocations (the workers') the Lambda API took: what became of them, and a wait for the rest. */
  events: {
    counts(functionName: string): EventCounts
    /** Resolves once none is running or waiting for a retry. */
    settled(): Promise<void>
  }
  close(): Promise<void>
}

interface OpenConnection {
  socket: WebSocket
  sub: string
  connectedAt: number
  lastActiveAt: number
  sourceIp: string
  userAgent?: string
}

const apiId = 'local'
const stage = 'local'
/** API Gateway gives up on an integration after 29 s, whatever the function's own timeout. */
const integrationTimeoutSeconds = 29

/**
 * A local stand-in for API Gateway WebSockets: the authorizer and $connect on the handshake, routing by
 * `action` through the route table, two-way replies, the SigV4-checked management API, and API Gateway's
 * limits. Each function runs as Lambda would run it (local/functions.ts), with the grants the CDK stack
 * gives it, enforced in front of the emulators (local/access-proxies.ts). It also serves Lambda's Invoke
 * API (local/lambda-api.ts), through which the routes' functions hand work to the workers.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? (() => {})
  const routes = options.routes ?? sharedRoutes
  const workers = options.workers ?? sharedWorkers
  const idleTimeoutMs = options.idleTimeoutMs ?? limits.idleSeconds * 1000
  const maxLifetimeMs = options.maxLifetimeMs ?? limits.lifetimeSeconds * 1000
  const connections = new Map<string, OpenConnection>()
  const inFlight = new Set<Promise<unknown>>()
  const postFaults: { connectionId: string; containing: string; status: number }[] = []
  // A larger frame closes the connection with 1009, as API Gateway's 32 KB frame limit does.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.frameBytes })
  let functions: Map<string, LocalFunction<WebSocketEvent, WebSocketResult>> | undefined
  let authorize: LocalFunction<AuthorizerEvent, AuthorizerResult> | undefined
  let grants: Grants | undefined
  let managementApi: SignatureVerifier | undefined
  let lambdaApi: LocalLambdaApi | undefined
  let everyFunction: LocalFunction<never, unknown>[] = []
  let expectedTokens: Parameters<typeof explainRefusedToken>[1] = {}
  let ready = false
  const webApp = new WebApp()

  const server: Server = createServer((request, response) => {
    serveHttp(request, response).catch((error) => {
      log(`http ${request.method} ${request.url} failed: ${error}`)
      if (!response.headersSent) sendJson(response, 500, { message: 'Internal server error' })
    })
  })

  async function serveHttp(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://gateway')
    const connection = url.pathname.match(/^\/@connections\/([^/]+)$/)
    if (connection?.[1]) return manageConnection(request, response, decodeURIComponent(connection[1]))
    const invocation = url.pathname.match(/^\/2015-03-31\/functions\/([^/]+)\/invocations$/)
    if (request.method === 'POST' && invocation?.[1]) {
      if (!lambdaApi) return sendAwsError(response, 503, 'ServiceException', 'starting')
      return lambdaApi.serve(request, response, decodeURIComponent(invocation[1]))
    }
    if (request.method === 'GET' && url.pathname === '/health') {
      return sendJson(response, ready ? 200 : 503, { status: ready ? 'ok' : 'starting' })
    }
    if (options.tokens) {
      // The web chat signs in with dev tokens, so it comes with dev mode.
      if ((request.method === 'GET' || request.method === 'HEAD') && webApp.has(url.pathname)) {
        if (!ready) return sendJson(response, 503, { message: 'starting' })
        return webApp.serve(url.pathname, request.method, response, endpoints.s3)
      }
      if (request.method === 'GET' && url.pathname === '/.well-known/jwks.json') {
        return sendJson(response, 200, options.tokens.jwks)
      }
      if (request.method === 'POST' && url.pathname === '/dev/token') return issueToken(request, response)
      if (request.method === 'POST' && url.pathname === '/dev/check-token')
        return checkToken(request, response)
      if (request.method === 'GET' && url.pathname === '/dev/connections') {
        const sub = url.searchParams.get('sub')
        const ids = [...connections].filter(([, c]) => c.sub === sub).map(([id]) => id)
        return sendJson(response, 200, { connectionIds: ids })
      }
      const devConnection = url.pathname.match(/^\/dev\/connections\/([^/]+)$/)
      if (request.method === 'DELETE' && devConnection?.[1]) {
        return closeConnection(response, decodeURIComponent(devConnection[1]))
      }
      if (request.method === 'POST' && url.pathname === '/dev/fail-posts') return failPosts(request, response)
      if (request.method === 'GET' && url.pathname === '/dev/memory') return reportMemory(response)
      if (request.method === 'POST' && url.pathname === '/dev/fail-invocations') {
        return invocationFault(request, response, 'fail')
      }
      if (request.method === 'POST' && url.pathname === '/dev/duplicate-invocations') {
        return invocationFault(request, response, 'duplicate')
      }
    }
    sendJson(response, 404, { message: `no route for ${request.method} ${url.pathname}` })
  }

  /** Dev mode: a token for `sub`, after saying exactly what is wrong with a request for one. */
  async function issueToken(request: IncomingMessage, response: ServerResponse): Promise<void> {
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
    sendJson(response, 200, { token: await options.tokens?.issue(sub, expiresIn) })
  }

  /**
   * Dev mode: whether the authorizer accepts a token, and why not. A browser's WebSocket never sees the
   * handshake's 401, so a web app asks here to tell its user what to do.
   */
  async function checkToken(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"token": "<JWT>"}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { token } = input.value
    if (typeof token !== 'string') return sendJson(response, 400, { message: `token is missing; ${usage}` })
    if (!authorize) return sendJson(response, 503, { message: 'starting' })
    const verdict = await runAuthorizer(authorize, { token }, {}, randomBytes(9).toString('base64'))
    if (verdict.ok && verdict.result.policyDocument.Statement.every((s) => s.Effect === 'Allow')) {
      return sendJson(response, 200, { accepted: true, sub: verdict.result.principalId })
    }
    sendJson(response, 200, { accepted: false, reason: await explainRefusedToken(token, expectedTokens) })
  }

  /**
   * Dev mode: the most memory each function's instance held since the last read, in bytes (its heap and
   * buffers; see LocalFunction.peakMemory), for benchmarks that size the functions.
   */
  async function reportMemory(response: ServerResponse): Promise<void> {
    const peaks = await Promise.all(
      everyFunction.map(async (fn) => [fn.definition.name, await fn.peakMemory()]),
    )
    sendJson(response, 200, Object.fromEntries(peaks))
  }

  /**
   * Dev mode: every post to `connectionId` whose data contains `containing` fails with `status` (500 by
   * default), retries included, as a throttled or failing post would in AWS; the connection stays open.
   */
  async function failPosts(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const usage = 'send {"connectionId", "containing", "status"?}'
    const input = await readJson(request, devBodyBytes)
    if (!input.ok) return sendJson(response, 400, { message: `${input.problem}; ${usage}` })
    const { connectionId, containing, status = 500 } = input.value
    if (typeof connectionId !== 'string' || typeof containing !== 'string' || typeof status !== 'number') {
      return sendJson(response, 400, { message: usage })
    }
    postFaults.push({ connectionId, containing, status })
    response.writeHead(204).end()
  }

  /**
   * Dev mode, for a function invoked through the Lambda API (a worker): `fail` makes its next `count` runs
   * fail before its handler starts, as a crashed instance would, so that Lambda's retries are seen;
   * `duplicate` delivers each of its next `count` asynchronous events twice, as Lambda's at-least-once
   * delivery may.
   */
  async function invocationFault(
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
    if (!lambdaApi?.has(name)) return sendJson(response, 404, { message: `no function named ${name}` })
    if (fault === 'fail') lambdaApi.failNext(name, count)
    else lambdaApi.duplicateNext(name, count)
    response.writeHead(204).end()
  }

  /** Dev mode: closes a connection as DELETE @connections does, without signing (tests, benchmarks). */
  function closeConnection(response: ServerResponse, id: string): void {
    const target = connections.get(id)
    if (!target) {
      sendJson(response, 410, { message: `connection ${id} is gone` })
      return
    }
    target.socket.close(1000, 'closed by the management API')
    response.writeHead(204).end()
  }

  /**
   * The @connections management API the handlers' real SDK client calls. As execute-api does, it answers
   * 403 to a request that is not SigV4-signed by a key granted ManageConnections (a function whose route
   * has `connections`, or the developer's own), before it looks at the connection.
   */
  async function manageConnection(
    request: IncomingMessage,
    response: ServerResponse,
    id: string,
  ): Promise<void> {
    const method = request.method ?? 'GET'
    const data =
      method === 'POST' ? await readBody(request, limits.postBytes).catch(() => undefined) : Buffer.alloc(0)
    if (data === undefined) {
      return sendAwsError(response, 413, 'PayloadTooLargeException', `data is over ${limits.postBytes} bytes`)
    }
    const refusal = await refuseManagementCall(request, data, id)
    if (refusal) {
      log(`management API: refused ${method} @connections/${id}: ${refusal.message}`)
      return sendAwsError(response, 403, refusal.type, refusal.message)
    }
    const target = connections.get(id)
    if (!target) return sendAwsError(response, 410, 'GoneException', `connection ${id} is gone`)
    switch (method) {
      case 'POST': {
        const text = data.toString('utf8')
        const fault = postFaults.find((f) => f.connectionId === id && text.includes(f.containing))
        if (fault) return sendJson(response, fault.status, { message: 'failed on purpose (/dev/fail-posts)' })
        target.socket.send(text)
        response.writeHead(200).end()
        return
      }
      case 'GET':
        return sendJson(response, 200, {
          ConnectedAt: new Date(target.connectedAt).toISOString(),
          LastActiveAt: new Date(target.lastActiveAt).toISOString(),
          Identity: { SourceIp: target.sourceIp, UserAgent: target.userAgent },
        })
      case 'DELETE':
        target.socket.close(1000, 'closed by the management API')
        response.writeHead(204).end()
        return
      default:
        sendJson(response, 405, { message: 'use POST, GET or DELETE' })
    }
  }

  async function refuseManagementCall(
    request: IncomingMessage,
    body: Buffer,
    id: string,
  ): Promise<{ type: string; message: string } | undefined> {
    if (!managementApi || !grants) return { type: 'ServiceUnavailableException', message: 'starting' }
    const signed = await managementApi.check({
      method: request.method ?? 'GET',
      url: request.url ?? '/',
      headers: request.headers,
      body,
    })
    if (!signed.ok) return { type: `${signed.refusal}Exception`, message: signed.message }
    const principal = grants.principalOf(signed.accessKeyId)
    if (!principal) return { type: 'UnrecognizedClientException', message: 'unknown access key' }
    const resource = `arn:aws:execute-api:${localAccount.region}:${localAccount.id}:${apiId}/${stage}/${request.method}/@connections/${id}`
    const denial = grants.manageConnections(principal, resource)
    return denial && { type: 'AccessDeniedException', message: denialMessage(principal, denial) }
  }

  function requestContext(
    connectionId: string,
    routeKey: string,
    eventType: WebSocketEvent['requestContext']['eventType'],
  ) {
    const open = connections.get(connectionId)
    return {
      routeKey,
      eventType,
      connectionId,
      connectedAt: open?.connectedAt ?? Date.now(),
      requestId: randomBytes(8).toString('hex'),
      requestTimeEpoch: Date.now(),
      domainName: `127.0.0.1:${port}`,
      stage,
      apiId,
      identity: {
        sourceIp: open?.sourceIp ?? '127.0.0.1',
        ...(open?.userAgent && { userAgent: open.userAgent }),
      },
    }
  }

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    handshake(request, socket, head).catch((error) => {
      log(`handshake failed: ${error}`)
      refuse(socket, 500, 'Internal Server Error')
    })
  })

  /** The authorizer's answer to a $connect with this query and these headers. */
  function runAuthorizer(
    authorizerFunction: LocalFunction<AuthorizerEvent, AuthorizerResult>,
    query: Record<string, string>,
    headers: Record<string, string | undefined>,
    connectionId: string,
  ) {
    return track(
      authorizerFunction.invoke({
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:${localAccount.region}:${localAccount.id}:${apiId}/${stage}/$connect`,
        queryStringParameters: query,
        headers,
        requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId, apiId, stage },
      }),
    )
  }

  /** The upgrade waits for the authorizer and $connect, as API Gateway's does. */
  async function handshake(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (!functions || !authorize) return refuse(socket, 503, 'Service Unavailable')
    const url = new URL(request.url ?? '/', 'http://gateway')
    const connectionId = randomBytes(9).toString('base64')
    const sourceIp = request.socket.remoteAddress ?? '127.0.0.1'
    // Why, never the token: it is a credential.
    const refused = (status: number, text: string, why: string) => {
      log(`refused a connection from ${sourceIp}: ${status} ${text} (${why})`)
      refuse(socket, status, text)
    }
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : value,
      ]),
    )
    const authorized = await runAuthorizer(
      authorize,
      Object.fromEntries(url.searchParams),
      headers,
      connectionId,
    )
    if (!authorized.ok) {
      // API Gateway answers the authorizer's "Unauthorized" with 401, and any other failure with 500.
      if (authorized.reason === 'error' && authorized.message === 'Unauthorized') {
        const token = url.searchParams.get('token') ?? undefined
        return refused(401, 'Unauthorized', await explainRefusedToken(token, expectedTokens))
      }
      log(`authorizer failed: ${authorized.stack ?? authorized.message}`)
      return refused(500, 'Internal Server Error', `the authorizer failed: ${authorized.message}`)
    }
    const identity = authorized.result
    if (identity.policyDocument.Statement.some((s) => s.Effect !== 'Allow'))
      return refused(403, 'Forbidden', 'the authorizer’s policy denies $connect')

    const authorizerContext = { ...identity.context, principalId: identity.principalId }
    const userAgent = request.headers['user-agent']
    const connected = await invoke('$connect', {
      requestContext: {
        ...requestContext(connectionId, '$connect', 'CONNECT'),
        authorizer: authorizerContext,
        identity: { sourceIp, ...(userAgent && { userAgent }) },
      },
      isBase64Encoded: false,
    })
    if (!connected) return refused(500, 'Internal Server Error', '$connect failed')
    if (connected.statusCode >= 300) {
      return refused(connected.statusCode, 'Refused', `$connect answered ${connected.statusCode}`)
    }

    wss.handleUpgrade(request, socket, head, (ws) => {
      const now = Date.now()
      connections.set(connectionId, {
        socket: ws,
        sub: identity.principalId,
        connectedAt: now,
        lastActiveAt: now,
        sourceIp,
        ...(userAgent && { userAgent }),
      })
      const goingAway = (reason: string) => () => ws.close(1001, reason)
      const idle = setTimeout(goingAway('idle timeout'), idleTimeoutMs)
      const lifetime = setTimeout(goingAway('maximum connection lifetime'), maxLifetimeMs)
      ws.on('message', (data, isBinary) => {
        const open = connections.get(connectionId)
        if (open) open.lastActiveAt = Date.now()
        idle.refresh()
        const body = Buffer.isBuffer(data)
          ? data
          : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)])
        onFrame(connectionId, authorizerContext, body, isBinary).catch((error) =>
          log(`frame failed: ${error}`),
        )
      })
      // Oversize frames (1009) and protocol errors end up here; ws closes the connection itself.
      ws.on('error', (error) => log(`connection ${connectionId}: ${error.message}`))
      ws.on('close', (code, reason) => {
        clearTimeout(idle)
        clearTimeout(lifetime)
        const context = requestContext(connectionId, '$disconnect', 'DISCONNECT')
        connections.delete(connectionId)
        void invoke('$disconnect', {
          requestContext: {
            ...context,
            authorizer: authorizerContext,
            disconnectStatusCode: code,
            disconnectReason: reason.toString(),
          },
          isBase64Encoded: false,
        })
      })
    })
  }

  /** Routes a frame as API Gateway does: by its `action` when it names a route, else to $default. */
  async function onFrame(
    connectionId: string,
    authorizerContext: WebSocketEvent['requestContext']['authorizer'],
    data: Buffer,
    isBinary: boolean,
  ): Promise<void> {
    const body = isBinary ? data.toString('base64') : data.toString('utf8')
    const routeKey = isBinary ? '$default' : selectRoute(body, routes)
    const event: WebSocketEvent = {
      requestContext: { ...requestContext(connectionId, routeKey, 'MESSAGE'), authorizer: authorizerContext },
      body,
      isBase64Encoded: isBinary,
    }
    const route = routes.find((r) => r.routeKey === routeKey) as RouteDefinition
    const result = await invoke(routeKey, event)
    const socket = connections.get(connectionId)?.socket
    if (socket?.readyState !== WebSocket.OPEN) return
    if (result === undefined) {
      socket.send(
        JSON.stringify({
          message: 'Internal server error',
          connectionId,
          requestId: event.requestContext.requestId,
        }),
      )
    } else if (route.replies && result.body !== undefined) {
      socket.send(result.body)
    }
  }

  /**
   * Runs a route's function; undefined when it threw, timed out or crashed (API Gateway's "Internal server
   * error").
   */
  async function invoke(routeKey: string, event: WebSocketEvent): Promise<WebSocketResult | undefined> {
    const fn = functions?.get(routeKey)
    if (!fn) return undefined
    const outcome = await track(fn.invoke(event))
    if (outcome.ok) return outcome.result
    if (outcome.reason === 'error') log(`${routeKey} handler threw: ${outcome.stack ?? outcome.message}`)
    return undefined
  }

  /** Invocations still running when the gateway closes are waited for (their $disconnect, say). */
  async function track<T>(running: Promise<T>): Promise<T> {
    inFlight.add(running)
    try {
      return await running
    } finally {
      inFlight.delete(running)
    }
  }

  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(options.port, '127.0.0.1', done)
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  const url = `http://127.0.0.1:${port}`

  const environment = options.handlerEnvironment(url)
  grants = new Grants(
    [
      { name: authorizer.handler, access: {} },
      ...routes.map((r) => ({ name: r.handler, access: r.access })),
      ...workers.map((w) => ({ name: w.handler, access: w.access })),
    ],
    {
      ...(environment[envNames.tableName] && { table: environment[envNames.tableName] }),
      ...(environment[envNames.bucketName] && { bucket: environment[envNames.bucketName] }),
    },
  )
  const region = environment.AWS_REGION ?? localAccount.region
  managementApi = new SignatureVerifier('execute-api', region, (id) => grants?.secretOf(id))
  expectedTokens = {
    ...(environment[authorizerSettings.jwtIssuer.variable] && {
      issuer: environment[authorizerSettings.jwtIssuer.variable],
    }),
    ...(environment[authorizerSettings.jwtAudience.variable] && {
      audience: environment[authorizerSettings.jwtAudience.variable],
    }),
    ...(environment[authorizerSettings.identityClaim.variable] && {
      identityClaim: environment[authorizerSettings.identityClaim.variable],
    }),
    ...(options.tokens && { jwks: options.tokens.jwks }),
  }

  // What starts from here on is stopped, last first, when the gateway closes or fails to start.
  const stops: (() => Promise<unknown>)[] = []
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop()
  }
  const endpoints: Gateway['endpoints'] = {}
  try {
    const dynamo = environment[envNames.dynamoEndpoint]
    if (dynamo) {
      const proxy = await startDynamoDbProxy(dynamo, grants, log)
      stops.push(proxy.close)
      endpoints.dynamo = proxy.endpoint
    }
    const s3 = environment[envNames.s3Endpoint]
    if (s3) {
      const proxy = await startS3Proxy(s3, grants, log)
      stops.push(proxy.close)
      endpoints.s3 = proxy.endpoint
    }

    const moduleOf = options.handlerModule ?? sourceModule
    const modules = new Map(
      [authorizer.handler, ...routes.map((route) => route.handler), ...workers.map((w) => w.handler)].map(
        (name) => [name, moduleOf(name)],
      ),
    )
    const built = await buildFunctions(new Map([...modules].filter(([, module]) => module.endsWith('.ts'))))
    stops.push(built.remove)
    const definition = (name: string, access: RouteAccess | 'authorizer', timeoutSeconds: number) => ({
      name,
      module: built.modules.get(name) ?? (modules.get(name) as string),
      environment: functionEnvironment(name, access, environment, { ...endpoints, lambda: url }),
      timeoutSeconds,
    })
    const integrated = (seconds: number) => Math.min(seconds, integrationTimeoutSeconds)
    const authorizerFunction = new LocalFunction<AuthorizerEvent, AuthorizerResult>(
      definition(authorizer.handler, 'authorizer', integrated(authorizer.timeoutSeconds)),
      log,
    )
    const routeFunctions = new Map(
      routes.map((route) => [
        route.routeKey,
        new LocalFunction<WebSocketEvent, WebSocketResult>(
          definition(route.handler, route.access, integrated(route.timeoutSeconds)),
          log,
        ),
      ]),
    )
    const workerFunctions = workers.map(
      (worker) =>
        new LocalFunction<unknown, unknown>(
          definition(worker.handler, worker.access, worker.timeoutSeconds),
          log,
        ),
    )
    everyFunction = [authorizerFunction, ...routeFunctions.values(), ...workerFunctions]
    stops.push(() => Promise.all(everyFunction.map((fn) => fn.close())))
    const api = new LocalLambdaApi({
      functions: new Map(
        everyFunction.map((fn) => [fn.definition.name, fn as LocalFunction<unknown, unknown>]),
      ),
      grants,
      verifier: new SignatureVerifier('lambda', region, (id) => grants?.secretOf(id)),
      ...(options.eventRetryDelaysMs && { eventRetryDelaysMs: options.eventRetryDelaysMs }),
      log,
    })
    stops.push(() => api.close())

    // Every function is loaded before the gateway says it is up (as with provisioned concurrency): no
    // request waits for a cold start, and a module that cannot load stops the start with its error.
    const failures = (await Promise.all(everyFunction.map((fn) => fn.warm()))).filter(Boolean)
    if (failures.length > 0) throw new Error(failures.join('\n'))
    authorize = authorizerFunction
    functions = routeFunctions
    lambdaApi = api
    ready = true
  } catch (error) {
    await stopAll()
    server.close()
    throw error
  }

  return {
    url,
    port,
    endpoints,
    events: {
      counts: (name) => lambdaApi?.eventCounts(name) ?? { queued: 0, attempts: 0, failed: 0, exhausted: 0 },
      settled: () => lambdaApi?.settled() ?? Promise.resolve(),
    },
    close: async () => {
      const sockets = [...connections.values()].map(({ socket }) => socket)
      await Promise.all(
        sockets.map((socket) => {
          const closed = new Promise((done) => socket.once('close', done))
          socket.terminate()
          return closed
        }),
      )
      // Their $disconnect handlers still need the emulators: let them finish first.
      await Promise.allSettled([...inFlight])
      await stopAll()
      const closed = new Promise((done) => server.close(done))
      server.closeAllConnections()
      await closed
    },
  }
}

/** The setting that names each worker to the functions that invoke it, as the CDK stack sets it. */
const workerSettings: Record<string, string> = { [fanOutWorker.handler]: envNames.fanOutFunction }

/**
 * A function's whole environment, as the CDK stack sets it: the table's name and endpoint only with a
 * `table` grant, the bucket's only with `bucket`, the callback URL only with `connections`, each setting
 * only where the settings table sends it, and the workers' names (FANOUT_FUNCTION) and the Lambda API's
 * endpoint (the gateway's own) only with `invoke`; the endpoints are the enforcing proxies, and the keys its
 * own.
 */
export function functionEnvironment(
  name: string,
  access: RouteAccess | 'authorizer',
  environment: Record<string, string>,
  endpoints: Gateway['endpoints'] & { lambda: string },
): Record<string, string> {
  const route = access === 'authorizer' ? {} : access
  const invoked = route.invoke ?? []
  const withheld = new Set<string>([
    ...(route.table ? [] : [envNames.tableName, envNames.dynamoEndpoint]),
    ...(route.bucket ? [] : [envNames.bucketName, envNames.s3Endpoint]),
    ...(route.connections ? [] : [envNames.callbackUrl]),
    ...[...settingVariables].filter((variable) => !receivesVariable(access, variable)),
    // Set below from the grant, whatever the environment says.
    ...Object.values(workerSettings),
    envNames.lambdaEndpoint,
  ])
  const granted = Object.fromEntries(Object.entries(environment).filter(([key]) => !withheld.has(key)))
  const workerNames = Object.fromEntries(
    invoked.flatMap((worker) => (workerSettings[worker] ? [[workerSettings[worker], worker]] : [])),
  )
  const { accessKeyId, secretAccessKey } = functionCredentials(name)
  return {
    ...granted,
    ...(granted[envNames.dynamoEndpoint] &&
      endpoints.dynamo && { [envNames.dynamoEndpoint]: endpoints.dynamo }),
    ...(granted[envNames.s3Endpoint] && endpoints.s3 && { [envNames.s3Endpoint]: endpoints.s3 }),
    ...workerNames,
    ...(invoked.length > 0 && { [envNames.lambdaEndpoint]: endpoints.lambda }),
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    // Lambda runs a Node.js the SDK has nothing to warn about.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  }
}

/** Mirrors the route selection expression $request.body.action. */
function selectRoute(body: string, routes: readonly RouteDefinition[]): string {
  try {
    const frame: unknown = JSON.parse(body)
    if (typeof frame === 'object' && frame !== null && 'action' in frame) {
      const { action } = frame
      if (
        typeof action === 'string' &&
        !action.startsWith('$') &&
        routes.some((r) => r.routeKey === action)
      ) {
        return action
      }
    }
  } catch {
    // Not JSON: API Gateway sends it to $default.
  }
  return '$default'
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** The largest body a /dev/ endpoint reads. */
const devBodyBytes = 4096
