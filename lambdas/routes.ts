/** Where objects live in the bucket: uploads expire unless an invite copies one to the group's avatars, a
 * message to the group's files, or a commit to the group's MLS parts. */
export const bucketPrefixes = {
  uploads: 'uploads/',
  avatars: 'avatars/',
  files: 'files/',
  mls: 'mls/',
} as const

/** What a route's function may touch; the CDK stack grants exactly this and nothing more, and the local
 * stack refuses whatever is not granted. */
export interface RouteAccess {
  table?: 'read' | 'readWrite'
  /** Object key prefixes it reads (GetObject; listing under them, so a missing key answers 404), writes
   * (PutObject, presigned or copied) and deletes (DeleteObject). */
  bucket?: { read?: readonly string[]; write?: readonly string[]; delete?: readonly string[] }
  /** Posts to or deletes connections through the management API. */
  connections?: boolean
  /** Workers (by handler) it invokes asynchronously (lambda:InvokeFunction). */
  invoke?: readonly string[]
  /** Workers (by handler) it sends messages to through their queues (sqs:SendMessage). */
  enqueue?: readonly string[]
}

/** One API Gateway WebSocket route and the Lambda handler (lambdas/handlers/<handler>.ts) behind it. */
export interface RouteDefinition {
  routeKey: string
  handler: string
  /** The handler's return value is sent back to the calling connection (a two-way route). */
  replies: boolean
  access: RouteAccess
  /** The function's timeout, under API Gateway's 29 s integration limit (a reply after it is dropped). */
  timeoutSeconds: number
}

/** A Lambda function no route triggers: the routes' functions invoke it asynchronously, or send to its queue. */
export interface WorkerDefinition {
  handler: string
  access: RouteAccess
  timeoutSeconds: number
  /** Triggered by an SQS queue of its own (named after it), rather than invoked. */
  queued?: true
}

/**
 * The fan-out worker: posts one slice of a large group's recipients, handed over by the function that
 * stored the event (lambdas/core/delivery.ts).
 */
export const fanOutWorker: WorkerDefinition = {
  handler: 'fanout',
  access: { table: 'readWrite', connections: true },
  timeoutSeconds: 60,
}

/**
 * The purge worker: removes a deleted group a page at a time, each page's objects before its items, and hands
 * the rest to a fresh invocation of itself near its deadline (lambdas/core/group-purge.ts).
 */
export const purgeWorker: WorkerDefinition = {
  handler: 'purge',
  access: {
    table: 'readWrite',
    // Listing a group's prefixes (a read grant) finds the objects no item names, which go too.
    bucket: {
      read: [bucketPrefixes.avatars, bucketPrefixes.files, bucketPrefixes.mls],
      delete: [bucketPrefixes.avatars, bucketPrefixes.files, bucketPrefixes.mls],
    },
    invoke: ['purge'],
  },
  timeoutSeconds: 300,
}

/**
 * The presence worker: announces an identity's presence changes to its groups' members, each after its delay
 * in the presence queue (lambdas/core/presence-sharing.ts).
 */
export const presenceWorker: WorkerDefinition = {
  handler: 'announce',
  access: { table: 'readWrite', connections: true },
  timeoutSeconds: 30,
  queued: true,
}

/** Every worker; the CDK stack and the local gateway create one function each. */
export const workers: readonly WorkerDefinition[] = [fanOutWorker, purgeWorker, presenceWorker]

/**
 * The timeout of a route that posts events to connections (a fan-out, or sync's catch-up): API Gateway cuts
 * an integration at 29 s and drops a later reply, so the function stops first, with room for its cold start.
 */
const postingRouteSeconds = 25

/** Routes that append to a group's log and post the event to its members, handing large fan-outs over. */
const fanOut: RouteAccess = { table: 'readWrite', connections: true, invoke: [fanOutWorker.handler] }
const { uploads, avatars, files, mls } = bucketPrefixes

