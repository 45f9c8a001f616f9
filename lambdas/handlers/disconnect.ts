import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { callerOf, lambda } from '../adapters/handler.js'
import { metricNames } from '../adapters/metric-names.js'
import { metrics } from '../adapters/observability.js'
import { presence } from '../adapters/wiring/presence.js'

/** $disconnect (best effort in API Gateway; stale connections are also pruned on 410). */
export const handler = lambda(async (event) => {
  await presence.disconnect(callerOf(event))
  metrics.addMetric(metricNames.connectionsClosed, MetricUnit.Count, 1)
  return { statusCode: 200 }
})
