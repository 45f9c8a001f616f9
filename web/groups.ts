import type { ChatGroup } from '@huddle/client'
import { avatar, encryptedTag, h } from './dom.js'

/** The groups this identity joined, each a button that opens it, with its unread count. */
export function renderGroups(
  list: HTMLElement,
  groups: Iterable<ChatGroup>,
  unread: ReadonlyMap<string, number>,
  current: string | undefined,
  open: (group: ChatGroup) => void,
): void {
  list.replaceChildren(
    ...[...groups].map((group) => {
      const count = unread.get(group.gid) ?? 0
      const button = h(
        'button',
        {
          type: 'button',
          class: 'group',
          'data-gid': group.gid,
          'aria-current': group.gid === current && 'true',
        },
        decorative(avatar(group)),
        h('span', { class: 'name' }, group.name),
        group.encrypted && encryptedTag(),
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
          h('p', { class: 'members' }, `${group.memberCount} members: ${group.members.join(', ')}`),
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
