import { h } from './dom.js'
import { namesOf } from './reactions.js'

/** "alice is typing…" under a conversation, in a polite live region; empty when nobody is. */
export class TypingLine {
  readonly element = h('p', { class: 'typing', 'aria-live': 'polite', 'aria-atomic': 'true' })

  /** Who types now (the SDK's `onTypingChange`), never this identity. */
  show(typing: string[]): void {
    this.element.textContent =
      typing.length === 0 ? '' : `${namesOf(typing)} ${typing.length === 1 ? 'is' : 'are'} typing…`
  }
}
