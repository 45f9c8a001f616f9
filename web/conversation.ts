import type { ChatAttachment, ChatGroup, ChatMessage, EditEvent, HistoryPage } from '@huddle/client'
import { announce, avatar, clock, encryptedTag, h } from './dom.js'
import { describeError } from './errors.js'

/** One line of a conversation: a message, or a member joining or leaving. */
interface Line {
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

type LogEvent = HistoryPage['events'][number]

export interface ConversationHooks {
  /** The identity signed in. */
  me: string
  back(): void
  leave(group: ChatGroup): Promise<void>
}

const pageSize = 30

/**
 * One group's conversation: its latest page of history, earlier pages on request, and what arrives
 * while it is open. Lines are kept by seq, so a line read twice (handed over live and read again from the
 * log) shows once, in the group's order.
 */
export class ConversationView {
  readonly element: HTMLElement
  readonly #group: ChatGroup
  readonly #hooks: ConversationHooks
  readonly #lines = new Map<number, Line>()
  readonly #items = new Map<number, HTMLLIElement>()
  readonly #members = h('p', { class: 'members' })
  readonly #earlier = h('button', { type: 'button', class: 'earlier', hidden: true }, 'Load earlier messages')
  readonly #list = h('ol', { class: 'lines', 'aria-label': 'Messages', tabindex: '-1' })
  readonly #input = h('input', { id: 'message', name: 'message', autocomplete: 'off' })
  readonly #files = h('input', { id: 'files', name: 'files', type: 'file', multiple: true })
  readonly #replyText = h('p', { class: 'replying' })
  readonly #replyBar = h('div', { class: 'replying-bar', hidden: true })
  readonly #problem = h('p', { class: 'problem', role: 'alert' })
  #replyTo: Line | undefined
  /** Every line up to this seq is shown (or was never readable). */
  #newest = 0
  /** Where the next page of earlier history starts, while there is one. */
  #before: number | undefined
  /** History reads, one at a time and in order. */
  #reads: Promise<void> = Promise.resolve()

  constructor(group: ChatGroup, hooks: ConversationHooks) {
    this.#group = group
    this.#hooks = hooks
    const back = h('button', { type: 'button', class: 'back quiet', 'aria-label': 'Back to groups' }, '←')
    back.addEventListener('click', () => hooks.back())
    const leave = h('button', { type: 'button', class: 'quiet' }, 'Leave group')
    leave.addEventListener('click', () => hooks.leave(group).catch((e) => this.#say(describeError(e))))
    this.#earlier.addEventListener('click', () => this.#read(() => this.#loadEarlier()))
    const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel reply')
    cancel.addEventListener('click', () => this.#reply(undefined))
    this.#replyBar.append(this.#replyText, cancel)
    this.#input.placeholder = `Message ${group.name}`
    this.#input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.#replyTo) this.#reply(undefined)
    })
    const composer = h(
      'form',
      { class: 'composer' },
      this.#replyBar,
      h('label', { for: 'message', class: 'visually-hidden' }, `Message to ${group.name}`),
      h('div', { class: 'row' }, this.#input, h('button', { type: 'submit' }, 'Send')),
      h('label', { class: 'files' }, 'Attach files ', this.#files),
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
        avatar(group),
        h(
          'div',
          { class: 'title' },
          h('h2', { id: 'conversation-title' }, group.name),
          group.encrypted && encryptedTag(),
          this.#members,
        ),
        leave,
      ),
      this.#earlier,
      this.#list,
      composer,
    )
    this.#showMembers()
    this.#read(() => this.#loadLatest())
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
    this.#showMembers()
    this.#add([event])
    this.#advance(event.seq)
  }

  #read(step: () => Promise<void>): void {
    this.#reads = this.#reads.then(step).catch((error: unknown) => this.#say(describeError(error)))
  }

  async #loadLatest(): Promise<void> {
    const page = await this.#group.history({ limit: pageSize })
    this.#add(page.events)
    this.#before = page.next
    this.#earlier.hidden = page.next === undefined
    this.#newest = Math.max(this.#newest, page.head)
    this.#list.scrollTop = this.#list.scrollHeight
    if (page.head > 0) await this.#group.markRead(page.head)
  }

  async #readNewer(): Promise<void> {
    let after = this.#newest
    for (;;) {
      const page = await this.#group.history({ after, limit: 100 })
      this.#add(page.events)
      if (page.next === undefined || page.events.length === 0) {
        this.#newest = Math.max(this.#newest, page.head)
        return
      }
      after = page.next
    }
  }

  async #loadEarlier(): Promise<void> {
    if (this.#before === undefined) return
    const height = this.#list.scrollHeight
    const page = await this.#group.history({ before: this.#before, limit: pageSize })
    this.#add(page.events)
    this.#before = page.next
    // Keep the lines that were in view where they were.
    this.#list.scrollTop += this.#list.scrollHeight - height
    if (page.next === undefined) {
      this.#earlier.hidden = true
      this.#list.focus()
    }
  }

