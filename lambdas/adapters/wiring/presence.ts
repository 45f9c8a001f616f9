import { Presence } from '../../core/presence.js'
import { PresenceSharing } from '../../core/presence-sharing.js'
import { DynamoPresence } from '../dynamo/presence.js'
import { envNames } from '../env-names.js'
import { lazily, optionalEnv, requiredEnv } from '../environment.js'
import { logger } from '../observability.js'
import { SignedHttp } from '../signed-http.js'
import { SqsPresenceChanges } from '../sqs-queue.js'
import { awsRegion, credentials } from './aws.js'
import { delivery } from './delivery.js'
import { merged } from './merged.js'
import { connections, contextFor, groups, settings, table } from './table.js'

const store = new DynamoPresence(table)

/** The presence queue, reached on first use (the functions that never announce are not given it). */
const changes = lazily(() => {
  const region = awsRegion()
  const endpoint = optionalEnv(envNames.sqsEndpoint) ?? `https://sqs.${region}.amazonaws.com`
  return new SqsPresenceChanges(
    new SignedHttp({ endpoint, service: 'sqs', region, credentials }),
    requiredEnv(envNames.presenceQueueUrl),
  )
})

/** Connections opening and closing, and the presence changes they make. */
export const presence = new Presence({
  connections,
  store,
  changes,
  graceSeconds: settings.presenceGraceSeconds,
  onUnannounced: (error) =>
    logger.warn('presence change not queued: members read it on their next presence', { error }),
})

/** Presence as members read, hide and are told of it. */
export const presenceSharing = new PresenceSharing(
  { ...contextFor(merged(groups, store)), delivery },
  changes,
)
