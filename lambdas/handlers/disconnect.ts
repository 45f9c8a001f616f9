import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { chat, lambda, metrics } from '../adapters/handler.js'
import { metricNames } from '../adapters/metric-names.js'

/** $disconnect (best effort in API Gateway; stale connections are also pruned on 410). */
export const handler = lambda(async (event) => {
  await chat.disconnect(event.requestContext.connectionId)
  metrics.addMetric(metricNames.connectionsClosed, MetricUnit.Count, 1)
  return { statusCode: 200 }
})
