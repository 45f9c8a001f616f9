/** Custom metrics the handlers publish as EMF; the CDK dashboard graphs the same names. */
export const metricNamespace = 'Huddle'
export const metricNames = {
  connectionsOpened: 'ConnectionsOpened',
  connectionsClosed: 'ConnectionsClosed',
  messagesIn: 'MessagesIn',
  eventsDelivered: 'EventsDelivered',
  deliveryFailures: 'DeliveryFailures',
  staleConnectionsPruned: 'StaleConnectionsPruned',
  fanOutLatency: 'FanOutLatency',
} as const
