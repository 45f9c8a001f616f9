import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import type { AckResults, Action, ErrorReply } from '@huddle/client/protocol'
import type { Caller, Chat } from '../core/chat.js'
import { ChatError } from '../core/errors.js'
import { type Frames, parseFrameText, requestId, validateFrame } from '../core/frames.js'
import { chatFromEnvironment } from './environment.js'
import { metricNames, metricNamespace } from './metric-names.js'
import type { WebSocketEvent, WebSocketResult } from './websocket-event.js'

/** Shared by every handler of a function instance; built once per cold start. */
export const logger = new Logger({ serviceName: 'huddle' })
export const metrics = new Metrics({ namespace: metricNamespace, serviceName: 'huddle' })
export const chat: Chat = chatFromEnvironment(
  (report) => {
    metrics.addMetric(metricNames.eventsDelivered, MetricUnit.Count, report.sent)
    metrics.addMetric(metricNames.staleConnectionsPruned, MetricUnit.Count, report.pruned)
    metrics.addMetric(metricNames.deliveryFailures, MetricUnit.Count, report.failed)
    metrics.addMetric(metricNames.fanOutLatency, MetricUnit.Milliseconds, report.millis)
    const level = report.failed > 0 ? 'warn' : 'debug'
    logger[level]('fan-out', { ...report })
  },
  (kind, details) => {
    metrics.addMetric(metricNames.securityEvents, MetricUnit.Count, 1)
    logger.warn('security event', { kind, ...details })
  },
)

/** The verified identity: only the $connect authorizer's context, never anything in a frame. */
export function callerOf(event: WebSocketEvent): Caller {
  const iss = event.requestContext.authorizer?.sub
  if (!iss) throw new ChatError('FORBIDDEN', 'this connection has no verified identity')
  return { iss, connectionId: event.requestContext.connectionId }
}

/** Wraps a Lambda so that every failure is logged and metrics are flushed, whatever happens. */
export function lambda(run: (event: WebSocketEvent) => Promise<WebSocketResult>) {
  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId, routeKey } = event.requestContext
    logger.appendKeys({ connectionId, route: routeKey, iss: event.requestContext.authorizer?.sub })
    try {
      return await run(event)
    } catch (error) {
      logger.error('handler failed', { error })
      throw error
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics()
      logger.resetKeys()
    }
  }
}

/**
 * A two-way route's handler: validates the frame with its action's schema, admits it through the caller's
 * rate limit, runs one use case and returns exactly one reply, an ack or an error, whatever goes wrong.
 */
export function actionHandler<A extends Action>(
  action: A,
  useCase: (caller: Caller, frame: Frames[A]) => Promise<AckResults[A]>,
) {
  return lambda(async (event) => {
    metrics.addMetric(metricNames.messagesIn, MetricUnit.Count, 1)
    let id: string | undefined
    try {
      const frame = parseFrameText(event.body)
      id = requestId(frame)
      const caller = callerOf(event)
      const valid = validateFrame(action, frame)
      await chat.rateLimits.admit(caller, action)
      const result = await useCase(caller, valid)
      return reply({ type: 'ack', ...(id !== undefined && { id }), ...result })
    } catch (error) {
      return reply(errorReply(error, id))
    }
  })
}

/**
 * The one mapping from failures to error replies; unexpected ones are logged, counted (the reply is still a
 * 200, so Lambda's Errors metric never sees them) and answered INTERNAL.
 */
export function errorReply(error: unknown, id?: string): ErrorReply {
  const withId = id !== undefined ? { id } : {}
  if (error instanceof ChatError) {
    const retry = error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }
    return { type: 'error', ...withId, code: error.code, message: error.message, ...retry }
  }
  logger.error('request failed', { error })
  metrics.addMetric(metricNames.internalErrors, MetricUnit.Count, 1)
  return {
    type: 'error',
    ...withId,
    code: 'INTERNAL',
    message: 'the request failed on the server; it is safe to retry',
  }
}

export function reply(frame: object): WebSocketResult {
  return { statusCode: 200, body: JSON.stringify(frame) }
}
