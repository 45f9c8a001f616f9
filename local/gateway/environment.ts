import { envNames } from '../../lambdas/adapters/env-names.js'
import { fanOutWorker, presenceWorker, purgeWorker, type RouteAccess } from '../../lambdas/routes.js'
import { receivesVariable, settingVariables } from '../../lambdas/settings.js'
import { functionCredentials } from '../grants.js'
import { localQueueUrl } from '../sqs-api.js'

/** What the functions are given as DYNAMODB_ENDPOINT and S3_ENDPOINT: proxies that enforce their grants. */
export interface Endpoints {
  dynamo?: string
  s3?: string
}

/** The setting that names each worker to the functions that invoke it, as the CDK stack sets it. */
const workerSettings: Record<string, string> = {
  [fanOutWorker.handler]: envNames.fanOutFunction,
  [purgeWorker.handler]: envNames.purgeFunction,
}

/** The setting that names each queued worker's queue to the functions that send to it. */
const queueSettings: Record<string, string> = {
  [presenceWorker.handler]: envNames.presenceQueueUrl,
}

/**
 * A function's whole environment, as the CDK stack sets it: the table's name and endpoint only with a
 * `table` grant, the bucket's only with `bucket`, the callback URL only with `connections`, each setting
 * only where the settings table sends it, and the workers' names (FANOUT_FUNCTION) and the Lambda API's
 * endpoint (the gateway's own) only with `invoke`, and the queues' URLs and the SQS API's endpoint (the
 * gateway's too) only with `enqueue`; the endpoints are the enforcing proxies, and the keys its
 * own.
 */
export function functionEnvironment(
  name: string,
  access: RouteAccess | 'authorizer',
  environment: Record<string, string>,
  endpoints: Endpoints & { lambda: string },
): Record<string, string> {
  const route = access === 'authorizer' ? {} : access
  const invoked = route.invoke ?? []
  const enqueued = route.enqueue ?? []
  const withheld = new Set<string>([
    ...(route.table ? [] : [envNames.tableName, envNames.dynamoEndpoint]),
    ...(route.bucket ? [] : [envNames.bucketName, envNames.s3Endpoint]),
    ...(route.connections ? [] : [envNames.callbackUrl]),
    ...[...settingVariables].filter((variable) => !receivesVariable(access, variable)),
    // Set below from the grant, whatever the environment says.
    ...Object.values(workerSettings),
    ...Object.values(queueSettings),
    envNames.lambdaEndpoint,
    envNames.sqsEndpoint,
  ])
  const granted = Object.fromEntries(Object.entries(environment).filter(([key]) => !withheld.has(key)))
  const workerNames = Object.fromEntries(
    invoked.flatMap((worker) => (workerSettings[worker] ? [[workerSettings[worker], worker]] : [])),
  )
  const { accessKeyId, secretAccessKey } = functionCredentials(name)
  return {
    ...granted,
    ...(granted[envNames.dynamoEndpoint] &&
      endpoints.dynamo && { [envNames.dynamoEndpoint]: endpoints.dynamo }),
    ...(granted[envNames.s3Endpoint] && endpoints.s3 && { [envNames.s3Endpoint]: endpoints.s3 }),
    ...workerNames,
    ...(invoked.length > 0 && { [envNames.lambdaEndpoint]: endpoints.lambda }),
    ...Object.fromEntries(
      enqueued.flatMap((worker) =>
        queueSettings[worker] ? [[queueSettings[worker], localQueueUrl(endpoints.lambda, worker)]] : [],
      ),
    ),
    ...(enqueued.length > 0 && { [envNames.sqsEndpoint]: endpoints.lambda }),
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    // Lambda runs a Node.js the SDK has nothing to warn about.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  }
}
