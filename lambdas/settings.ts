import { limits } from '@huddle/client/protocol'
import { fanOutWorker, type RouteAccess } from './routes.js'

/** A function as its settings see it: the authorizer, or a route's or worker's access. */
export type FunctionAccess = RouteAccess | 'authorizer'

/** A raw value read as a setting's value, or why it cannot be one (phrased to follow the setting's name). */
export type Parsed<T> = { value: T } | { problem: string }

/** Which functions receive a setting, said for operators and decided from what each function may do. */
interface Receivers {
  describe: string
  includes(fn: FunctionAccess): boolean
}

/** The groups of functions settings go to: each setting names one. */
export const receivers = {
  authorizer: { describe: 'the authorizer', includes: (fn) => fn === 'authorizer' },
  // A rate token and an event's expiry are writes: only functions that write the table enforce limits.
  tableWriters: {
    describe: 'functions that write the table',
    includes: (fn) => fn !== 'authorizer' && fn.table === 'readWrite',
  },
  fanOutCallers: {
    describe: 'functions that invoke the fan-out worker',
    includes: (fn) => fn !== 'authorizer' && (fn.invoke ?? []).includes(fanOutWorker.handler),
  },
  tableReaders: {
    describe: 'functions that read the table',
    includes: (fn) => fn !== 'authorizer' && fn.table !== undefined,
  },
  connectionPosters: {
    describe: 'functions that post to connections',
    includes: (fn) => fn !== 'authorizer' && fn.connections === true,
  },
} as const satisfies Record<string, Receivers>

/** One setting: where functions read it, its value when unset, who receives it, and its meaning. */
export interface SettingRow<T> {
  /** The environment variable functions read it from (cdk.json's key is the row's name). */
  variable: string
  /** Its value when neither cdk.json nor the environment sets it; a setting without one must be set. */
  fallback?: T
  receivers: keyof typeof receivers
  /** Reads a value from the environment or `-c` (strings) or cdk.json (typed). */
  parse(raw: unknown): Parsed<T>
  doc: string
}

type Row = SettingRow<number> | SettingRow<string>

function numberOf(raw: unknown): number {
  // Number(true) is 1 and Number([30]) is 30: only numbers and strings count as numbers here.
  return typeof raw === 'number' || typeof raw === 'string' ? Number(raw) : Number.NaN
}

function positiveInteger(raw: unknown): Parsed<number> {
  const value = numberOf(raw)
  return Number.isInteger(value) && value > 0
    ? { value }
    : { problem: `must be a positive integer, got ${JSON.stringify(raw)}` }
}

/** A rate may be a fraction. */
function positiveNumber(raw: unknown): Parsed<number> {
  const value = numberOf(raw)
  return Number.isFinite(value) && value > 0
    ? { value }
    : { problem: `must be a positive number, got ${JSON.stringify(raw)}` }
}

function text(raw: unknown): Parsed<string> {
  return typeof raw === 'string' ? { value: raw.trim() } : { problem: 'must be a string' }
}

/** Claim names as issuers write them, namespaced ones included (`https://example.com/huddle_id`). */
const claimNamePattern = /^[A-Za-z0-9_.:/~-]{1,256}$/
/** Registered claims that are the same for many users, or differ per token: none of them names a user. */
const notIdentityClaims = ['iss', 'aud', 'exp', 'nbf', 'iat', 'jti']

function claimName(raw: unknown): Parsed<string> {
  const parsed = text(raw)
  if ('problem' in parsed) return parsed
  const claim = parsed.value
  if (!claimNamePattern.test(claim)) {
    return {
      problem: `must be a claim name (letters, digits and _ . : / ~ -), got ${JSON.stringify(claim)}`,
    }
  }
  if (notIdentityClaims.includes(claim)) {
    return { problem: `cannot be ${claim}: it does not name a user (use sub, oid or a custom claim)` }
  }
  return parsed
}

