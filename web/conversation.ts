import type { ChatGroup, ChatMessage, ReactionSummary, Receipt } from '@huddle/client'
import { ConversationReactions } from './conversation-reactions.js'
import { announce, ask, avatar, encryptedTag, h } from './dom.js'
import { describeError } from './errors.js'
import { ChosenFiles } from './files.js'
import { GroupMenu, type MemberList } from './group-menu.js'
import { type Activity, previewOf } from './groups.js'
import { HistoryPages } from './history-pages.js'
import { deliveryOf, excerpt, type Line, type LogEvent, lineOf, readable, unreadableText } from './lines.js'
import { type LineContext, regroupLines, renderLine, replaceChips, showDelivery } from './message-item.js'
import type { MemberPresence, PresenceOf } from './presence.js'
import { TypingLine } from './typing.js'

export interface ConversationHooks {
  /** The identity signed in. */
  me: string
  back(): void
  leave(group: ChatGroup): Promise<void>
  /** This identity deleted the group. */
  deleted(group: ChatGroup): void
  /** The group's members with whether each joined or is invited. */
  members: MemberList
  /** The last presence known of a member. */
  presenceOf: PresenceOf
  /** This identity's own presence, as a read of the group's told it (hidden when it has neither field). */
  ownPresence(presence: MemberPresence): void
  /** This identity sent a message: the group list moves the group up. */
  sent(activity: Activity): void
}

/**
 * One group's conversation: its latest page of history, earlier pages on request, and what arrives
 * while it is open. Lines are kept by seq, so a line read twice (handed over live and read again from the
 * log) shows once, in the group's order.
 */
export class ConversationView {
  readonly element: HTMLElement
  readonly #group: ChatGroup
  readonly #hooks: ConversationHooks
  readonly #menu: GroupMenu
  readonly #lines = new Map<number, Line>()
  readonly #items = new Map<number, HTMLLIElement>()
  readonly #list = h('ol', { class: 'lines', 'aria-label': 'Messages', tabindex: '-1' })
  readonly #input = h('input', { id: 'message', name: 'message', autocomplete: 'off' })
  readonly #files = new ChosenFiles()
  readonly #replyText = h('p', { class: 'replying' })
  readonly #replyBar = h('div', { class: 'replying-bar', hidden: true })
  readonly #problem = h('p', { class: 'problem', role: 'alert' })
  readonly #title = h('span', {})
  readonly #typing = new TypingLine()
  readonly #reactions: ConversationReactions
  readonly #history: HistoryPages
  #avatar: HTMLElement
  /** The other members' delivered and read positions, by identity. */
  readonly #positions = new Map<string, Receipt>()
  /** The message being answered, or being edited (then the composer's words replace its body). */
  #replyTo: Line | undefined
  #editing: Line | undefined

