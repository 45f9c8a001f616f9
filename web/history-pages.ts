import type { ChatGroup } from '@huddle/client'
import { h } from './dom.js'
import { describeError } from './errors.js'
import type { LogEvent } from './lines.js'

export interface HistoryHooks {
  /** Shows events read from the log (each once; the conversation keeps lines by seq). */
  add(events: LogEvent[]): void
  say(problem: string): void
}

const pageSize = 30

/**
 * A conversation's reads of its group's history: the latest page on opening, earlier pages from "Load
 * earlier messages", and what is newer than the lines shown when a hole appears. One read at a time, in order.
 */
export class HistoryPages {
  /** "Load earlier messages", shown while there is an earlier page. */
  readonly earlier = h('button', { type: 'button', class: 'earlier', hidden: true }, 'Load earlier messages')
  readonly #group: ChatGroup
  readonly #list: HTMLElement
  readonly #hooks: HistoryHooks
  /** Every line up to this seq is shown (or was never readable). */
  #newest = 0
  /** Where the next page of earlier history starts, while there is one. */
  #before: number | undefined
  #reads: Promise<void> = Promise.resolve()

  constructor(group: ChatGroup, list: HTMLElement, hooks: HistoryHooks) {
    this.#group = group
    this.#list = list
    this.#hooks = hooks
    this.earlier.addEventListener('click', () => this.#read(() => this.#loadEarlier()))
    this.#read(() => this.#loadLatest())
  }

  /** Reads what the log holds after the lines shown (an admin's own action, which the SDK hands no event for). */
  readNewer(): void {
    this.#read(() => this.#readNewer())
  }

  /** Notes that `seq` is shown; a hole before it (the page opened after the SDK had handed it) is read. */
  advance(seq: number): void {
    if (seq === this.#newest + 1) this.#newest = seq
    else if (seq > this.#newest) this.readNewer()
  }

  #read(step: () => Promise<void>): void {
    this.#reads = this.#reads.then(step).catch((error: unknown) => this.#hooks.say(describeError(error)))
  }

  async #loadLatest(): Promise<void> {
    const page = await this.#group.history({ limit: pageSize })
    this.#hooks.add(page.events)
    this.#before = page.next
    this.earlier.hidden = page.next === undefined
    this.#newest = Math.max(this.#newest, page.head)
    this.#list.scrollTop = this.#list.scrollHeight
    if (page.head > 0) await this.#group.markRead(page.head)
  }

  async #readNewer(): Promise<void> {
    let after = this.#newest
    for (;;) {
      const page = await this.#group.history({ after, limit: 100 })
      this.#hooks.add(page.events)
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
    this.#hooks.add(page.events)
    this.#before = page.next
    // Keep the lines that were in view where they were.
    this.#list.scrollTop += this.#list.scrollHeight - height
    if (page.next === undefined) {
      this.earlier.hidden = true
      this.#list.focus()
    }
  }
}
