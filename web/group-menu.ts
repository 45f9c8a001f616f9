import type { ChatClient, ChatGroup, MemberView } from '@huddle/client'
import { identityPattern, imageMimeTypes, limits } from '@huddle/client/protocol'
import { announce, ask, h } from './dom.js'
import { describeError } from './errors.js'
import { nameWithPresence, type PresenceOf, presenceWords } from './presence.js'

/** Reads a group's members, each with whether it joined or is still invited. */
export type MemberList = (gid: string) => Promise<MemberView[]>

/** A group's members as the server lists them (`members`, a page at a time): the SDK's group keeps names only. */
export function memberListOf(client: Pick<ChatClient, 'request'>): MemberList {
  return async (gid) => {
    const all: MemberView[] = []
    let cursor: string | undefined
    do {
      const page = await client.request('members', { gid, ...(cursor !== undefined && { cursor }) })
      all.push(...page.members)
      cursor = page.next
    } while (cursor !== undefined)
    return all
  }
}

export interface GroupMenuHooks {
  me: string
  members: MemberList
  leave(): Promise<void>
  /** The last presence known of a member (the SDK's `chat.presenceOf`). */
  presenceOf: PresenceOf
  /** This identity deleted the group: the conversation closes. */
  deleted(): void
  say(problem: string): void
  /** An admin's action landed: its event is in the group's log (the SDK hands the actor none). */
  acted(): void
}

/**
 * The conversation's group menu: who is in the group ("2 members, 1 invited"), leaving (confirmed), and for
 * an admin the group's settings, each member's role, removal and ban, the banned and their unban, and
 * deleting the group (the destructive ones confirmed).
 */
export class GroupMenu {
  /** The line under the group's name: its joined members and its invitees, told apart. */
  readonly summary = h('p', { class: 'members' })
  /** With one other member: "online" or "last seen …" (hidden when it hides it, or nothing is known). */
  readonly presenceLine = h('p', { class: 'presence-line', hidden: true })
  readonly element: HTMLDetailsElement
  readonly #panel = h('div', { class: 'menu-panel' })
  readonly #group: ChatGroup
  readonly #hooks: GroupMenuHooks
  #members: MemberView[] = []
  /** Who is banned, as an admin reads it (empty for a member, who may not). */
  #banned: string[] = []