  constructor(group: ChatGroup, hooks: ConversationHooks) {
    this.#group = group
    this.#hooks = hooks
    this.#title.textContent = group.name
    this.#avatar = avatar(group)
    this.#menu = new GroupMenu(group, {
      me: hooks.me,
      members: hooks.members,
      presenceOf: hooks.presenceOf,
      leave: () => hooks.leave(group),
      deleted: () => hooks.deleted(group),
      say: (text) => this.#say(text),
      acted: () => this.#history.readNewer(),
    })
    this.#reactions = new ConversationReactions(group, {
      me: hooks.me,
      redraw: (seq) => {
        const [line, item] = [this.#lines.get(seq), this.#items.get(seq)]
        if (line && item) replaceChips(item, line, this.#context())
      },
      say: (text) => this.#say(text),
    })
    this.#history = new HistoryPages(group, this.#list, {
      add: (events) => this.#add(events),
      say: (text) => this.#say(text),
    })
    const back = h('button', { type: 'button', class: 'back quiet', 'aria-label': 'Back to groups' }, '←')
    back.addEventListener('click', () => hooks.back())
    const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel')
    cancel.addEventListener('click', () => this.#reply(undefined))
    this.#replyBar.append(this.#replyText, cancel)
    this.#input.placeholder = `Message ${group.name}`
    this.#input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && (this.#replyTo || this.#editing)) this.#reply(undefined)
    })
    // The SDK sends at most one typing request every few seconds, however often it is called.
    this.#input.addEventListener('input', () => {
      if (!this.#editing && this.#input.value !== '') this.#group.typing().catch(() => {})
    })
    const composer = h(
      'form',
      { class: 'composer' },
      this.#replyBar,
      this.#files.list,
      h('label', { for: 'message', class: 'visually-hidden' }, `Message to ${group.name}`),
      h(
        'div',
        { class: 'row' },
        this.#files.button,
        this.#files.input,
        this.#input,
        h('button', { type: 'submit' }, 'Send'),
      ),
      this.#problem,
    )
    composer.addEventListener('submit', (event) => {
      event.preventDefault()
      void this.#send()
    })
    this.element = h(
      'section',
      { class: 'conversation', 'aria-labelledby': 'conversation-title' },
      h(
        'header',
        { class: 'conversation-head' },
        back,
        this.#avatar,
        h(
          'div',
          { class: 'title' },
          h(
            'h2',
            { id: 'conversation-title' },
            this.#title,
            group.encrypted && ' ',
            group.encrypted && encryptedTag(),
          ),
          this.#menu.summary,
          this.#menu.presenceLine,
        ),
        this.#menu.element,
      ),
      this.#history.earlier,
      this.#list,
      this.#typing.element,
      composer,
    )
    this.#typing.show(group.typingNow())
    this.#files.accept(this.element, this.#input)
    this.readPresence()
    this.#group.receipts().then(
      (positions) => {
        for (const position of positions) this.receipt(position)
      },
      () => {}, // The ticks stay at "sent" until the next receipt arrives.
    )
  }

  get gid(): string {
    return this.#group.gid
  }

  focus(): void {
    this.#input.focus()
  }

  /** A message the SDK handed over: each once, in the group's order, including those caught up on. */
  received(message: ChatMessage): void {
    this.logged(message)
    if (message.iss !== this.#hooks.me)
      announce(`${message.iss}: ${message.unreadable ? unreadableText : message.body}`)
    if (document.visibilityState === 'visible') this.#group.markRead(message.seq).catch(() => {})
  }

  /** Any event of this group the SDK handed over: a message, a join or leave, an edit or a delete. */
  logged(event: LogEvent): void {
    if (event.type !== 'chat.message' && event.type !== 'chat.edit' && event.type !== 'chat.delete')
      this.#menu.changed()
    // A member who just joined: whether it is online is asked (no presence event says it).
    if (event.type === 'chat.join' && event.iss !== this.#hooks.me) this.readPresence()
    this.#add([event])
    this.#history.advance(event.seq)
  }

  /** Another member's delivered or read position moved: the ticks on this identity's messages follow. */
  receipt(receipt: Receipt): void {
    if (receipt.iss === this.#hooks.me) return
    this.#positions.set(receipt.iss, receipt)
    for (const [seq, line] of this.#lines) {
      if (line.iss === this.#hooks.me && line.kind === 'message') this.#tick(seq)
    }
  }

  /** Who types in this group now changed. */
  typingChanged(typing: string[]): void {
    this.#typing.show(typing)
  }

  /** A member's presence changed (or was read): the dots and "online" or "last seen …" follow. */
  presenceChanged(): void {
    this.#menu.presenceChanged()
  }

  /** Asks the server who of the group is online (on opening, and after a reconnect, which forgets it). */
  readPresence(): void {
    this.#group.presence().then(
      (members) => {
        this.presenceChanged()
        const own = members.find((member) => member.iss === this.#hooks.me)
        if (own) this.#hooks.ownPresence(own)
      },
      () => {}, // Presence is left unknown (no dots) rather than said wrong.
    )
  }

  /** Another member reacted to message `seq` (or took a reaction back): its chips follow. */
  reacted(seq: number, reactions: ReactionSummary[]): void {
    this.#reactions.set(seq, reactions)
  }

  #add(events: LogEvent[]): void {
    for (const event of events) {
      if (this.#reactions.noted(event)) continue
      // A rename shows in the heading, handed over or read after one's own (the SDK renamed the group object).
      if (event.type === 'chat.update') this.#retitle()
      if (event.type === 'chat.edit' || event.type === 'chat.delete') {
        const line = [...this.#lines.values()].find((l) => l.kind === 'message' && l.jti === event.jti)
        if (!line) continue
        if (event.type === 'chat.delete') Object.assign(line, { deleted: true, body: '' })
        // An encrypted edit this device cannot read (history gives edits back as ciphertext) keeps the
        // words the line has.
        else if (!readable(event)) line.edited = true
        else Object.assign(line, { edited: true, body: event.body ?? line.body })
        this.#show(line, true)
      } else {
        const line = lineOf(event, (iss) => this.#name(iss))
        if (line) this.#show(line)
      }
    }
    // A reply read before the message it answers names it once that message is in.
    for (const line of this.#lines.values()) {
      if (line.rid && this.#items.get(line.seq)?.dataset.quote === 'missing') this.#show(line, true)
    }
    this.#regroup()
  }

  #show(line: Line, again = false): void {
    const shown = this.#lines.get(line.seq)
    // A line read twice shows once; but a message that arrives decrypted replaces the copy history gave
    // (which this device cannot read), never the other way round.
    const clearer = shown?.unreadable === true && line.kind === 'message' && !line.unreadable
    if (shown && !again && !clearer) return
    this.#lines.set(line.seq, line)
    const item = this.#render(line)
    const old = this.#items.get(line.seq)
    this.#items.set(line.seq, item)
    if (old) {
      old.replaceWith(item)
      return
    }
    const atBottom = this.#list.scrollHeight - this.#list.scrollTop - this.#list.clientHeight < 40
    const after = [...this.#items.keys()].filter((seq) => seq > line.seq).sort((a, b) => a - b)[0]
    const next = after === undefined ? undefined : this.#items.get(after)
    if (next?.isConnected) this.#list.insertBefore(item, next)
    else this.#list.append(item)
    if (!next && (atBottom || line.iss === this.#hooks.me)) this.#list.scrollTop = this.#list.scrollHeight
  }

  #regroup(): void {
    regroupLines(this.#items, this.#lines)
  }

  #tick(seq: number): void {
    const item = this.#items.get(seq)
    if (item) showDelivery(item, deliveryOf(seq, this.#positions.values()))
  }

  #render(line: Line): HTMLLIElement {
    const item = renderLine(line, this.#context())
    if (line.iss === this.#hooks.me) queueMicrotask(() => this.#tick(line.seq))
    return item
  }

  #context(): LineContext {
    return {
      me: this.#hooks.me,
      name: (iss, self) => this.#name(iss, self),
      find: (jti) => [...this.#lines.values()].find((l) => l.jti === jti),
      say: (text) => this.#say(text),
      reply: (l) => this.#reply(l),
      edit: (l) => this.#edit(l),
      remove: (l) => void this.#delete(l),
      reactions: (l) => this.#reactions.of(l.seq),
      // In an encrypted group the SDK seals the emoji with the group's keys.
      react: (l, emoji, on) => void this.#reactions.react(l.seq, emoji, on),
    }
  }

  #retitle(): void {
    this.#title.textContent = this.#group.name
    const fresh = avatar(this.#group)
    this.#avatar.replaceWith(fresh)
    this.#avatar = fresh
  }

  #reply(line: Line | undefined): void {
    if (this.#editing && !line) this.#input.value = ''
    this.#editing = undefined
    this.#replyTo = line
    this.#replyBar.hidden = line === undefined
    this.#replyText.textContent = line
      ? `Replying to ${this.#name(line.iss, 'yourself')}: “${excerpt(line)}”`
      : ''
    this.#input.focus()
  }

  #edit(line: Line): void {
    this.#reply(undefined)
    this.#editing = line
    this.#replyBar.hidden = false
    this.#replyText.textContent = `Editing your message: “${excerpt(line)}”`
    this.#input.value = line.body ?? ''
    this.#input.focus()
  }

  async #delete(line: Line): Promise<void> {
    if (!line.jti) return
    if (!(await ask(`Delete your message “${excerpt(line)}” for everyone?`, 'Delete'))) return
    try {
      await this.#group.delete(line.jti)
      Object.assign(line, { deleted: true, body: '' })
      this.#show(line, true)
      this.#regroup()
      announce('Message deleted')
    } catch (error) {
      this.#say(`Not deleted: ${describeError(error)}`)
    }
  }

  async #saveEdit(line: Line, body: string): Promise<void> {
    this.#reply(undefined)
    this.#input.value = ''
    if (!line.jti || body === line.body) return
    try {
      await this.#group.edit(line.jti, body)
      Object.assign(line, { edited: true, body })
      this.#show(line, true)
      this.#regroup()
    } catch (error) {
      this.#edit(line)
      this.#input.value = body
      this.#say(`Not edited: ${describeError(error)}`)
    }
  }

  async #send(): Promise<void> {
    const body = this.#input.value.trim()
    this.#say('')
    if (this.#editing) {
      if (body !== '') await this.#saveEdit(this.#editing, body)
      return
    }
    const chosen = this.#files.take()
    if (body === '' && chosen.length === 0) return
    const rid = this.#replyTo?.jti
    const attachments = chosen.map((file) => ({
      name: file.name,
      mime: file.type || 'application/octet-stream',
      data: file,
    }))
    this.#input.value = ''
    this.#reply(undefined)
    const pending = h(
      'li',
      { class: 'message mine pending' },
      h('p', { class: 'body' }, body),
      h('p', { class: 'meta' }, 'Sending…'),
    )
    this.#list.append(pending)
    this.#list.scrollTop = this.#list.scrollHeight
    try {
      const ack = await this.#group.message(body, {
        ...(rid !== undefined && { rid }),
        ...(attachments.length > 0 && { attachments }),
      })
      this.#show({
        seq: ack.seq,
        kind: 'message',
        iss: this.#hooks.me,
        iat: ack.iat,
        jti: ack.jti,
        body,
        ...(rid && { rid }),
        ...(chosen.length > 0 && { files: chosen.map(({ name, size }) => ({ name, size })) }),
      })
      this.#regroup()
      this.#history.advance(ack.seq)
      this.#hooks.sent(
        previewOf(
          { iss: this.#hooks.me, body, iat: ack.iat, deleted: false, attachments: chosen },
          this.#hooks.me,
        ),
      )
    } catch (error) {
      if (this.#input.value === '') this.#input.value = body
      if (chosen.length > 0) this.#files.add(chosen)
      this.#say(`Not sent: ${describeError(error)}`)
    } finally {
      pending.remove()
    }
  }

  #name(iss: string, self = 'You'): string {
    return iss === this.#hooks.me ? self : iss
  }

  #say(text: string): void {
    this.#problem.textContent = text
  }
}
