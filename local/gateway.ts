import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import type {
  AuthorizerEvent,
  AuthorizerResult,
  WebSocketEvent,
  WebSocketResult,
} from '../lambdas/adapters/websocket-event.js'
import { limits } from '../lambdas/core/protocol.js'
import { authorizer, type RouteDefinition, routes } from '../lambdas/routes.js'
import type { DevTokens } from './dev-tokens.js'

type Handler<E, R> = (event: E) => Promise<R>

export interface GatewayOptions {
  port: number
  /** Dev mode: serves POST /dev/token and the JWKS the authorizer verifies against. */
  tokens?: DevTokens
  idleTimeoutMs?: number
  maxLifetimeMs?: number
  /** Environment the handlers read at cold start, given the gateway's own URL (its management API). */
  handlerEnvironment(url: string): Record<string, string>
  log?: (line: string) => void
}

export interface Gateway {
  url: string
  port: number
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

/**
 * A local stand-in for API Gateway WebSockets: the authorizer and $connect on the handshake, routing by
 * `action` through the shared route table, two-way replies, the management API, and API Gateway's limits.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? (() => {})
  const idleTimeoutMs = options.idleTimeoutMs ?? limits.idleSeconds * 1000
  const maxLifetimeMs = options.maxLifetimeMs ?? limits.lifetimeSeconds * 1000
  const connections = new Map<string, OpenConnection>()
  const inFlight = new Set<Promise<unknown>>()
  const postFaults: { connectionId: string; containing: string; status: number }[] = []
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.frameBytes })
  let handlers: Map<string, Handler<WebSocketEvent, WebSocketResult>> | undefined
  let authorize: Handler<AuthorizerEvent, AuthorizerResult> | undefined

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
    if (request.method === 'GET' && url.pathname === '/health') {
      return sendJson(response, handlers ? 200 : 503, { status: handlers ? 'ok' : 'starting' })
    }
    if (options.tokens) {
      if (request.method === 'GET' && url.pathname === '/.well-known/jwks.json') {
        return sendJson(response, 200, options.tokens.jwks)
      }
      if (request.method === 'POST' && url.pathname === '/dev/token') return issueToken(request, response)
      if (request.method === 'GET' && url.pathname === '/dev/connections') {
        const sub = url.searchParams.get('sub')
        const ids = [...connections].filter(([, c]) => c.sub === sub).map(([id]) => id)
        return sendJson(response, 200, { connectionIds: ids })
      }
      if (request.method === 'POST' && url.pathname === '/dev/fail-posts') return failPosts(request, response)
    }
    sendJson(response, 404, { message: `no route for ${request.method} ${url.pathname}` })
  }

  async function issueToken(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const input: unknown = JSON.parse((await readBody(request, 4096)).toString() || '{}')
    const { sub, expiresIn } = (typeof input === 'object' && input !== null ? input : {}) as Record<
      string,
      unknown
    >
    if (typeof sub !== 'string' || sub.length === 0) {
      return sendJson(response, 400, { message: 'send {"sub": "<identity>"}' })
    }
    const lifetime = typeof expiresIn === 'number' ? expiresIn : undefined
    sendJson(response, 200, { token: await options.tokens?.issue(sub, lifetime) })
  }

  /**
   * Dev mode: every post to `connectionId` whose data contains `containing` fails with `status` (500 by
   * default), retries included, as a throttled or failing post would in AWS; the connection stays open.
   */
  async function failPosts(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const input: unknown = JSON.parse((await readBody(request, 4096)).toString() || '{}')
    const { connectionId, containing, status = 500 } = (input ?? {}) as Record<string, unknown>
    if (typeof connectionId !== 'string' || typeof containing !== 'string' || typeof status !== 'number') {
      return sendJson(response, 400, { message: 'send {"connectionId", "containing", "status"?}' })
    }
    postFaults.push({ connectionId, containing, status })
    response.writeHead(204).end()
  }

