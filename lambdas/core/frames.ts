import { type Action, identityPattern, imageMimeTypes, limits, type Requests } from '@huddle/client/protocol'
import { en } from 'zod/locales'
import * as z from 'zod/mini'
import { ChatError } from './errors.js'
import { messageIdPattern } from './file-keys.js'

// zod/mini keeps every handler bundle small (cold starts); English messages are opted into.
z.config(en())

// The pieces below are functions, not schemas, so that a function builds only what its action's schema uses.

const identity = () =>
  z.string().check(z.regex(identityPattern, 'must be 1–128 characters of A-Z a-z 0-9 _ . : @ -, not . or ..'))
const messageId = () =>
  z.string().check(z.regex(messageIdPattern, 'must be 1–64 characters of A-Z a-z 0-9 _ . : -, not . or ..'))

/** A place in a group's order. */
const seq = () => z.int().check(z.nonnegative())
const groupName = () => z.string().check(z.trim(), z.minLength(1), z.maxLength(128))
/** An object key as the server writes them: no `%`, backslash or other character a path could be bent with
 * (which keys are accepted is the core's to check, exactly). */
const objectKey = () =>
  z
    .string()
    .check(z.regex(/^[A-Za-z0-9_.:@/-]{1,512}$/, 'must be 1–512 characters of A-Z a-z 0-9 _ . : @ / -'))
const avatarKey = () => z.object({ key: objectKey() })
/** Bounded text: names and types are the sender's to choose, within a size that fits a frame. */
const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max))
const fileSize = () => z.int().check(z.nonnegative())
const digest = () =>
  z.string().check(z.regex(/^sha256:[A-Za-z0-9+/]{43}=$/, 'must be sha256: and 32 bytes of base64'))
const attachment = () =>
  z.object({
    key: objectKey(),
    name: text(255),
    mime: text(127),
    size: fileSize(),
    digest: digest(),
    secret: text(1024),
  })
/** An encrypted group's attachment: name, type and secret travel inside the message's cipher, and sending
 * them is refused rather than dropped. */
const sealedAttachment = () => z.strictObject({ key: objectKey(), size: fileSize(), digest: digest() })
/** Standard base64 of MLS bytes, at most `max` characters. */
const base64 = (max: number) =>
  z
    .string()
    .check(
      z.minLength(4),
      z.maxLength(max),
      z.regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'must be standard base64'),
    )
const cipher = () => base64(limits.mlsInlineChars)
/** MLS bytes inline, or an upload of the caller's. */
const mlsBytes = () => z.union([z.strictObject({ data: cipher() }), z.strictObject({ key: objectKey() })])
/** One emoji (or a short sequence of them): no spaces or control characters, within `limits.emojiBytes`. */
const emoji = () =>
  z.string().check(
    z.regex(/^[^\s\p{Cc}]+$/u, 'must be an emoji, with no spaces or control characters'),
    z.refine(
      (e) => new TextEncoder().encode(e).length <= limits.emojiBytes,
      `must be at most ${limits.emojiBytes} bytes`,
    ),
  )
const device = () =>
  z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 _ -'))

/**
 * How each action's schema is built; unknown fields (an `iss` or `from`, say) are dropped, never trusted. A
 * function handles one action, so it builds only that schema, on first use (`frameSchema`): building all of
 * them cost every cold start several milliseconds.
 */
