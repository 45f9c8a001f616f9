import { MetricUnit } from '@aws-lambda-powertools/metrics'
import { settingsFromEnvironment } from '../adapters/environment.js'
import { metricNames } from '../adapters/metric-names.js'
import { logger, metrics } from '../adapters/observability.js'
import { TokenRefused, tokenVerifier } from '../adapters/tokens.js'
import type { AuthorizerEvent, AuthorizerResult } from '../adapters/websocket-event.js'
import { authorizerSettings } from '../settings.js'

const { jwksUrl, jwtIssuer, jwtAudience, identityClaim } = settingsFromEnvironment(authorizerSettings)
const verify = tokenVerifier({ jwksUrl, issuer: jwtIssuer, audience: jwtAudience, identityClaim })

/**
 * The $connect REQUEST authorizer: the token's identity claim names the connection's user. A bad token is
 * refused (401); a token that could not be checked (JWKS unreachable, a bug) is a fault, counted apart and
 * answered 500, since API Gateway has no other way to say "try again later".
 */
export const handler = async (event: AuthorizerEvent): Promise<AuthorizerResult> => {
  let identity: string
  try {
    identity = await verify(event.queryStringParameters?.token)
  } catch (error) {
    if (error instanceof TokenRefused) {
      metrics.addMetric(metricNames.connectionsRefused, MetricUnit.Count, 1)
      logger.info('connection refused', { reason: error.message })
      // API Gateway answers this exact message with HTTP 401.
      throw new Error('Unauthorized')
    }
    metrics.addMetric(metricNames.authorizerFaults, MetricUnit.Count, 1)
    logger.error('authorizer fault: the token could not be checked', { error })
    throw new Error('the token could not be checked')
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics()
  }
  return {
    principalId: identity,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    // Later routes read the identity from here (`callerOf`), whichever claim it came from.
    context: { sub: identity },
  }
}
