import type { ReactionSummary } from '@huddle/client'
import { clock, h } from './dom.js'
import { fileItem } from './files.js'
import { continues, type Delivery, dayOf, excerpt, type Line, unreadableText } from './lines.js'
import { reactionChips, reactionPicker } from './reactions.js'

/** What drawing a line needs from its conversation: names, the line a reply quotes, and its actions. */
export interface LineContext {
  me: string
  name(iss: string, self?: string): string
  find(jti: string): Line | undefined
  say(problem: string): void
  reply(line: Line): void
  edit(line: Line): void
  remove(line: Line): void
  /** The line's reactions, and how to add or take back one's own; no `react` where reactions are refused. */
  reactions(line: Line): ReactionSummary[]
  react?: (line: Line, emoji: string, on: boolean) => void
}

/**
 * One line of a conversation as a list item: a notice, or a message with its sender, time, quote, files,
 * body, reactions, ticks (one's own) and actions (Reply, React; Edit and Delete on one's own). Its date,
 * above it, shows only on the day's first line (the conversation decides).
 */
export function renderLine(line: Line, context: LineContext): HTMLLIElement {
  const who = context.name(line.iss)
  const time = h('time', { datetime: line.iat, title: new Date(line.iat).toLocaleString() }, clock(line.iat))
  const day = h('p', { class: 'day', role: 'separator' }, dayOf(line.iat))
  if (line.kind === 'notice') return h('li', { class: 'notice' }, day, h('p', {}, `${line.text} · `, time))
  const mine = line.iss === context.me
  const head = h(
    'div',
    { class: 'head' },
    h('p', { class: 'meta' }, h('span', { class: 'sender' }, who), ' ', time),
  )
  const item = h('li', { class: mine ? 'message mine' : 'message' }, day, head)
  if (line.rid) {
    const target = context.find(line.rid)
    item.dataset.quote = target ? 'found' : 'missing'
    const quoted = target ? `${context.name(target.iss, 'you')}: “${excerpt(target)}”` : 'an earlier message'
    item.append(h('p', { class: 'quote' }, `In reply to ${quoted}`))
  }
  // An unreadable message's files are sealed: their names and keys are in the part it cannot read.
  const files = line.deleted || line.unreadable ? [] : (line.files ?? [])
  if (files.length > 0)
    item.append(h('ul', { class: 'files' }, ...files.map((file) => fileItem(file, context.say))))
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
  if (!line.deleted) item.append(chipsOf(line, context))
  if (mine) item.append(h('p', { class: 'delivery' }, h('span', { class: 'ticks', role: 'img' })))
  if (!line.deleted && line.jti) {
    const actions = h('div', { class: 'actions' })
    actions.append(action('Reply', `Reply to ${who}: ${excerpt(line)}`, () => context.reply(line)))
    const react = context.react
    if (react) {
      const open = action('React', `React to ${who}: ${excerpt(line)}`, () => {
        const shown = item.querySelector('.picker')
        if (shown) return close()
        const picker = reactionPicker((emoji) => {
          close()
          react(line, emoji, true)
        }, close)
        open.setAttribute('aria-expanded', 'true')
        item.append(picker)
        picker.querySelector('button')?.focus()
      })
      const close = () => {
        item.querySelector('.picker')?.remove()
        open.setAttribute('aria-expanded', 'false')
        open.focus()
      }
      open.setAttribute('aria-expanded', 'false')
      actions.append(open)
    }
    if (mine && !line.unreadable) {
      actions.append(
        action('Edit', `Edit your message: ${excerpt(line)}`, () => context.edit(line)),
        action('Delete', `Delete your message: ${excerpt(line)}`, () => context.remove(line)),
      )
    }
    item.append(actions)
    // On a phone (no hover) a tap on the message shows its actions, and hides another's.
    item.addEventListener('click', (event) => {
      if ((event.target as Element).closest('button, a, input')) return
      for (const other of Array.from(item.parentElement?.querySelectorAll('.chosen') ?? []))
        if (other !== item) other.classList.remove('chosen')
      item.classList.toggle('chosen')
    })
  }
  return item
}

/** The line's reaction chips, pressed to add or take back one's own (where reactions are allowed). */
export function chipsOf(line: Line, context: LineContext): HTMLUListElement {
  const react = context.react
  return reactionChips(
    context.reactions(line),
    (iss) => context.name(iss, 'you'),
    react && ((emoji, on) => react(line, emoji, on)),
  )
}

/** Draws `line`'s chips again in `item`, keeping focus on the chip that had it. */
export function replaceChips(item: HTMLLIElement, line: Line, context: LineContext): void {
  const old = item.querySelector<HTMLElement>(':scope > .reactions')
  if (!old) return
  const focused = old.contains(document.activeElement) ? (document.activeElement as HTMLElement) : null
  const fresh = chipsOf(line, context)
  old.replaceWith(fresh)
  const emoji = focused?.dataset.emoji
  if (emoji !== undefined)
    Array.from(fresh.querySelectorAll<HTMLElement>('button'))
      .find((b) => b.dataset.emoji === emoji)
      ?.focus()
}

/** Marks the first line of each day (its date shows above it) and messages that continue a group. */
export function regroupLines(
  items: ReadonlyMap<number, HTMLLIElement>,
  lines: ReadonlyMap<number, Line>,
): void {
  let previous: Line | undefined
  for (const seq of [...items.keys()].sort((a, b) => a - b)) {
    const line = lines.get(seq)
    const item = items.get(seq)
    if (!line || !item) continue
    const day = dayOf(line.iat)
    const separator = item.querySelector<HTMLElement>(':scope > .day')
    if (separator) {
      separator.textContent = day
      separator.hidden = previous !== undefined && dayOf(previous.iat) === day
    }
    item.classList.toggle('continued', continues(previous, line))
    previous = line
  }
}

const deliveryText: Record<Delivery, string> = { sent: 'Sent', delivered: 'Delivered', read: 'Read' }

/** Shows one's own message's ticks: ✓ sent, ✓✓ delivered, blue ✓✓ read (in words for screen readers). */
export function showDelivery(item: HTMLLIElement, state: Delivery): void {
  const ticks = item.querySelector<HTMLElement>('.ticks')
  if (!ticks) return
  ticks.dataset.state = state
  ticks.textContent = state === 'sent' ? '✓' : '✓✓'
  ticks.setAttribute('aria-label', deliveryText[state])
  ticks.title = deliveryText[state]
}

function action(text: string, label: string, act: () => void): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'quiet', 'aria-label': label }, text)
  button.addEventListener('click', act)
  return button
}