  /** The @connections management API the handlers' real SDK client calls. */
  async function manageConnection(
    request: IncomingMessage,
    response: ServerResponse,
    id: string,
  ): Promise<void> {
    const target = connections.get(id)
    if (!target) {
      response.setHeader('x-amzn-errortype', 'GoneException')
      return sendJson(response, 410, { message: `connection ${id} is gone` })
    }
    switch (request.method) {
      case 'POST': {
        const data = await readBody(request, limits.postBytes).catch(() => undefined)
        if (data === undefined) {
          response.setHeader('x-amzn-errortype', 'PayloadTooLargeException')
          return sendJson(response, 413, { message: `data is over ${limits.postBytes} bytes` })
        }
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

  /** The upgrade waits for the authorizer and $connect, as API Gateway's does. */
  async function handshake(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (!handlers || !authorize) return refuse(socket, 503, 'Service Unavailable')
    const url = new URL(request.url ?? '/', 'http://gateway')
    const connectionId = randomBytes(9).toString('base64')
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : value,
      ]),
    )
    let identity: AuthorizerResult
    try {
      identity = await authorize({
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:local:000000000000:${apiId}/${stage}/$connect`,
        queryStringParameters: Object.fromEntries(url.searchParams),
        headers,
        requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId, apiId, stage },
      })
    } catch (error) {
      const unauthorized = error instanceof Error && error.message === 'Unauthorized'
      return unauthorized ? refuse(socket, 401, 'Unauthorized') : refuse(socket, 500, 'Internal Server Error')
    }
    if (identity.policyDocument.Statement.some((s) => s.Effect !== 'Allow'))
      return refuse(socket, 403, 'Forbidden')

    const authorizerContext = { ...identity.context, principalId: identity.principalId }
    const sourceIp = request.socket.remoteAddress ?? '127.0.0.1'
    const userAgent = request.headers['user-agent']
    const connected = await invoke('$connect', {
      requestContext: {
        ...requestContext(connectionId, '$connect', 'CONNECT'),
        authorizer: authorizerContext,
        identity: { sourceIp, ...(userAgent && { userAgent }) },
      },
      isBase64Encoded: false,
    })
    if (!connected || connected.statusCode >= 300)
      return refuse(socket, connected?.statusCode ?? 500, 'Refused')

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
    const routeKey = isBinary ? '$default' : selectRoute(body)
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

  /** Runs a route's handler; undefined when it threw (API Gateway's "Internal server error"). */
  async function invoke(routeKey: string, event: WebSocketEvent): Promise<WebSocketResult | undefined> {
    const running = (async () => {
      try {
        return await handlers?.get(routeKey)?.(event)
      } catch (error) {
        log(`${routeKey} handler threw: ${error instanceof Error ? error.stack : error}`)
        return undefined
      }
    })()
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

  // The handlers read their environment at cold start, so it is set before they are loaded.
  Object.assign(process.env, options.handlerEnvironment(url))
  const loaded = await Promise.all(
    routes.map(
      async (route) =>
        [route.routeKey, await loadHandler<WebSocketEvent, WebSocketResult>(route.handler)] as const,
    ),
  )
  authorize = await loadHandler<AuthorizerEvent, AuthorizerResult>(authorizer.handler)
  handlers = new Map(loaded)

  return {
    url,
    port,
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
      const closed = new Promise((done) => server.close(done))
      server.closeAllConnections()
      await closed
    },
  }
}

/** Mirrors the route selection expression $request.body.action. */
function selectRoute(body: string): string {
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

async function loadHandler<E, R>(name: string): Promise<Handler<E, R>> {
  const module: { handler?: Handler<E, R> } = await import(`../lambdas/handlers/${name}.ts`)
  if (typeof module.handler !== 'function') throw new Error(`lambdas/handlers/${name}.ts exports no handler`)
  return module.handler
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** Reads a request body, refusing (with an error) one larger than `limit` bytes. */
async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > limit) throw new Error(`request body is over ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
