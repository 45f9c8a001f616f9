import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { S3Client } from '@aws-sdk/client-s3'
import { afterAll, inject } from 'vitest'
import { routes } from '../../lambdas/routes.js'
import { type AccessProxy, startDynamoDbProxy, startS3Proxy } from '../../local/access-proxies.js'
import { type AwsBehaviours, newCounters, noBehaviours } from '../../local/aws-behaviours.js'
import { type Credentials, functionCredentials, Grants, localAccount } from '../../local/grants.js'
import { localNames } from '../../local/stack.js'

/**
 * The access proxies alone in front of the run's emulators (no gateway, no functions), each with the
 * behaviours a test sets over noBehaviours and a client signing as it says (a function's own keys, as its SDK
 * clients sign, by default); all closed after the file.
 */
export function proxyStarter() {
  const grants = new Grants(
    routes.map((route) => ({ name: route.handler, access: route.access })),
    localNames,
  )
  const opened: { close(): unknown }[] = []
  afterAll(() => Promise.all(opened.map((each) => each.close())))
  const start = async (
    starter: typeof startDynamoDbProxy,
    upstream: string,
    behaviours: Partial<AwsBehaviours>,
  ): Promise<{ proxy: AccessProxy; counters: ReturnType<typeof newCounters> }> => {
    const counters = newCounters()
    const proxy = await starter(upstream, grants, () => {}, {
      behaviours: { ...noBehaviours, ...behaviours },
      counters,
    })
    opened.push(proxy)
    return { proxy, counters }
  }
  return {
    async dynamo(
      behaviours: Partial<AwsBehaviours>,
      credentials: Credentials = functionCredentials('message'),
    ) {
      const { proxy, counters } = await start(startDynamoDbProxy, inject('dynamoEndpoint'), behaviours)
      const client = new DynamoDBClient({
        region: localAccount.region,
        endpoint: proxy.endpoint,
        credentials,
        maxAttempts: 1,
      })
      opened.push({ close: () => client.destroy() })
      return { client, counters, endpoint: proxy.endpoint }
    },
    async s3(behaviours: Partial<AwsBehaviours>, credentials: Credentials) {
      const { proxy, counters } = await start(startS3Proxy, inject('s3Endpoint'), behaviours)
      const client = new S3Client({
        region: localAccount.region,
        endpoint: proxy.endpoint,
        credentials,
        forcePathStyle: true,
        maxAttempts: 1,
      })
      opened.push({ close: () => client.destroy() })
      return { client, counters }
    },
  }
}
