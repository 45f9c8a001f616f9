import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { callerOf, chat, lambda, metrics } from '../adapters/handler.js'
import { metricNames } from '../adapters/metric-names.js'

/** $connect: records the connection under the identity the authorizer verified. */
export const handler = lambda(async (event) => {
  await chat.connect(callerOf(event))
  metrics.addMetric(metricNames.connectionsOpened, MetricUnit.Count, 1)
  return { statusCode: 200 }
})
