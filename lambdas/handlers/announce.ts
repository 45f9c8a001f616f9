import { logger, metrics } from '../adapters/observability.js'
import { presenceSharing } from '../adapters/wiring/presence.js'
import type { PresenceChange } from '../core/ports.js'

/** What the worker reads of an SQS event: each message's id and body. */
interface QueueEvent {
  Records: { messageId: string; body: string }[]
}

/**
 * The presence worker, triggered by the presence queue: announces each change, once its delay has run. A
 * message that failed is reported back alone (ReportBatchItemFailures), so that SQS delivers only it again;
 * one whose body is not a change is logged and dropped, as no retry would mend it.
 */
export async function handler(
  event: QueueEvent,
): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> {
  const batchItemFailures: { itemIdentifier: string }[] = []
  try {
    for (const record of event.Records) {
      const change = parseChange(record.body)
      if (change === undefined) {
        logger.error('presence change dropped: its body is not a change', { messageId: record.messageId })
        continue
      }
      try {
        // Its posts are counted as every delivery's are (EventsDelivered).
        await presenceSharing.announce(change)
      } catch (error) {
        logger.error('presence change failed', { error, messageId: record.messageId })
        batchItemFailures.push({ itemIdentifier: record.messageId })
      }
    }
    return { batchItemFailures }
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics()
  }
}

function parseChange(body: string): PresenceChange | undefined {
  try {
    const value: unknown = JSON.parse(body)
    if (typeof value !== 'object' || value === null) return undefined
    const { iss, leftAt, shown } = value as Record<string, unknown>
    if (typeof iss !== 'string') return undefined
    if (leftAt !== undefined && typeof leftAt !== 'string') return undefined
    if (shown !== undefined && typeof shown !== 'boolean') return undefined
    return { iss, ...(leftAt !== undefined && { leftAt }), ...(shown !== undefined && { shown }) }
  } catch {
    return undefined
  }
}