const frameSchemaBuilders = {
  avatar: () => z.object({ mime: z.enum(imageMimeTypes), size: z.int().check(z.positive()) }),
  invite: () =>
    z.object({
      gid: identity(),
      name: groupName(),
      members: z.array(identity()).check(z.minLength(1)),
      avatar: z.optional(avatarKey()),
      encrypted: z.optional(z.literal(true)),
    }),
  join: () => z.object({ gid: identity() }),
  leave: () => z.object({ gid: identity() }),
  remove: () => z.object({ gid: identity(), iss: identity() }),
  update: () =>
    z
      .object({
        gid: identity(),
        name: z.optional(groupName()),
        avatar: z.optional(avatarKey()),
        invites: z.optional(z.enum(['members', 'admins'])),
      })
      .check(
        z.refine(
          (f) => f.name !== undefined || f.avatar !== undefined || f.invites !== undefined,
          'must give name, avatar or invites',
        ),
      ),
  role: () => z.object({ gid: identity(), iss: identity(), role: z.enum(['admin', 'member']) }),
  ban: () => z.object({ gid: identity(), iss: identity() }),
  unban: () => z.object({ gid: identity(), iss: identity() }),
  bans: () => z.object({ gid: identity(), cursor: z.optional(identity()) }),
  deleteGroup: () => z.object({ gid: identity() }),
  attachment: () => z.object({ gid: identity(), size: z.int().check(z.positive()) }),
  download: () => z.object({ gid: identity(), key: objectKey() }),
  message: () =>
    z
      .object({
        gid: identity(),
        body: z.string(),
        jti: z.optional(messageId()),
        rid: z.optional(messageId()),
        attachments: z.optional(
          z.union([
            z.array(attachment()).check(z.maxLength(100)),
            z.array(sealedAttachment()).check(z.maxLength(100)),
          ]),
        ),
        cipher: z.optional(cipher()),
      })
      .check(
        z.refine(
          (f) => f.body.length > 0 || (f.attachments?.length ?? 0) > 0 || f.cipher !== undefined,
          'body must not be empty unless the message carries attachments',
        ),
      ),
  edit: () =>
    z
      .object({ gid: identity(), jti: messageId(), body: z.string(), cipher: z.optional(cipher()) })
      .check(z.refine((f) => f.body.length > 0 || f.cipher !== undefined, 'body must not be empty')),
  delete: () => z.object({ gid: identity(), jti: messageId() }),
  react: () =>
    z
      .object({
        gid: identity(),
        target: seq().check(z.positive()),
        emoji: z.optional(emoji()),
        remove: z.optional(z.boolean()),
        cipher: z.optional(base64(limits.reactionCipherChars)),
      })
      .check(
        z.refine(
          (f) => (f.emoji === undefined) !== (f.cipher === undefined),
          'send an emoji, or in an encrypted group a cipher, not both',
        ),
      ),
  history: () =>
    z
      .object({
        gid: identity(),
        before: z.optional(seq().check(z.positive())),
        after: z.optional(seq()),
        limit: z.optional(z.int().check(z.positive(), z.lte(limits.historyPage))),
      })
      .check(
        z.refine(
          (f) => f.before === undefined || f.after === undefined,
          'must not give both before and after',
        ),
      ),
  receipt: () =>
    z
      .object({ gid: identity(), delivered: z.optional(seq()), read: z.optional(seq()) })
      .check(
        z.refine((f) => f.delivered !== undefined || f.read !== undefined, 'must give delivered or read'),
      ),
  receipts: () => z.object({ gid: identity(), since: z.optional(seq()), cursor: z.optional(identity()) }),
  sync: () => z.object({ cursor: z.optional(identity()) }),
  groups: () => z.object({ cursor: z.optional(identity()) }),
  members: () => z.object({ gid: identity(), cursor: z.optional(identity()) }),
  block: () => z.object({ iss: identity() }),
  unblock: () => z.object({ iss: identity() }),
  blocks: () => z.object({ cursor: z.optional(identity()) }),
  keys: () =>
    z.object({
      device: device(),
      packages: z.array(base64(limits.mlsInlineChars)).check(z.maxLength(limits.keyPackagesPerRequest)),
    }),
  claim: () =>
    z.object({
      gid: identity(),
      iss: identity(),
      have: z.optional(z.array(device()).check(z.maxLength(limits.keyPackagesPerDevice))),
    }),
  commit: () =>
    z.object({ gid: identity(), commit: mlsBytes(), welcome: z.optional(mlsBytes()), info: mlsBytes() }),
  roster: () => z.object({ gid: identity() }),
  devices: () => z.object({ iss: identity() }),
  vouch: () =>
    z.object({
      list: z.object({
        iss: identity(),
        version: z.int().check(z.positive()),
        devices: z
          .array(z.object({ device: device(), key: base64(64) }))
          .check(z.minLength(1), z.maxLength(limits.devicesPerIdentity)),
        prev: z.optional(base64(64)),
        signer: device(),
        signature: base64(128),
      }),
    }),
  refuse: () => z.object({ gid: identity(), epoch: z.int().check(z.positive()), reason: text(200) }),
  typing: () => z.object({ gid: identity() }),
  presence: () => z.object({ gid: identity() }),
  hidePresence: () => z.object({ hidden: z.boolean() }),
} satisfies Record<Action, () => z.ZodMiniType>

type FrameSchemas = { [A in Action]: ReturnType<(typeof frameSchemaBuilders)[A]> }
const builtSchemas: Partial<FrameSchemas> = {}

/** The schema of an action's frames, built the first time it is asked for. */
function frameSchema<A extends Action>(action: A): FrameSchemas[A] {
  builtSchemas[action] ??= frameSchemaBuilders[action]() as FrameSchemas[A]
  return builtSchemas[action] as FrameSchemas[A]
}

/** A schema's output must be a request of the protocol, so the two cannot drift apart. */
type Conforms<T extends { [A in Action]: Requests[A] }> = T
export type Frames = Conforms<{ [A in Action]: z.infer<FrameSchemas[A]> }>

/** The reply id a frame asked for, when it is a usable one. */
export function requestId(frame: unknown): string | undefined {
  if (typeof frame !== 'object' || frame === null || !('id' in frame)) return undefined
  const { id } = frame
  return typeof id === 'string' && id.length <= 64 ? id : undefined
}

/** Parses a frame's JSON text; a frame that is not a JSON object is a bad request. */
export function parseFrameText(text: string | undefined): Record<string, unknown> {
  let frame: unknown
  try {
    frame = JSON.parse(text ?? '')
  } catch {
    throw new ChatError('BAD_REQUEST', 'frame is not JSON')
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ChatError('BAD_REQUEST', 'frame must be a JSON object')
  }
  return frame as Record<string, unknown>
}

/** Validates a parsed frame against its action's schema. */
export function validateFrame<A extends Action>(action: A, frame: Record<string, unknown>): Frames[A] {
  if ('id' in frame && requestId(frame) === undefined) {
    throw new ChatError('BAD_REQUEST', 'id must be a string of at most 64 characters')
  }
  const parsed = frameSchema(action).safeParse(frame)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.join('.') || 'frame'
    throw new ChatError('BAD_REQUEST', `${action}: ${where} ${issue?.message ?? 'is invalid'}`)
  }
  return parsed.data as Frames[A]
}
