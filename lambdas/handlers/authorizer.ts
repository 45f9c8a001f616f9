import { envNames } from '../adapters/env-names.js'
import { requiredEnv } from '../adapters/environment.js'
import { logger } from '../adapters/handler.js'
import { tokenVerifier } from '../adapters/tokens.js'
import type { AuthorizerEvent, AuthorizerResult } from '../adapters/websocket-event.js'

const verify = tokenVerifier({
  jwksUrl: requiredEnv(envNames.jwksUrl),
  issuer: requiredEnv(envNames.jwtIssuer),
  audience: requiredEnv(envNames.jwtAudience),
})

/** The $connect REQUEST authorizer: the token's `sub` becomes the connection's identity; anything else is a 401. */
export const handler = async (event: AuthorizerEvent): Promise<AuthorizerResult> => {
  const token = event.queryStringParameters?.token
  let sub: string
  try {
    if (!token) throw new Error('no token query parameter')
    sub = await verify(token)
  } catch (error) {
    logger.info('connection refused', { reason: error instanceof Error ? error.message : String(error) })
    // API Gateway answers this exact message with HTTP 401.
    throw new Error('Unauthorized')
  }
  return {
    principalId: sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: { sub },
  }
}