/** The single route table: the CDK stack and the local gateway are both generated from it. */
export const routes: readonly RouteDefinition[] = [
  {
    routeKey: '$connect',
    handler: 'connect',
    replies: false,
    // Coming online is announced by the presence worker.
    access: { table: 'readWrite', enqueue: [presenceWorker.handler] },
    timeoutSeconds: 10,
  },
  {
    routeKey: '$disconnect',
    handler: 'disconnect',
    replies: false,
    // Going offline is announced by the presence worker once the grace period has run.
    access: { table: 'readWrite', enqueue: [presenceWorker.handler] },
    timeoutSeconds: 10,
  },
  { routeKey: '$default', handler: 'default', replies: true, access: {}, timeoutSeconds: 10 },
  {
    routeKey: 'avatar',
    handler: 'avatar',
    replies: true,
    access: { table: 'readWrite', bucket: { write: [uploads] } },
    timeoutSeconds: 10,
  },
  {
    routeKey: 'invite',
    handler: 'invite',
    replies: true,
    access: { ...fanOut, bucket: { read: [uploads, avatars], write: [avatars] } },
    timeoutSeconds: postingRouteSeconds,
  },
  {
    routeKey: 'join',
    handler: 'join',
    replies: true,
    access: { ...fanOut, bucket: { read: [avatars] } },
    timeoutSeconds: postingRouteSeconds,
  },
  { routeKey: 'leave', handler: 'leave', replies: true, access: fanOut, timeoutSeconds: postingRouteSeconds },
  {
    routeKey: 'remove',
    handler: 'remove',
    replies: true,
    access: fanOut,
    timeoutSeconds: postingRouteSeconds,
  },
  {
    routeKey: 'update',
    handler: 'update',
    replies: true,
    access: { ...fanOut, bucket: { read: [uploads, avatars], write: [avatars] } },
    timeoutSeconds: postingRouteSeconds,
  },
  { routeKey: 'role', handler: 'role', replies: true, access: fanOut, timeoutSeconds: postingRouteSeconds },
  { routeKey: 'ban', handler: 'ban', replies: true, access: fanOut, timeoutSeconds: postingRouteSeconds },
  { routeKey: 'unban', handler: 'unban', replies: true, access: fanOut, timeoutSeconds: postingRouteSeconds },
  { routeKey: 'bans', handler: 'bans', replies: true, access: { table: 'read' }, timeoutSeconds: 10 },
  {
    routeKey: 'deleteGroup',
    handler: 'delete-group',
    replies: true,
    // The purge worker deletes the group's items and objects.
    access: { ...fanOut, invoke: [fanOutWorker.handler, purgeWorker.handler] },
    timeoutSeconds: postingRouteSeconds,
  },
  {
    routeKey: 'attachment',
    handler: 'attachment',
    replies: true,
    access: { table: 'readWrite', bucket: { write: [uploads] } },
    timeoutSeconds: 10,
  },
  {
    routeKey: 'download',
    handler: 'download',
    replies: true,
    access: { table: 'read', bucket: { read: [files, mls] } },
    timeoutSeconds: 10,
  },
  {
    routeKey: 'message',
    handler: 'message',
    replies: true,
    // A message's attachments are copied from the sender's uploads to the group's files.
    access: { ...fanOut, bucket: { read: [uploads], write: [files] } },
    timeoutSeconds: postingRouteSeconds,
  },
  { routeKey: 'edit', handler: 'edit', replies: true, access: fanOut, timeoutSeconds: postingRouteSeconds },
  { routeKey: 'react', handler: 'react', replies: true, access: fanOut, timeoutSeconds: postingRouteSeconds },
  {
    routeKey: 'delete',
    handler: 'delete',
    replies: true,
    access: { ...fanOut, bucket: { delete: [files] } },
    timeoutSeconds: postingRouteSeconds,
  },
  {
    routeKey: 'receipt',
    handler: 'receipt',
    replies: true,
    access: fanOut,
    timeoutSeconds: postingRouteSeconds,
  },
  {
    routeKey: 'history',
    handler: 'history',
    replies: true,
    // An update's avatar is linked afresh: a presigned GET carries the function's own grant.
    access: { table: 'read', bucket: { read: [avatars] } },
    timeoutSeconds: 10,
  },
  { routeKey: 'receipts', handler: 'receipts', replies: true, access: { table: 'read' }, timeoutSeconds: 10 },
  {
    routeKey: 'typing',
    handler: 'typing',
    replies: true,
    // Its window is a rate token in the table; it posts to a small group's connections and hands nothing over.
    access: { table: 'readWrite', connections: true },
    timeoutSeconds: 10,
  },
  {
    routeKey: 'presence',
    handler: 'presence',
    replies: true,
    access: { table: 'read' },
    timeoutSeconds: 10,
  },
  {
    routeKey: 'hidePresence',
    handler: 'hide-presence',
    replies: true,
    access: { table: 'readWrite', enqueue: [presenceWorker.handler] },
    timeoutSeconds: 10,
  },
  {
    routeKey: 'sync',
    handler: 'sync',
    replies: true,
    access: { table: 'read', bucket: { read: [avatars] }, connections: true },
    timeoutSeconds: postingRouteSeconds,
  },
  { routeKey: 'members', handler: 'members', replies: true, access: { table: 'read' }, timeoutSeconds: 10 },
  {
    routeKey: 'groups',
    handler: 'groups',
    replies: true,
    access: { table: 'read', bucket: { read: [avatars] } },
    timeoutSeconds: 10,
  },
  { routeKey: 'block', handler: 'block', replies: true, access: { table: 'readWrite' }, timeoutSeconds: 10 },
  {
    routeKey: 'unblock',
    handler: 'unblock',
    replies: true,
    access: { table: 'readWrite' },
    timeoutSeconds: 10,
  },
  { routeKey: 'blocks', handler: 'blocks', replies: true, access: { table: 'read' }, timeoutSeconds: 10 },
  {
    routeKey: 'keys',
    handler: 'keys',
    replies: true,
    // A device no list vouches for yet is announced to its identity's other devices.
    access: { table: 'readWrite', connections: true },
    timeoutSeconds: 10,
  },
  { routeKey: 'claim', handler: 'claim', replies: true, access: { table: 'readWrite' }, timeoutSeconds: 10 },
  {
    routeKey: 'commit',
    handler: 'commit',
    replies: true,
    // A part too large to send inline is read from the sender's upload and copied to the group's MLS parts.
    // The previous epoch's GroupInfo, when it was uploaded, is read back to verify the commit against it.
    access: { ...fanOut, bucket: { read: [uploads, mls], write: [mls] } },
    timeoutSeconds: postingRouteSeconds,
  },
  { routeKey: 'roster', handler: 'roster', replies: true, access: { table: 'read' }, timeoutSeconds: 10 },
  {
    routeKey: 'refuse',
    handler: 'refuse',
    replies: true,
    access: fanOut,
    timeoutSeconds: postingRouteSeconds,
  },
  { routeKey: 'devices', handler: 'devices', replies: true, access: { table: 'read' }, timeoutSeconds: 10 },
  {
    routeKey: 'vouch',
    handler: 'vouch',
    replies: true,
    access: { table: 'readWrite', connections: true },
    timeoutSeconds: 10,
  },
]

/** The $connect REQUEST authorizer (lambdas/handlers/authorizer.ts); the token rides in ?token=. */
export const authorizer = {
  handler: 'authorizer',
  identitySource: 'route.request.querystring.token',
  timeoutSeconds: 10,
} as const
