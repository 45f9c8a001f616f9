import { logger, metrics } from '../adapters/observability.js'
import { groupPurge } from '../adapters/wiring/group-purge.js'
import type { PurgeRun } from '../core/ports.js'

/** What the worker reads of Lambda's context object. */
interface InvocationContext {
  functionName: string
  getRemainingTimeInMillis(): number
}

/**
 * The purge worker, invoked asynchronously with a deleted group's purge by the function that deleted it, or
 * by itself with the rest of one. It fails only when a page failed, so that Lambda retries it (the retry
 * goes on from the same page; what was removed stays removed); a run that another holds, or that has ended,
 * does nothing.
 */
export async function handler(run: PurgeRun, context: InvocationContext): Promise<void> {
  logger.appendKeys({ gid: run.gid, run: run.run })
  try {
    await groupPurge(context.functionName).run(run, () => context.getRemainingTimeInMillis())
  } catch (error) {
    logger.error('group purge failed', { error })
    throw error
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics()
    logger.resetKeys()
  }
}
