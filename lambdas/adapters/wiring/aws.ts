import { requiredEnv } from '../environment.js'
import type { Credentials } from '../sigv4.js'

/** This function's region, which Lambda sets in its environment (as the local stack does). */
export function awsRegion(): string {
  return requiredEnv('AWS_REGION')
}

/**
 * This function's credentials, from its environment: on Lambda its role's, which Lambda puts there for the
 * life of the instance (the local stack gives each function its own key pair the same way).
 */
export async function credentials(): Promise<Credentials> {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: deploy with the CDK stack or run the local stack (npm start)',
    )
  }
  const sessionToken = process.env.AWS_SESSION_TOKEN
  return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) }
}