/**
 * The most connections a fan-out slice may carry, so that the asynchronous invocation holding it stays
 * within Lambda's 1 MB payload for the Event invocation type (read strictly, as 1,000,000 bytes):
 * - the event's data: up to `limits.postBytes` (128,000), and escaped once more inside the slice's JSON,
 *   where each quote or backslash it holds doubles, so at most twice that: 256,000;
 * - the slice's id, event type and keys, with headroom: 4,000;
 * - each target, `{"iss":"…","connectionId":"…"},`: 29 bytes of JSON around an identity of at most 128
 *   ASCII characters and a connection id (API Gateway's are 16 characters; 64 allowed): 221, rounded up
 *   to 224.
 * (1,000,000 − 256,000 − 4,000) / 224 = 3,303.
 */
export const maxFanOutSliceSize = Math.floor((1_000_000 - 2 * limits.postBytes - 4_000) / 224)

/** 1234567 as 1,234,567, without Intl: its first use costs a function's cold start about 20 ms. */
function withCommas(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** A slice rides in one asynchronous invocation, whose payload Lambda caps. */
/** SQS delays a message by at most 15 minutes. */
function delaySeconds(raw: unknown): Parsed<number> {
  const parsed = positiveInteger(raw)
  if ('problem' in parsed || parsed.value <= 900) return parsed
  return { problem: `must be at most 900 (SQS delays a message by 15 minutes at most), got ${parsed.value}` }
}

function sliceSize(raw: unknown): Parsed<number> {
  const parsed = positiveInteger(raw)
  if ('problem' in parsed || parsed.value <= maxFanOutSliceSize) return parsed
  return {
    problem:
      `must be at most ${maxFanOutSliceSize}, so that a slice fits Lambda's 1 MB asynchronous invocation ` +
      `payload, got ${parsed.value}`,
  }
}

/** The limits the chat core enforces: each a row, read by the functions that write the table. */
export const chatSettings = {
  messageRetentionDays: {
    variable: 'MESSAGE_RETENTION_DAYS',
    fallback: 365,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: "Days a group's events (messages, joins, leaves, edits, deletes) are kept: each expires that many days after it happened, and DynamoDB's TTL then deletes it; attached files expire a day after their messages (a lifecycle rule). A change applies to events written afterwards.",
  },
  maxGroupSize: {
    variable: 'MAX_GROUP_SIZE',
    fallback: 10_000,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'Members (invited or joined) a group may have; an invite past it is `TOO_LARGE`.',
  },
  groupsPerHour: {
    variable: 'GROUPS_PER_HOUR',
    fallback: 20,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'Groups one identity may create in an hour (a fixed window in the table); past it, `invite` of a new `gid` is `RATE_LIMITED` with `retryAfter`.',
  },
  pendingInvitesPerIdentity: {
    variable: 'PENDING_INVITES_PER_IDENTITY',
    fallback: 100,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'Invites one identity may have pending; an invite finds how many through the membership index (a COUNT query per invitee) and leaves out one that has this many, so nobody can be buried in invites.',
  },
  attachmentBytes: {
    variable: 'ATTACHMENT_BYTES',
    fallback: 25 * 1024 * 1024,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'Bytes one attached file may have as uploaded (encrypted), 25 MiB by default; an `attachment` request or a message over it is `TOO_LARGE`.',
  },
  attachmentsPerMessage: {
    variable: 'ATTACHMENTS_PER_MESSAGE',
    fallback: 10,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'Files one message may carry; more is `TOO_LARGE`.',
  },
  messagesPerSecond: {
    variable: 'MESSAGES_PER_SECOND',
    fallback: 5,
    receivers: 'tableWriters',
    parse: positiveNumber,
    doc: '`message`, `edit` and `delete` requests one identity may make a second, over all its connections (a positive number; fractions allowed).',
  },
  messageBurst: {
    variable: 'MESSAGE_BURST',
    fallback: 20,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'How many of them an identity that was quiet may make at once (a positive integer); past the bucket, `RATE_LIMITED` with `retryAfter`.',
  },
  writesPerSecond: {
    variable: 'WRITES_PER_SECOND',
    fallback: 20,
    receivers: 'tableWriters',
    parse: positiveNumber,
    doc: "Other writes one identity may make a second: `invite`, `join`, `leave`, `receipt`, `avatar`, `attachment`, `block`, `unblock` and the admins' actions.",
  },
  writeBurst: {
    variable: 'WRITE_BURST',
    fallback: 60,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'How many of those at once.',
  },
  typingIntervalSeconds: {
    variable: 'TYPING_INTERVAL_SECONDS',
    fallback: 3,
    receivers: 'tableWriters',
    parse: positiveNumber,
    doc: "How often one identity's `typing` in one group is shared with its members: one per window (a token bucket of one in the table); a `typing` inside the window is answered `sent: false` with `retryAfter`. Members show it for twice the window (`expiresIn`), so a steady typist's indicator does not flicker.",
  },
  typingMaxMembers: {
    variable: 'TYPING_MAX_MEMBERS',
    fallback: 100,
    receivers: 'tableWriters',
    parse: positiveInteger,
    doc: 'Joined members a group may have for `typing` to be shared; in a larger group it is answered `sent: false` and posts nothing (each typing event costs one post per connection of every member).',
  },
  presenceGraceSeconds: {
    variable: 'PRESENCE_GRACE_SECONDS',
    fallback: 20,
    receivers: 'tableReaders',
    parse: delaySeconds,
    doc: "How long an identity whose last connection closed still counts as online: a reconnect within it (a network change, a reload) is not a departure, and its members are told it went offline only after it (at most 900, SQS's longest delay).",
  },
  presenceMaxMembers: {
    variable: 'PRESENCE_MAX_MEMBERS',
    fallback: 50,
    receivers: 'tableReaders',
    parse: positiveInteger,
    doc: 'Joined members a group may have for presence to be shared in it: an identity coming online or going offline is posted to the members of its groups up to this size (each change costs one post per connection of each of them), and `presence` of a larger group answers `shared: false`.',
  },
  fanOutSliceSize: {
    variable: 'FANOUT_SLICE_SIZE',
    fallback: 1000,
    receivers: 'fanOutCallers',
    parse: sliceSize,
    doc:
      'Connections per fan-out slice. A function that stores an event posts to the first slice of its ' +
      "recipients' connections itself and hands each further slice to the fan-out worker as an asynchronous " +
      `invocation, all in parallel. At most ${withCommas(maxFanOutSliceSize)}, so that a slice (the event data, escaped ` +
      "again: up to 256,000 bytes, plus up to 224 bytes per connection) fits Lambda's 1 MB asynchronous payload.",
  },
  fanOutConcurrency: {
    variable: 'FANOUT_CONCURRENCY',
    fallback: 32,
    receivers: 'connectionPosters',
    parse: positiveInteger,
    doc:
      'Posts to connections one function keeps in flight at once, over as many kept-open sockets: its own ' +
      "slice of a fan-out, or a worker's. More finishes a large group's slice sooner, at more memory and sockets.",
  },
  fanOutPostsPerSecond: {
    variable: 'FANOUT_POSTS_PER_SECOND',
    fallback: 5000,
    receivers: 'connectionPosters',
    parse: positiveInteger,
    doc:
      'Posts a second the fan-out workers make, all instances together: a budget in the table that each worker ' +
      "reserves slots from, 20 ms' worth at a time. Half the account's API Gateway rate (10,000 a second, which " +
      "clients' frames and every other API share), so that the functions' own first slices, small groups' " +
      'events among them, are never paced behind a broadcast. A throttled post on a worker is waited out.',
  },
} as const satisfies Record<string, SettingRow<number>>

/** How the authorizer checks tokens: the issuer's keys, its name, the audience and the claim naming users. */
export const authorizerSettings = {
  jwksUrl: {
    variable: 'JWKS_URL',
    receivers: 'authorizer',
    parse: text,
    doc: "HTTPS URL of the issuer's JSON Web Key Set (the local stack serves its own over http).",
  },
  jwtIssuer: {
    variable: 'JWT_ISSUER',
    receivers: 'authorizer',
    parse: text,
    doc: 'Exact `iss` claim tokens must carry.',
  },
  jwtAudience: {
    variable: 'JWT_AUDIENCE',
    receivers: 'authorizer',
    parse: text,
    doc: 'Exact `aud` claim tokens must carry.',
  },
  identityClaim: {
    variable: 'JWT_IDENTITY_CLAIM',
    fallback: 'sub',
    receivers: 'authorizer',
    parse: claimName,
    doc: "The claim whose value is the user's identity; may be namespaced, e.g. `https://example.com/huddle_id`; not `iss`, `aud`, `exp`, `nbf`, `iat` or `jti`.",
  },
} as const satisfies Record<string, SettingRow<string>>

/** Every setting a function may be deployed with, by its cdk.json key. */
export const settings = { ...authorizerSettings, ...chatSettings } as const satisfies Record<string, Row>

/** Rows of settings, by name. */
export type SettingRows = Record<string, Row>
/** The values a set of rows describes. */
export type SettingValues<R extends SettingRows> = {
  -readonly [K in keyof R]: R[K] extends SettingRow<infer T> ? T : never
}
/** The limits the chat core enforces, typed from the table. */
export type ChatSettings = SettingValues<typeof chatSettings>
/** Every setting's value. */
export type Settings = SettingValues<typeof settings>

/** The chat core's limits as deployed when nothing sets them. */
export const defaultChatSettings: ChatSettings = Object.fromEntries(
  Object.entries(chatSettings).map(([name, row]) => [name, row.fallback]),
) as ChatSettings

function isUnset(raw: unknown): boolean {
  return raw === undefined || raw === null || raw === ''
}

/**
 * Reads each row's raw value (`raw(name, row)`): unset gives its fallback, an invalid value a problem
 * (`<label> <why>`), and a setting without fallback left unset a problem from `missing`.
 */
export function readSettings<R extends SettingRows>(
  rows: R,
  raw: (name: string, row: Row) => unknown,
  label: (name: string, row: Row) => string,
  missing: (name: string, row: Row) => string,
): { values: SettingValues<R>; problems: string[] } {
  const problems: string[] = []
  const values: Record<string, unknown> = {}
  for (const [name, row] of Object.entries(rows)) {
    const value = raw(name, row)
    if (isUnset(value)) {
      if (row.fallback === undefined) problems.push(missing(name, row))
      values[name] = row.fallback
      continue
    }
    const parsed = row.parse(value)
    if ('problem' in parsed) problems.push(`${label(name, row)} ${parsed.problem}`)
    else values[name] = parsed.value
  }
  return { values: values as SettingValues<R>, problems }
}

/** The settings a function receives, as its environment variables: what the CDK stack and the local gateway set. */
export function settingsEnvironment(fn: FunctionAccess, values: Settings): Record<string, string> {
  return Object.fromEntries(
    Object.entries(settings)
      .filter(([, row]) => receivers[row.receivers].includes(fn))
      .map(([name, row]) => [row.variable, String(values[name as keyof Settings])]),
  )
}

/** Whether a function receives the setting read from `variable` (false for a variable no setting has). */
export function receivesVariable(fn: FunctionAccess, variable: string): boolean {
  return Object.values(settings).some(
    (row) => row.variable === variable && receivers[row.receivers].includes(fn),
  )
}

/** The environment variables settings are read from. */
export const settingVariables: ReadonlySet<string> = new Set(
  Object.values(settings).map((row) => row.variable),
)
