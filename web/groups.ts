import type { ChatGroup, DeleteEvent, EditEvent } from '@huddle/client'
import { avatar, encryptedTag, h } from './dom.js'
import { readable } from './lines.js'

/** When a group last moved, and what its last message says, for the group list. */
export interface Activity {
  iat: string
  preview: string
  /** The previewed message, so that its edit or delete changes the preview. */
  jti?: string
}

/** A message as the group list previews it: who said it and its first words, never more than a line. */
export function previewOf(
  message: {
    iss: string
    jti?: string
    body: string
    iat: string
    deleted?: unknown
    unreadable?: boolean
    attachments: readonly unknown[]
  },
  me: string,
): Activity {
  const who = message.iss === me ? 'You' : message.iss
  const said = message.deleted
    ? 'Message deleted'
    : message.unreadable
      ? '(encrypted)'
      : message.body || (message.attachments.length > 0 ? `${message.attachments.length} file(s)` : '')
  const preview = `${who}: ${said.replace(/\s+/g, ' ').slice(0, 80)}`
  return { iat: message.iat, preview, ...(message.jti !== undefined && { jti: message.jti }) }
}

/** The group object a conversation holds (it keeps it while open), refreshed in place from the server's listing. */
export function refreshed(known: ChatGroup, { name, members, memberCount, image }: ChatGroup): ChatGroup {
  return Object.assign(known, { name, members, memberCount, image })
}

/** Changes a group's preview when `event` edits or deletes the message it shows; true when it did. */
export function revisePreview(
  shown: Activity | undefined,
  event: EditEvent | DeleteEvent,
  me: string,
): boolean {
  if (!shown || shown.jti !== event.jti) return false
  const who = event.iss === me ? 'You' : event.iss
  const words =
    event.type === 'chat.delete'
      ? 'Message deleted'
      : readable(event)
        ? (event.body ?? '').replace(/\s+/g, ' ').slice(0, 80)
        : '(encrypted)'
  shown.preview = `${who}: ${words}`
  return true
}

/** A group's latest activity, read from the end of its history (decrypted on this device when it can). */
export async function latestActivity(group: ChatGroup, me: string): Promise<Activity | undefined> {
  const page = await group.history({ limit: 10 })
  // An edit or a delete is no new activity, as in the live list.
  const newest = page.events.find((event) => event.type !== 'chat.edit' && event.type !== 'chat.delete')
  if (!newest) return undefined
  const message = page.events.find((event) => event.type === 'chat.message')
  return message && 'attachments' in message
    ? { ...previewOf(message, me), iat: newest.iat }
    : { iat: newest.iat, preview: '' }
}

/** Most recent activity first; groups with none after, by name: the same order in every session. */
function byActivity(activity: ReadonlyMap<string, Activity>) {
  return (a: ChatGroup, b: ChatGroup) => {
    const [x, y] = [activity.get(a.gid)?.iat ?? '', activity.get(b.gid)?.iat ?? '']
    if (x !== y) return x < y ? 1 : -1
    return a.name.localeCompare(b.name) || (a.gid < b.gid ? -1 : 1)
  }
}

/** The groups this identity joined, most recently active first, each a button that opens it, with its
 * last message and unread count. */
export function renderGroups(
  list: HTMLElement,
  groups: Iterable<ChatGroup>,
  unread: ReadonlyMap<string, number>,
  activity: ReadonlyMap<string, Activity>,
  current: string | undefined,
  open: (group: ChatGroup) => void,
): void {
  list.replaceChildren(
    ...[...groups].sort(byActivity(activity)).map((group) => {
      const count = unread.get(group.gid) ?? 0
      const preview = activity.get(group.gid)?.preview
      const previewId = `preview-${group.gid}`
      const button = h(
        'button',
        {
          type: 'button',
          class: 'group',
          'data-gid': group.gid,
          'aria-current': group.gid === current && 'true',
          'aria-describedby': preview ? previewId : undefined,
        },
        decorative(avatar(group)),
        h(
          'span',
          { class: 'text' },
          h('span', { class: 'name' }, group.name, group.encrypted && ' ', group.encrypted && encryptedTag()),
          // Its name says the group (and its unread count) briefly; the last message is its description.
          preview && h('span', { class: 'preview', id: previewId, 'aria-hidden': 'true' }, preview),
        ),
        count > 0 &&
          h('span', { class: 'badge' }, String(count), h('span', { class: 'visually-hidden' }, ' unread')),
      )
      button.addEventListener('click', () => open(group))
      return h('li', {}, button)
    }),
  )
}

/** Pending invites, each with its avatar, members and Accept and Decline. */
export function renderInvites(
  list: HTMLElement,
  invites: Iterable<ChatGroup>,
  answer: (group: ChatGroup, accept: boolean) => void,
): void {
  list.replaceChildren(
    ...[...invites].map((group) => {
      const accept = h('button', { type: 'button', 'aria-label': `Accept invite to ${group.name}` }, 'Accept')
      const decline = h(
        'button',
        { type: 'button', class: 'quiet', 'aria-label': `Decline invite to ${group.name}` },
        'Decline',
      )
      accept.addEventListener('click', () => answer(group, true))
      decline.addEventListener('click', () => answer(group, false))
      return h(
        'li',
        { class: 'invite', 'aria-label': `Invite to ${group.name}` },
        avatar(group),
        h(
          'div',
          { class: 'title' },
          h('strong', {}, group.name),
          group.encrypted && ' ',
          group.encrypted && encryptedTag(),
          h(
            'p',
            { class: 'members' },
            `Invited by ${group.invitedBy ?? 'a member'} · ${group.members.join(', ')}`,
          ),
        ),
        h('div', { class: 'actions' }, accept, decline),
      )
    }),
  )
}

/** Inside a button the group's name already says it all: its picture need not be read out too. */
function decorative(element: HTMLElement): HTMLElement {
  if (element instanceof HTMLImageElement) element.alt = ''
  return element
}
