import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { type ChatContext, contextOf } from '../../core/context.js'
import { chatSettings } from '../../settings.js'
import { DynamoClient } from '../dynamo/client.js'
import { DynamoConnections } from '../dynamo/connections.js'
import { DynamoGroupStore } from '../dynamo/group-store.js'
import { DynamoMembershipIndex } from '../dynamo/membership-index.js'
import { DynamoTable } from '../dynamo/table.js'
import { envNames } from '../env-names.js'
import { lazily, optionalEnv, requiredEnv, settingsFromEnvironment } from '../environment.js'
import { metricNames } from '../metric-names.js'
import { logger, metrics } from '../observability.js'
import { awsRegion, credentials } from './aws.js'

/** The table, its client built on first use from this function's environment. */
export const table: DynamoTable = lazily(() => {
  const endpoint = optionalEnv(envNames.dynamoEndpoint)
  const db = new DynamoClient({
    region: awsRegion(),
    credentials,
    ...(endpoint && { endpoint }),
    onConflict: {
      retried: () => metrics.addMetric(metricNames.transactionConflicts, MetricUnit.Count, 1),
      exhausted: (operation, attempts, error) =>
        logger.warn('DynamoDB write still conflicting after retries', {
          operation,
          attempts,
          error: error.message,
        }),
    },
  })
  return new DynamoTable(db, requiredEnv(envNames.tableName))
})

/** An identity's groups, through the index of memberships. */
export const membershipIndex = new DynamoMembershipIndex(table)
/** Who is connected where. */
export const connections = new DynamoConnections(table, membershipIndex)
/** The group aggregate. */
export const groups = new DynamoGroupStore(table, connections)

/** The chat's settings from this function's environment, read once per cold start. */
export const settings = settingsFromEnvironment(chatSettings)

/** A capability's context over `store`, reporting security events as a metric and a warning. */
export function contextFor<S>(store: S): ChatContext<S> {
  return contextOf(store, settings, {
    onSecurity: (kind, details) => {
      metrics.addMetric(metricNames.securityEvents, MetricUnit.Count, 1)
      logger.warn('security event', { kind, ...details })
    },
  })
}
