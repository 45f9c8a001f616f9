/** What a route's function may touch; the CDK stack grants exactly this and nothing more. */
export interface RouteAccess {
  table?: 'read' | 'readWrite'
  bucket?: 'read' | 'readWrite'
  /** Posts to or deletes connections through the management API. */
  connections?: boolean
}

/** One API Gateway WebSocket route and the Lambda handler (lambdas/handlers/<handler>.ts) behind it. */
export interface RouteDefinition {
  routeKey: string
  handler: string
  /** The handler's return value is sent back to the calling connection (a two-way route). */
  replies: boolean
  access: RouteAccess
}

/** Routes that append to a group's log and post the event to its members. */
const fanOut: RouteAccess = { table: 'readWrite', connections: true }

/** The single route table: the CDK stack and the local gateway are both generated from it. */
export const routes: readonly RouteDefinition[] = [
  { routeKey: '$connect', handler: 'connect', replies: false, access: { table: 'readWrite' } },
  { routeKey: '$disconnect', handler: 'disconnect', replies: false, access: { table: 'readWrite' } },
  { routeKey: '$default', handler: 'default', replies: true, access: {} },
  { routeKey: 'avatar', handler: 'avatar', replies: true, access: { table: 'read', bucket: 'readWrite' } },
  { routeKey: 'invite', handler: 'invite', replies: true, access: { ...fanOut, bucket: 'read' } },
  { routeKey: 'join', handler: 'join', replies: true, access: { ...fanOut, bucket: 'read' } },
  { routeKey: 'leave', handler: 'leave', replies: true, access: fanOut },
  { routeKey: 'message', handler: 'message', replies: true, access: fanOut },
  { routeKey: 'edit', handler: 'edit', replies: true, access: fanOut },
  { routeKey: 'delete', handler: 'delete', replies: true, access: fanOut },
  { routeKey: 'receipt', handler: 'receipt', replies: true, access: fanOut },
  { routeKey: 'history', handler: 'history', replies: true, access: { table: 'read' } },
  { routeKey: 'receipts', handler: 'receipts', replies: true, access: { table: 'read' } },
  {
    routeKey: 'sync',
    handler: 'sync',
    replies: true,
    access: { table: 'read', bucket: 'read', connections: true },
  },
  { routeKey: 'groups', handler: 'groups', replies: true, access: { table: 'read', bucket: 'read' } },
]

/** The $connect REQUEST authorizer (lambdas/handlers/authorizer.ts); the token rides in ?token=. */
export const authorizer = {
  handler: 'authorizer',
  identitySource: 'route.request.querystring.token',
} as const
