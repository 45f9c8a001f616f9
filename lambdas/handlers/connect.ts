import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { callerOf, lambda } from '../adapters/handler.js'
import { metricNames } from '../adapters/metric-names.js'
import { metrics } from '../adapters/observability.js'
import { presence } from '../adapters/wiring/presence.js'

/** $connect: records the connection under the identity the authorizer verified. */
export const handler = lambda(async (event) => {
  await presence.connect(callerOf(event))
  metrics.addMetric(metricNames.connectionsOpened, MetricUnit.Count, 1)
  return { statusCode: 200 }
})
