import { logger, metrics } from '../adapters/observability.js'
import { delivery } from '../adapters/wiring/delivery.js'
import type { FanOutSlice } from '../core/ports.js'

/** What the worker reads of Lambda's context object. */
interface InvocationContext {
  getRemainingTimeInMillis(): number
}

/**
 * The fan-out worker, invoked asynchronously with one slice of a large group's recipients by the function
 * that stored the event. It fails only when its slice is left unfinished, so that Lambda retries it (the
 * retry posts what is left); a repeated invocation of a finished or running slice does nothing.
 */
export async function handler(slice: FanOutSlice, context: InvocationContext): Promise<void> {
  logger.appendKeys({ slice: slice.id, event: slice.event })
  try {
    const report = await delivery.postSlice(slice, () => context.getRemainingTimeInMillis())
    if (report === undefined) logger.info('fan-out slice skipped: another invocation posts or posted it')
  } catch (error) {
    logger.error('fan-out slice failed', { error })
    throw error
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics()
    logger.resetKeys()
  }
}
