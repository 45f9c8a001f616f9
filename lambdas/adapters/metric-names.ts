/** Custom metrics the handlers publish as EMF; the CDK dashboard graphs the same names. */
export const metricNamespace = 'Huddle'
export const metricNames = {
  connectionsOpened: 'ConnectionsOpened',
  connectionsClosed: 'ConnectionsClosed',
  /** Tokens the authorizer refused (missing, expired, bad signature, wrong iss/aud, no valid identity): 401s. */
  connectionsRefused: 'ConnectionsRefused',
  /** Tokens the authorizer could not check (JWKS unreachable or invalid, a bug): 500s, alarmed. */
  authorizerFaults: 'AuthorizerFaults',
  messagesIn: 'MessagesIn',
  /** Requests answered INTERNAL: a DynamoDB or S3 failure or a bug that the handler caught and replied to. */
  internalErrors: 'InternalErrors',
  /** DynamoDB writes sent again because they overlapped a transaction on an item (a busy group): a rising
   * count means contention; a write that runs out of retries is logged at WARN and answers CONFLICT. */
  transactionConflicts: 'TransactionConflicts',
  /** Posts to connections sent again after the management API answered 429 (the account's request rate,
   * shared by every callback): a rising count means fan-outs press on it; a post that runs out of retries is
   * logged at WARN and counted in DeliveryFailures. */
  callbackThrottles: 'CallbackThrottles',
  eventsDelivered: 'EventsDelivered',
  deliveryFailures: 'DeliveryFailures',
  staleConnectionsPruned: 'StaleConnectionsPruned',
  fanOutLatency: 'FanOutLatency',
  /** Deleted groups whose purge ended: every item and object of theirs is gone (each purge logs its pages,
   * items and objects). */
  groupsPurged: 'GroupsPurged',
  /** Refused attempts on encrypted groups' keys (a tree other than the roster, a package nobody claimed, an
   * unvouched device) and commits members refused: each one is worth a look. */
  securityEvents: 'SecurityEvents',
} as const
