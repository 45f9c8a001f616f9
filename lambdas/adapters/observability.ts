import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { metricNamespace } from './metric-names.js'

/** Shared by every handler of a function instance; built once per cold start. */
export const logger = new Logger({ serviceName: 'huddle' })
/** The function's metrics, published at the end of each invocation (see `lambda`). */
export const metrics = new Metrics({ namespace: metricNamespace, serviceName: 'huddle' })
