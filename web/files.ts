import type { ChatAttachment } from '@huddle/client'
import { h, icon } from './dom.js'
import { describeError } from './errors.js'
import { sizeOf } from './lines.js'

/** A received file's decrypted bytes as a blob URL, fetched once however often its line is drawn. */
const blobUrls = new WeakMap<ChatAttachment, Promise<string>>()

function blobUrlOf(file: ChatAttachment): Promise<string> {
  let url = blobUrls.get(file)
  if (!url) {
    // A copy: Blob takes bytes backed by a plain ArrayBuffer.
    url = file
      .download()
      .then((bytes) => URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: file.mime })))
    url.catch(() => blobUrls.delete(file))
    blobUrls.set(file, url)
  }
  return url
}

/**
 * A file of a message: its name and size; a received one has a Download button (downloaded and decrypted
 * in the browser), and a received image shows as a thumbnail too.
 */
export function fileItem(
  file: ChatAttachment | { name: string; size: number },
  say: (problem: string) => void,
): HTMLLIElement {
  const named = `${file.name} (${sizeOf(file.size)}) `
  if (!('download' in file)) return h('li', {}, named)
  const save = h(
    'button',
    { type: 'button', class: 'quiet', 'aria-label': `Download ${file.name}` },
    'Download',
  )
  save.addEventListener('click', () => {
    blobUrlOf(file).then(
      (url) => {
        const link = h('a', { href: url, download: file.name, hidden: true })
        document.body.append(link)
        link.click()
        link.remove()
      },
      (error: unknown) => say(`Could not download ${file.name}: ${describeError(error)}`),
    )
  })
  const item = h('li', {}, named, save)
  if (file.mime.startsWith('image/')) {
    const thumbnail = h('img', { class: 'thumbnail', alt: file.name })
    blobUrlOf(file).then(
      (url) => {
        thumbnail.src = url
        item.prepend(thumbnail)
      },
      () => {}, // Download says what went wrong, when asked.
    )
  }
  return item
}

/**
 * The composer's files: an Attach button (the file input stays hidden), files pasted into the message
 * field or dropped onto the conversation, each listed with a way to take it off again.
 */
export class ChosenFiles {
  readonly button: HTMLButtonElement
  readonly input = h('input', {
    type: 'file',
    multiple: true,
    hidden: true,
    'aria-hidden': 'true',
    tabindex: '-1',
  })
  readonly list = h('ul', { class: 'chosen', 'aria-label': 'Files to send' })
  #files: File[] = []

  constructor() {
    this.button = h('button', { type: 'button', class: 'quiet attach', 'aria-label': 'Attach files' })
    this.button.replaceChildren(paperclip(), h('span', { class: 'visually-hidden' }, 'Attach files'))
    this.button.addEventListener('click', () => this.input.click())
    this.input.addEventListener('change', () => {
      this.add(Array.from(this.input.files ?? []))
      this.input.value = ''
    })
  }

  /** Lets `area` take dropped files and `field` pasted ones. */
  accept(area: HTMLElement, field: HTMLElement): void {
    area.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return
      event.preventDefault()
      area.classList.add('dropping')
    })
    area.addEventListener('dragleave', () => area.classList.remove('dropping'))
    area.addEventListener('drop', (event) => {
      area.classList.remove('dropping')
      const files = Array.from(event.dataTransfer?.files ?? [])
      if (files.length === 0) return
      event.preventDefault()
      this.add(files)
    })
    field.addEventListener('paste', (event) => {
      const files = Array.from(event.clipboardData?.files ?? [])
      if (files.length === 0) return
      event.preventDefault()
      this.add(files)
    })
  }

  add(files: File[]): void {
    this.#files.push(...files)
    this.#render()
  }

  /** The files chosen so far, and none after. */
  take(): File[] {
    const taken = this.#files
    this.#files = []
    this.#render()
    return taken
  }

  #render(): void {
    this.list.replaceChildren(
      ...this.#files.map((file, index) => {
        const remove = h(
          'button',
          { type: 'button', class: 'quiet', 'aria-label': `Remove ${file.name}` },
          '×',
        )
        remove.addEventListener('click', () => {
          this.#files.splice(index, 1)
          this.#render()
          this.button.focus()
        })
        return h('li', {}, `${file.name} (${sizeOf(file.size)})`, remove)
      }),
    )
  }
}

function paperclip(): SVGSVGElement {
  return icon('icon', '0 0 24 24', {
    d: 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5',
    fill: 'none',
    stroke: 'currentColor',
    'stroke-width': '1.8',
    'stroke-linecap': 'round',
  })
}