  constructor(group: ChatGroup, hooks: GroupMenuHooks) {
    this.#group = group
    this.#hooks = hooks
    this.element = h(
      'details',
      { class: 'menu' },
      h(
        'summary',
        { 'aria-label': `Group menu of ${group.name}` },
        h('span', { 'aria-hidden': 'true' }, '⋮'),
      ),
      this.#panel,
    )
    this.element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.element.open) {
        this.element.open = false
        this.element.querySelector('summary')?.focus()
      }
    })
    this.#members = group.members.map((iss) => ({ iss, status: 'joined', role: 'member' }))
    this.#render()
    this.changed()
  }

  /** The group changed (a join, a leave, a role, a ban, a rename): its members (and bans) are read again. */
  changed(): void {
    this.#render()
    this.#hooks.members(this.#group.gid).then(
      (members) => {
        this.#members = members
        this.#render()
      },
      () => {}, // The summary keeps what the group object knows.
    )
    if (!this.#isAdmin()) return
    this.#group.banned().then(
      (banned) => {
        this.#banned = banned
        this.#render()
      },
      () => {}, // The list of bans keeps what it had.
    )
  }

  /** A member's presence changed: the dots and the presence line follow (the menu keeps its focus). */
  presenceChanged(): void {
    this.#renderSummary()
    for (const shown of Array.from(this.#panel.querySelectorAll<HTMLElement>('[data-member]')))
      shown.replaceWith(this.#name(shown.dataset.member ?? ''))
  }

  #isAdmin(): boolean {
    return this.#group.admins.includes(this.#hooks.me)
  }

  #render(): void {
    this.#renderSummary()
    const admin = this.#isAdmin()
    const leave = this.#button('Leave group', () => this.#leave())
    this.#panel.replaceChildren(
      ...(admin ? [...this.#adminItems(), ...this.#bannedItems()] : [this.#memberItems()]),
      h('div', { class: 'menu-items' }, leave, admin && this.#button('Delete group…', () => this.#delete())),
    )
  }

  /** "2 members, 1 invited: alice, bob · invited: carol", each member with a presence dot. */
  #renderSummary(): void {
    const joined = this.#members.filter((m) => m.status === 'joined')
    const invited = this.#members.filter((m) => m.status === 'invited')
    const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`
    const words = [count(joined.length, 'member', 'members')]
    if (invited.length > 0) words.push(`${invited.length} invited`)
    const names = joined.flatMap((m, i) => [...(i > 0 ? [', '] : []), this.#name(m.iss)])
    this.summary.replaceChildren(
      `${words.join(', ')}: `,
      ...names,
      invited.length > 0 ? ` · invited: ${invited.map((m) => m.iss).join(', ')}` : '',
    )
    const others = joined.filter((m) => m.iss !== this.#hooks.me)
    const seen = others.length === 1 ? presenceWords(this.#hooks.presenceOf(others[0]?.iss ?? '')) : undefined
    this.presenceLine.textContent = seen ?? ''
    this.presenceLine.hidden = seen === undefined
  }

  /** A member's name with its presence dot (none for this identity), marked so a presence change redraws it. */
  #name(iss: string): HTMLElement {
    const name = nameWithPresence(iss, iss === this.#hooks.me ? undefined : this.#hooks.presenceOf(iss))
    name.dataset.member = iss
    return name
  }

  /** For a member: the other members, each with a presence dot and "online" or "last seen …". */
  #memberItems(): HTMLElement {
    const others = this.#members.filter((m) => m.iss !== this.#hooks.me)
    return h(
      'ul',
      { class: 'people', 'aria-label': 'Members' },
      ...others.map((member) =>
        h('li', {}, h('span', {}, this.#name(member.iss), member.status === 'invited' ? ' (invited)' : '')),
      ),
    )
  }

  #adminItems(): HTMLElement[] {
    const group = this.#group
    const policy = group.invites === 'admins' ? 'members' : 'admins'
    const items = h(
      'div',
      { class: 'menu-items' },
      this.#button('Rename group…', async () => {
        const name = await ask(`Rename ${group.name}`, 'Rename', { label: 'New name', value: group.name })
        if (typeof name === 'string' && name !== '' && name !== group.name) await group.update({ name })
      }),
      this.#avatarButton(),
      this.#button(policy === 'admins' ? 'Let only admins invite' : 'Let every member invite', () =>
        group.update({ invites: policy }),
      ),
      this.#button('Add members…', async () => {
        const names = await ask('Add members', 'Invite', { label: 'Names, separated by commas' })
        if (typeof names !== 'string' || names === '') return
        const members = names
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean)
        const invalid = members.find((member) => !identityPattern.test(member))
        if (invalid)
          throw new Error(`“${invalid}” is not a valid name (letters, digits and _ . : @ -, no spaces)`)
        await group.invite(members)
        announce(`Invited ${members.join(', ')}`)
      }),
    )
    const others = this.#members.filter((m) => m.iss !== this.#hooks.me)
    const people = h(
      'ul',
      { class: 'people', 'aria-label': 'Roles and removals' },
      ...others.map((member) => {
        const isAdmin = group.admins.includes(member.iss)
        const joined = member.status === 'joined'
        return h(
          'li',
          {},
          h('span', {}, this.#name(member.iss), joined ? (isAdmin ? ' (admin)' : '') : ' (invited)'),
          joined &&
            this.#button(
              isAdmin ? 'Demote' : 'Make admin',
              () => (isAdmin ? group.demote(member.iss) : group.promote(member.iss)),
              `${isAdmin ? 'Demote' : 'Make admin'} ${member.iss}`,
            ),
          this.#button(
            'Remove',
            async () => {
              if (await ask(`Remove ${member.iss} from ${group.name}?`, 'Remove'))
                await group.remove(member.iss)
            },
            `Remove ${member.iss}`,
          ),
          this.#button(
            'Ban',
            async () => {
              const question = `Ban ${member.iss} from ${group.name}? They are removed and cannot be invited back until unbanned.`
              if (await ask(question, 'Ban')) await group.ban(member.iss)
            },
            `Ban ${member.iss}`,
          ),
        )
      }),
    )
    return [items, people]
  }

  /** The banned, each with Unban (confirmed); nothing when none is. */
  #bannedItems(): HTMLElement[] {
    if (this.#banned.length === 0) return []
    const group = this.#group
    const banned = h(
      'ul',
      { class: 'people', 'aria-label': 'Banned' },
      ...this.#banned.map((iss) =>
        h(
          'li',
          {},
          h('span', {}, iss, ' (banned)'),
          this.#button(
            'Unban',
            async () => {
              const question = `Unban ${iss}? They can be invited to ${group.name} again.`
              if (await ask(question, 'Unban')) await group.unban(iss)
            },
            `Unban ${iss}`,
          ),
        ),
      ),
    )
    return [banned]
  }

  #avatarButton(): HTMLElement {
    const file = h('input', { type: 'file', accept: imageMimeTypes.join(','), hidden: true, tabindex: '-1' })
    file.addEventListener('change', () => {
      const picked = file.files?.[0]
      file.value = ''
      if (!picked) return
      if (!(imageMimeTypes as readonly string[]).includes(picked.type) || picked.size > limits.avatarBytes) {
        this.#hooks.say('Avatar not changed: pick a PNG, JPEG, GIF or WebP image of at most 5 MiB.')
        return
      }
      this.#group.update({ image: { data: picked, mime: picked.type } }).then(
        () => this.#done(),
        (error: unknown) => this.#hooks.say(`Avatar not changed: ${describeError(error)}.`),
      )
    })
    const button = this.#button('Change avatar…', async () => file.click())
    return h('span', {}, button, file)
  }

  #button(text: string, act: () => Promise<unknown>, label?: string): HTMLButtonElement {
    const button = h(
      'button',
      { type: 'button', class: 'quiet', ...(label && { 'aria-label': label }) },
      text,
    )
    button.addEventListener('click', () => {
      this.#hooks.say('')
      act().then(
        () => this.#done(),
        (error: unknown) => this.#hooks.say(`${text.replace('…', '')}: ${describeError(error)}.`),
      )
    })
    return button
  }

  /** An action landed: the members are read again, and the conversation reads its event. */
  #done(): void {
    if (this.#group.status === 'left') return
    this.changed()
    this.#hooks.acted()
  }

  async #delete(): Promise<void> {
    const question = `Delete ${this.#group.name} for everyone? Its messages, files and avatar are deleted and every member loses the group. This cannot be undone.`
    if (!(await ask(question, 'Delete group'))) return
    await this.#group.deleteGroup()
    this.#hooks.deleted()
  }

  async #leave(): Promise<void> {
    const question = `Leave ${this.#group.name}? You will stop receiving its messages until someone invites you again.`
    if (!(await ask(question, 'Leave'))) return
    await this.#hooks.leave()
  }
}
