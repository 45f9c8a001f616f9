import type { ReactionSummary } from '@huddle/client'
import { h } from './dom.js'

/** The emoji the picker offers, each with the words a screen reader says for it. */
export const commonEmoji: [emoji: string, name: string][] = [
  ['👍', 'thumbs up'],
  ['❤️', 'heart'],
  ['😂', 'laughing'],
  ['😮', 'surprised'],
  ['😢', 'sad'],
  ['🙏', 'thanks'],
]

/** Names in a sentence: "alice", "alice and bob", "alice, bob and carol". */
export function namesOf(names: string[]): string {
  if (names.length <= 1) return names.join('')
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
}

/**
 * A message's reactions as chips ("👍 2", named "👍 by alice and bob"): pressing one's own takes it back,
 * another's adds one's own. Hidden when there are none.
 */
export function reactionChips(
  reactions: ReactionSummary[],
  name: (iss: string) => string,
  toggle?: (emoji: string, on: boolean) => void,
): HTMLUListElement {
  const chips = h('ul', { class: 'reactions', 'aria-label': 'Reactions', hidden: reactions.length === 0 })
  for (const { emoji, count, mine, by } of reactions) {
    // The name is the words shown, the count aside: "👍 by alice and bob" (who says how many).
    const who = ` by ${namesOf(by.map(name))}`
    const words = [
      h('span', {}, emoji),
      h('span', { 'aria-hidden': 'true' }, ` ${count}`),
      h('span', { class: 'visually-hidden' }, who),
    ]
    const chip = toggle
      ? h('button', { type: 'button', 'aria-pressed': String(mine), title: `${emoji}${who}` }, ...words)
      : h('span', { title: `${emoji}${who}` }, ...words)
    chip.dataset.emoji = emoji
    if (toggle) chip.addEventListener('click', () => toggle(emoji, !mine))
    chips.append(h('li', { class: mine ? 'mine' : '' }, chip))
  }
  return chips
}

/** The small picker a message's React button opens: one button per common emoji; Escape closes it. */
export function reactionPicker(pick: (emoji: string) => void, close: () => void): HTMLElement {
  const picker = h('div', { class: 'picker', role: 'group', 'aria-label': 'Pick a reaction' })
  for (const [emoji, name] of commonEmoji) {
    const button = h('button', { type: 'button', class: 'quiet', 'aria-label': `React with ${name}` }, emoji)
    button.addEventListener('click', () => pick(emoji))
    picker.append(button)
  }
  picker.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation()
      close()
    }
  })
  return picker
}

/** The reactions after this identity adds (`on`) or takes back its `emoji`, as the SDK folds them. */
export function withOwnReaction(
  reactions: ReactionSummary[],
  emoji: string,
  me: string,
  on: boolean,
): ReactionSummary[] {
  const others = reactions.find((r) => r.emoji === emoji)?.by.filter((iss) => iss !== me) ?? []
  const by = on ? [...others, me] : others
  const rest = reactions.filter((r) => r.emoji !== emoji)
  if (by.length === 0) return rest
  const summary = { emoji, count: by.length, mine: on, by }
  return reactions.some((r) => r.emoji === emoji)
    ? reactions.map((r) => (r.emoji === emoji ? summary : r))
    : [...rest, summary]
}
