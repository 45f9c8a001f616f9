import { MetricUnit } from '@aws-lambda-powertools/metrics'
import type { ErrorReply } from '@huddle/client/protocol'
import { ChatError } from '../core/errors.js'
import type { Caller } from '../core/model.js'
import { isTransactionConflict } from './dynamo/client.js'
import { metricNames } from './metric-names.js'
import { logger, metrics } from './observability.js'
import type { WebSocketEvent, WebSocketResult } from './websocket-event.js'

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
 * The one mapping from failures to error replies; a write that met other transactions through all its
 * retries answers CONFLICT (nothing was written: the client sends it again); unexpected ones are logged,
 * counted (the reply is still a 200, so Lambda's Errors metric never sees them) and answered INTERNAL.
 */
export function errorReply(error: unknown, id?: string): ErrorReply {
  const withId = id !== undefined ? { id } : {}
  if (error instanceof ChatError) {
    const retry = error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }
    return { type: 'error', ...withId, code: error.code, message: error.message, ...retry }
  }
  if (isTransactionConflict(error)) {
    return {
      type: 'error',
      ...withId,
      code: 'CONFLICT',
      message: 'the group was too busy to write to; retry',
    }
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

/** A reply frame as the gateway sends it back. */
export function reply(frame: object): WebSocketResult {
  return { statusCode: 200, body: JSON.stringify(frame) }
}
