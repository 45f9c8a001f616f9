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

/** The single route table: the CDK stack and the local gateway are both generated from it. */
export const routes: readonly RouteDefinition[] = [
  { routeKey: '$connect', handler: 'connect', replies: false, access: { table: 'readWrite' } },
  { routeKey: '$disconnect', handler: 'disconnect', replies: false, access: { table: 'readWrite' } },
  { routeKey: '$default', handler: 'default', replies: true, access: {} },
  { routeKey: 'avatar', handler: 'avatar', replies: true, access: { table: 'read', bucket: 'readWrite' } },
  {
    routeKey: 'invite',
    handler: 'invite',
    replies: true,
    access: { table: 'readWrite', bucket: 'read', connections: true },
  },
  {
    routeKey: 'join',
    handler: 'join',
    replies: true,
    access: { table: 'readWrite', bucket: 'read', connections: true },
  },
  { routeKey: 'leave', handler: 'leave', replies: true, access: { table: 'readWrite', connections: true } },
  {
    routeKey: 'message',
    handler: 'message',
    replies: true,
    access: { table: 'readWrite', connections: true },
  },
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
