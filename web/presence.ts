import { clock, h } from './dom.js'
import { describeError } from './errors.js'
import { dayOf } from './lines.js'

/** A member's presence as the SDK last knew it: online, or offline since `lastSeen`; neither when hidden. */
export interface MemberPresence {
  iss: string
  online?: boolean
  lastSeen?: string
}

/** The last presence known of a member, or undefined. */
export type PresenceOf = (iss: string) => MemberPresence | undefined

/** "online", "last seen today at 15:02", "last seen Monday, 7 December at 09:10"; undefined when hidden or unknown. */
export function presenceWords(presence: MemberPresence | undefined, now = new Date()): string | undefined {
  if (presence?.online) return 'online'
  if (!presence?.lastSeen) return undefined
  const day = dayOf(presence.lastSeen, now)
  const when = day === 'Today' || day === 'Yesterday' ? day.toLowerCase() : day
  return `last seen ${when} at ${clock(presence.lastSeen)}`
}

/**
 * A member's name with a dot before it, green when online and grey when away (none when the member hides
 * it or nothing is known), and the words for screen readers and on hover.
 */
export function nameWithPresence(iss: string, presence: MemberPresence | undefined): HTMLElement {
  const words = presenceWords(presence)
  const name = h('span', { class: 'member', ...(words && { title: words }) })
  if (words) {
    const dot = h('span', { class: 'dot', 'aria-hidden': 'true' })
    dot.dataset.presence = presence?.online ? 'online' : 'away'
    name.append(dot)
  }
  name.append(iss)
  if (words) name.append(h('span', { class: 'visually-hidden' }, ` (${words})`))
  return name
}

/**
 * The "Hide my online status" checkbox: its state is kept per identity in this browser, and follows what the
 * server says of this identity (chosen on another device); a change is sent through `hide`, and put back,
 * saying why, when refused.
 */
export class PresenceToggle {
  readonly #box: HTMLInputElement
  readonly #problem: HTMLElement
  #me = ''
  #hide: ((hidden: boolean) => Promise<void>) | undefined
  /** A change on its way: what the server says meanwhile may be from before it. */
  #sending = false

  constructor(box: HTMLInputElement, problem: HTMLElement) {
    this.#box = box
    this.#problem = problem
    box.addEventListener('change', () => void this.#changed())
  }

  /** A session started as `me`: the box shows what this browser last chose for it. */
  start(me: string, hide: (hidden: boolean) => Promise<void>): void {
    this.#me = me
    this.#hide = hide
    this.#problem.textContent = ''
    this.#box.checked = localStorage.getItem(this.#key()) === 'hidden'
  }

  /** The server told this identity's own presence (a group's presence read includes it): neither field is hidden. */
  learned(own: MemberPresence): void {
    if (this.#sending) return
    const hidden = !own.online && !own.lastSeen
    this.#box.checked = hidden
    localStorage.setItem(this.#key(), hidden ? 'hidden' : 'shown')
  }

  #key(): string {
    return `huddle.presence.${this.#me}`
  }

  async #changed(): Promise<void> {
    const hidden = this.#box.checked
    this.#problem.textContent = ''
    this.#sending = true
    try {
      await this.#hide?.(hidden)
      localStorage.setItem(this.#key(), hidden ? 'hidden' : 'shown')
    } catch (error) {
      this.#box.checked = !hidden
      this.#problem.textContent = `Your online status is still ${hidden ? 'shown' : 'hidden'}: ${describeError(error)}. Try again.`
    } finally {
      this.#sending = false
    }
  }
}
