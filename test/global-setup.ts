import type { TestProject } from 'vitest/node'
import { startLocalStack } from '../local/stack.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The local gateway (WebSocket, management API and /dev/token). */
    httpUrl: string
    dynamoEndpoint: string
    s3Endpoint: string
  }
}

/** Starts the local stack once for the whole run, in memory. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const stack = await startLocalStack({
    port: 0,
    log: (line) => process.stderr.write(`[local stack] ${line}\n`),
  })
  project.provide('httpUrl', stack.url)
  project.provide('dynamoEndpoint', stack.dynamoEndpoint)
  project.provide('s3Endpoint', stack.s3Endpoint)
  return () => stack.stop()
}
