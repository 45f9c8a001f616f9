import type { ChatAttachment, EditEvent, HistoryPage, Receipt } from '@huddle/client'

export type LogEvent = HistoryPage['events'][number]

/** One line of a conversation: a message, or a member joining or leaving. */
export interface Line {
  seq: number
  /** A message, or a line saying what happened to the group (a join, a leave, an admin's change). */
  kind: 'message' | 'notice'
  iss: string
  iat: string
  /** A notice's words. */
  text?: string
  jti?: string
  body?: string
  rid?: string
  /** A message's files: received ones are downloaded (and decrypted) on request; one's own are named. */
  files?: (ChatAttachment | { name: string; size: number })[]
  edited?: boolean
  deleted?: boolean
  /** A message of an encrypted group this device cannot decrypt: its body is empty. */
  unreadable?: boolean
}

/**
 * A log event as a line of the conversation (edits and deletes change lines, so are not lines); undefined
 * for an event this view does not show as a line of its own.
 */
export function lineOf(
  event: Exclude<LogEvent, { type: 'chat.edit' | 'chat.delete' }>,
  name: (iss: string) => string,
): Line | undefined {
  const { seq, iss, iat } = event
  if (event.type !== 'chat.message') {
    const text = noticeOf(event, name)
    return text === undefined ? undefined : { seq, iss, iat, kind: 'notice', text }
  }
  return {
    seq,
    iss,
    iat,
    kind: 'message',
    jti: event.jti,
    body: event.body,
    ...(event.rid && { rid: event.rid }),
    ...('attachments' in event && event.attachments.length > 0 && { files: event.attachments }),
    ...(event.edited && { edited: true }),
    ...(event.deleted && { deleted: true }),
    ...(event.unreadable && !event.deleted && { unreadable: true }),
  }
}

/** What a join, leave or admin's change says, in words. */
function noticeOf(
  event: Exclude<LogEvent, { type: 'chat.message' | 'chat.edit' | 'chat.delete' }>,
  name: (iss: string) => string,
): string | undefined {
  const who = name(event.iss)
  const byWhom = 'by' in event && event.by !== undefined ? name(event.by) : undefined
  const by = byWhom === undefined ? '' : ` by ${byWhom === 'You' ? 'you' : byWhom}`
  switch (event.type) {
    case 'chat.join':
      return `${who} joined`
    case 'chat.leave':
      return by ? `${who} was removed${by}` : `${who} left`
    case 'chat.ban':
      return `${who} was banned${by}`
    case 'chat.unban':
      return `${who} was unbanned${by}`
    case 'chat.role':
      return event.role === 'admin'
        ? `${who} became an admin${by}`
        : `${who} ${who === 'You' ? 'are' : 'is'} no longer an admin${by}`
    case 'chat.update': {
      const changes = [
        ...(event.name !== undefined ? [`renamed the group “${event.name}”`] : []),
        ...(event.image ? ['changed the picture'] : []),
        ...(event.invites
          ? [`let ${event.invites === 'admins' ? 'only admins' : 'every member'} invite`]
          : []),
      ]
      return `${who} ${changes.join(', ')}`
    }
    default:
      return undefined
  }
}

/** A file's size in words a person reads at a glance. */
export function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** An edit whose new words this device has: the SDK decrypted it, or the group is plain. */
export function readable(event: EditEvent): boolean {
  return !(event as { unreadable?: boolean }).unreadable
}

/** What a message of an encrypted group says when this device cannot decrypt it. */
export const unreadableText = 'encrypted message this device cannot read'

/** A line's first words, for a quote or a button's label. */
export function excerpt(line: Line): string {
  if (line.deleted) return 'a deleted message'
  if (line.unreadable) return 'an encrypted message'
  const body = line.body ?? ''
  return body.length > 60 ? `${body.slice(0, 57)}…` : body
}

/** Messages from one sender this close together show as one group: the name and time once. */
const groupedWithinMs = 5 * 60_000

/** The day a line belongs to, in the reader's time zone: "Today", "Yesterday" or a date. */
export function dayOf(iso: string, now = new Date()): string {
  const day = new Date(iso)
  const midnight = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime()
  const days = Math.round((midnight(now) - midnight(day)) / 86_400_000)
  if (days === 0) return 'Today'
  if (days === 1) return 'Yesterday'
  return day.toLocaleDateString([], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(day.getFullYear() !== now.getFullYear() && { year: 'numeric' }),
  })
}

/** Whether `line` continues `previous`'s group: the same sender's message, the same day, minutes apart. */
export function continues(previous: Line | undefined, line: Line): boolean {
  if (previous?.kind !== 'message' || line.kind !== 'message') return false
  if (previous.iss !== line.iss || dayOf(previous.iat) !== dayOf(line.iat)) return false
  return Date.parse(line.iat) - Date.parse(previous.iat) < groupedWithinMs
}

/** What became of one's own message: sent, delivered to every other member, or read by every one. */
export type Delivery = 'sent' | 'delivered' | 'read'

/** A message's delivery from the other members' positions (none yet: sent). */
export function deliveryOf(seq: number, positions: Iterable<Pick<Receipt, 'delivered' | 'read'>>): Delivery {
  const all = [...positions]
  if (all.length === 0) return 'sent'
  if (all.every((p) => p.read >= seq)) return 'read'
  return all.every((p) => p.delivered >= seq || p.read >= seq) ? 'delivered' : 'sent'
}
