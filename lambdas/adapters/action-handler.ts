import { MetricUnit } from '@aws-lambda-powertools/metrics'
import type { AckResults, Action } from '@huddle/client/protocol'
import { type Frames, parseFrameText, requestId, validateFrame } from '../core/frames.js'
import type { Caller } from '../core/model.js'
import { callerOf, errorReply, lambda, reply } from './handler.js'
import { metricNames } from './metric-names.js'
import { metrics } from './observability.js'
import { rateLimits } from './wiring/rate-limits.js'

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
      await rateLimits.admit(caller, action)
      const result = await useCase(caller, valid)
      return reply({ type: 'ack', ...(id !== undefined && { id }), ...result })
    } catch (error) {
      return reply(errorReply(error, id))
    }
  })
}
