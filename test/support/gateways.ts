import { inject } from 'vitest'
import { createDevTokens } from '../../local/dev-tokens.js'
import { type Gateway, type GatewayOptions, startGateway } from '../../local/gateway.js'
import { localHandlerEnvironment } from '../../local/stack.js'
import { quietGateway } from './logs.js'

/**
 * A gateway of a test file's own on the run's emulators (its output in the run's log), with the options it
 * sets; `settings` are the handlers' (localHandlerEnvironment).
 */
export async function ownGateway({
  settings,
  ...options
}: Partial<GatewayOptions> & {
  settings?: Parameters<typeof localHandlerEnvironment>[3]
} = {}): Promise<Gateway> {
  return startGateway({
    port: 0,
    tokens: await createDevTokens(),
    handlerEnvironment: (url) =>
      localHandlerEnvironment(url, inject('dynamoEndpoint'), inject('s3Endpoint'), settings),
    ...quietGateway,
    ...options,
  })
}
