import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { limits } from '@huddle/client/protocol'
import { WebSocket, WebSocketServer } from 'ws'
import type { WebSocketEvent } from '../../lambdas/adapters/websocket-event.js'
import type { RouteDefinition } from '../../lambdas/routes.js'
import { explainRefusedToken } from '../dev-tokens.js'
import { apiId, stage } from './api.js'
import type { GatewayState } from './state.js'

/** What the WebSocket side needs: the shared state, the routes, API Gateway's timeouts and the gateway's host. */
export interface WebSocketOptions {
  state: GatewayState
  routes: readonly RouteDefinition[]
  idleTimeoutMs: number
  maxLifetimeMs: number
  /** The gateway's host and port, as API Gateway's domainName. */
  domainName: string
  log: (line: string) => void
}

type AuthorizerContext = WebSocketEvent['requestContext']['authorizer']

/**
 * API Gateway's WebSocket side: the handshake (the authorizer, then $connect; 429 past the new connections a
 * second), frames routed by `action`, two-way replies (or API Gateway's error frame), the idle and lifetime
 * limits, and $disconnect when a connection closes.
 */
export class WebSocketSide {
  // A larger frame closes the connection with 1009, as API Gateway's 32 KB frame limit does.
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: limits.frameBytes })

  constructor(private readonly options: WebSocketOptions) {}

  /** Takes an HTTP upgrade; a handshake that fails answers 500. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A client that resets its socket while the authorizer runs would otherwise crash the whole gateway.
    const goneDuringHandshake = (error: Error) =>
      this.options.log(`a client went away during its handshake: ${error.message}`)
    socket.on('error', goneDuringHandshake)
    this.handshake(request, socket, head, () => socket.off('error', goneDuringHandshake)).catch((error) => {
      this.options.log(`handshake failed: ${error}`)
      refuse(socket, 500, 'Internal Server Error')
    })
  }

  /** The upgrade waits for the authorizer and $connect, as API Gateway's does. */
  private async handshake(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    opened: () => void,
  ): Promise<void> {
    const { state, log } = this.options
    const { functions } = state
    if (!functions) return refuse(socket, 503, 'Service Unavailable')
    const url = new URL(request.url ?? '/', 'http://gateway')
    const connectionId = randomBytes(9).toString('base64')
    const sourceIp = request.socket.remoteAddress ?? '127.0.0.1'
    // Why, never the token: it is a credential.
    const refused = (status: number, text: string, why: string) => {
      log(`refused a connection from ${sourceIp}: ${status} ${text} (${why})`)
      refuse(socket, status, text)
    }
    // New connections a second are counted before anything runs, as API Gateway throttles first.
    if (!state.throttles.connections.take()) {
      state.aws.counters.connectThrottles++
      return refused(429, 'Too Many Requests', 'past the new connections a second')
    }
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(',') : value,
      ]),
    )
    const authorized = await functions.authorize(Object.fromEntries(url.searchParams), headers, connectionId)
    if (!authorized.ok) {
      // API Gateway answers the authorizer's "Unauthorized" with 401, and any other failure with 500.
      if (authorized.reason === 'error' && authorized.message === 'Unauthorized') {
        const token = url.searchParams.get('token') ?? undefined
        return refused(401, 'Unauthorized', await explainRefusedToken(token, functions.expectedTokens))
      }
      log(`authorizer failed: ${authorized.stack ?? authorized.message}`)
      return refused(500, 'Internal Server Error', `the authorizer failed: ${authorized.message}`)
    }
    const identity = authorized.result
    if (identity.policyDocument.Statement.some((s) => s.Effect !== 'Allow'))
      return refused(403, 'Forbidden', 'the authorizer’s policy denies $connect')

    const authorizerContext = { ...identity.context, principalId: identity.principalId }
    const userAgent = request.headers['user-agent']
    const connected = await functions.invoke('$connect', {
      requestContext: {
        ...this.requestContext(connectionId, '$connect', 'CONNECT'),
        authorizer: authorizerContext,
        identity: { sourceIp, ...(userAgent && { userAgent }) },
      },
      isBase64Encoded: false,
    })
    if (!connected.ok) return refused(500, 'Internal Server Error', `$connect ${connected.why}`)
    const { statusCode } = connected.result
    if (statusCode >= 300) return refused(statusCode, 'Refused', `$connect answered ${statusCode}`)
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      opened()
      const now = Date.now()
      state.connections.add(connectionId, {
        socket: ws,
        sub: identity.principalId,
        connectedAt: now,
        lastActiveAt: now,
        sourceIp,
        ...(userAgent && { userAgent }),
      })
      this.watch(ws, connectionId, authorizerContext)
    })
  }

  /** An open connection's life: its frames, the idle and lifetime limits, and $disconnect at its end. */
  private watch(ws: WebSocket, connectionId: string, authorizerContext: AuthorizerContext): void {
    const { state, log, idleTimeoutMs, maxLifetimeMs } = this.options
    const goingAway = (reason: string) => () => ws.close(1001, reason)
    const idle = setTimeout(goingAway('idle timeout'), idleTimeoutMs)
    const lifetime = setTimeout(goingAway('maximum connection lifetime'), maxLifetimeMs)
    ws.on('message', (data, isBinary) => {
      const open = state.connections.get(connectionId)
      if (open) open.lastActiveAt = Date.now()
      idle.refresh()
      const body = Buffer.isBuffer(data)
        ? data
        : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)])
      this.onFrame(connectionId, authorizerContext, body, isBinary).catch((error) =>
        log(`frame failed: ${error}`),
      )
    })
    // Oversize frames (1009) and protocol errors end up here; ws closes the connection itself.
    ws.on('error', (error) => log(`connection ${connectionId}: ${error.message}`))
    ws.on('close', (code, reason) => {
      clearTimeout(idle)
      clearTimeout(lifetime)
      const context = this.requestContext(connectionId, '$disconnect', 'DISCONNECT')
      state.connections.delete(connectionId)
      void state.functions?.invoke('$disconnect', {
        requestContext: {
          ...context,
          authorizer: authorizerContext,
          disconnectStatusCode: code,
          disconnectReason: reason.toString(),
        },
        isBase64Encoded: false,
      })
    })
  }

  /** Routes a frame as API Gateway does: by its `action` when it names a route, else to $default. */
  private async onFrame(
    connectionId: string,
    authorizerContext: AuthorizerContext,
    data: Buffer,
    isBinary: boolean,
  ): Promise<void> {
    const { state, routes } = this.options
    const body = isBinary ? data.toString('base64') : data.toString('utf8')
    const routeKey = isBinary ? '$default' : selectRoute(body, routes)
    const event: WebSocketEvent = {
      requestContext: {
        ...this.requestContext(connectionId, routeKey, 'MESSAGE'),
        authorizer: authorizerContext,
      },
      body,
      isBase64Encoded: isBinary,
    }
    const route = routes.find((r) => r.routeKey === routeKey) as RouteDefinition
    const outcome = await state.functions?.invoke(routeKey, event)
    const socket = state.connections.get(connectionId)?.socket
    if (socket?.readyState !== WebSocket.OPEN) return
    if (!outcome?.ok) {
      // API Gateway's own frames: a function that failed or was throttled, or one it stopped waiting for.
      const message = outcome?.why === 'timed out' ? 'Endpoint request timed out' : 'Internal server error'
      socket.send(JSON.stringify({ message, connectionId, requestId: event.requestContext.requestId }))
    } else if (route.replies && outcome.result.body !== undefined) {
      socket.send(outcome.result.body)
    }
  }

  private requestContext(
    connectionId: string,
    routeKey: string,
    eventType: WebSocketEvent['requestContext']['eventType'],
  ) {
    const open = this.options.state.connections.get(connectionId)
    return {
      routeKey,
      eventType,
      connectionId,
      connectedAt: open?.connectedAt ?? Date.now(),
      requestId: randomBytes(8).toString('hex'),
      requestTimeEpoch: Date.now(),
      domainName: this.options.domainName,
      stage,
      apiId,
      identity: {
        sourceIp: open?.sourceIp ?? '127.0.0.1',
        ...(open?.userAgent && { userAgent: open.userAgent }),
      },
    }
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
