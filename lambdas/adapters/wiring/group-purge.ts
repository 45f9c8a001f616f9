import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { GroupPurge } from '../../core/group-purge.js'
import { DynamoGroupPurges } from '../dynamo/group-purge.js'
import { envNames } from '../env-names.js'
import { lazily, optionalEnv } from '../environment.js'
import { LambdaPurgeWorkers } from '../lambda-workers.js'
import { metricNames } from '../metric-names.js'
import { logger, metrics } from '../observability.js'
import { SignedHttp } from '../signed-http.js'
import { awsRegion, credentials } from './aws.js'
import { objects } from './objects.js'
import { connections, table } from './table.js'

function purgeWorkers(functionName: string): LambdaPurgeWorkers {
  const region = awsRegion()
  const endpoint = optionalEnv(envNames.lambdaEndpoint) ?? `https://lambda.${region}.amazonaws.com`
  return new LambdaPurgeWorkers(
    new SignedHttp({ endpoint, service: 'lambda', region, credentials }),
    functionName,
  )
}

const purges = new Map<string, GroupPurge>()

/**
 * Deleted groups' purges, run by the purge worker named `functionName` (the function that deletes a group
 * starts them there; the worker hands the rest of one to itself). Each invocation's report is logged, and a
 * purge that ended is counted.
 */
export function groupPurge(functionName: string): GroupPurge {
  let purge = purges.get(functionName)
  if (purge === undefined) {
    purge = new GroupPurge({
      store: new DynamoGroupPurges(table, connections),
      objects,
      workers: lazily(() => purgeWorkers(functionName)),
      newId: () => crypto.randomUUID(),
      onReport: (report) => {
        if (report.outcome === 'purged') metrics.addMetric(metricNames.groupsPurged, MetricUnit.Count, 1)
        logger.info(report.outcome === 'purged' ? 'group purged' : 'group purge stopped', { ...report })
      },
    })
    purges.set(functionName, purge)
  }
  return purge
}