  /** Notes that `seq` is shown; a hole before it (the page opened after the SDK had handed it) is read. */
  #advance(seq: number): void {
    if (seq === this.#newest + 1) this.#newest = seq
    else if (seq > this.#newest) this.#read(() => this.#readNewer())
  }

  #add(events: LogEvent[]): void {
    for (const event of events) {
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
        this.#show(lineOf(event, (iss) => this.#name(iss)))
      }
    }
    // A reply read before the message it answers names it once that message is in.
    for (const line of this.#lines.values()) {
      if (line.rid && this.#items.get(line.seq)?.dataset.quote === 'missing') this.#show(line, true)
    }
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

  #render(line: Line): HTMLLIElement {
    const who = this.#name(line.iss)
    const time = h('time', { datetime: line.iat }, clock(line.iat))
    if (line.kind === 'notice') return h('li', { class: 'notice' }, `${line.text} · `, time)
    const mine = line.iss === this.#hooks.me
    const head = h(
      'div',
      { class: 'head' },
      h('p', { class: 'meta' }, h('span', { class: 'sender' }, who), ' ', time),
    )
    const item = h('li', { class: mine ? 'message mine' : 'message' }, head)
    if (line.rid) {
      const target = [...this.#lines.values()].find((l) => l.jti === line.rid)
      item.dataset.quote = target ? 'found' : 'missing'
      const quoted = target ? `${this.#name(target.iss, 'you')}: “${excerpt(target)}”` : 'an earlier message'
      item.append(h('p', { class: 'quote' }, `In reply to ${quoted}`))
    }
    // An unreadable message's files are sealed: their names and keys are in the part it cannot read.
    const files = line.deleted || line.unreadable ? [] : (line.files ?? [])
    if (files.length > 0)
      item.append(h('ul', { class: 'files' }, ...files.map((file) => this.#fileItem(file))))
    item.append(
      line.deleted
        ? h('p', { class: 'body deleted' }, 'Message deleted')
        : line.unreadable
          ? h('p', { class: 'body unreadable' }, `(${unreadableText})`)
          : h(
              'p',
              { class: 'body' },
              line.body ?? '',
              line.edited ? h('span', { class: 'edited' }, ' (edited)') : undefined,
            ),
    )
    if (!line.deleted && line.jti) {
      const reply = h(
        'button',
        { type: 'button', class: 'reply quiet', 'aria-label': `Reply to ${who}: ${excerpt(line)}` },
        'Reply',
      )
      reply.addEventListener('click', () => this.#reply(line))
      head.append(reply)
    }
    return item
  }

  /** A file of a message: its name and size, and for a received one a button that downloads, decrypts
   * and saves it. */
  #fileItem(file: ChatAttachment | { name: string; size: number }): HTMLLIElement {
    const named = `${file.name} (${sizeOf(file.size)}) `
    if (!('download' in file)) return h('li', {}, named)
    const save = h(
      'button',
      { type: 'button', class: 'quiet', 'aria-label': `Download ${file.name}` },
      'Download',
    )
    save.addEventListener('click', () => {
      file.download().then(
        (bytes) => {
          // A copy: Blob takes bytes backed by a plain ArrayBuffer.
          const url = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: file.mime }))
          const link = h('a', { href: url, download: file.name, hidden: true })
          document.body.append(link)
          link.click()
          link.remove()
          setTimeout(() => URL.revokeObjectURL(url), 60_000)
        },
        (error: unknown) => this.#say(`Could not download ${file.name}: ${describeError(error)}`),
      )
    })
    return h('li', {}, named, save)
  }

  #reply(line: Line | undefined): void {
    this.#replyTo = line
    this.#replyBar.hidden = line === undefined
    this.#replyText.textContent = line
      ? `Replying to ${this.#name(line.iss, 'yourself')}: “${excerpt(line)}”`
      : ''
    this.#input.focus()
  }

  async #send(): Promise<void> {
    const body = this.#input.value.trim()
    const chosen = Array.from(this.#files.files ?? [])
    if (body === '' && chosen.length === 0) return
    const rid = this.#replyTo?.jti
    const attachments = chosen.map((file) => ({
      name: file.name,
      mime: file.type || 'application/octet-stream',
      data: file,
    }))
    this.#input.value = ''
    this.#files.value = ''
    this.#reply(undefined)
    this.#say('')
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
      this.#advance(ack.seq)
    } catch (error) {
      if (this.#input.value === '') this.#input.value = body
      this.#say(`Not sent: ${describeError(error)}`)
    } finally {
      pending.remove()
    }
  }

  #showMembers(): void {
    const { members, memberCount } = this.#group
    const more = memberCount > members.length ? ` and ${memberCount - members.length} more` : ''
    this.#members.textContent = `${memberCount} member${memberCount === 1 ? '' : 's'}: ${members.join(', ')}${more}`
  }

  #name(iss: string, self = 'You'): string {
    return iss === this.#hooks.me ? self : iss
  }

  #say(text: string): void {
    this.#problem.textContent = text
  }
}

function lineOf(
  event: Exclude<LogEvent, { type: 'chat.edit' | 'chat.delete' }>,
  name: (iss: string) => string,
): Line {
  const { seq, iss, iat } = event
  if (event.type !== 'chat.message') return { seq, iss, iat, kind: 'notice', text: noticeOf(event, name) }
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
): string {
  const who = name(event.iss)
  const by = 'by' in event && event.by !== undefined ? ` by ${name(event.by)}` : ''
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
      return event.role === 'admin' ? `${who} became an admin${by}` : `${who} is no longer an admin${by}`
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
  }
}

function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** An edit whose new words this device has: the SDK decrypted it, or the group is plain. */
function readable(event: EditEvent): boolean {
  return !(event as { unreadable?: boolean }).unreadable
}

/** What a message of an encrypted group says when this device cannot decrypt it. */
const unreadableText = 'encrypted message this device cannot read'

function excerpt(line: Line): string {
  if (line.deleted) return 'a deleted message'
  if (line.unreadable) return 'an encrypted message'
  const body = line.body ?? ''
  return body.length > 60 ? `${body.slice(0, 57)}…` : body
}
