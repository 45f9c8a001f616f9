/** What `h` accepts as a child: nodes and text (never parsed as HTML); false and undefined are skipped. */
export type Child = Node | string | false | undefined

/** An element with attributes and children, built without innerHTML so that no text becomes markup. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, '')
    else if (typeof value === 'string') element.setAttribute(name, value)
  }
  element.append(
    ...children.filter((child): child is Node | string => child !== false && child !== undefined),
  )
  return element
}

/** An element of index.html, which the app cannot work without. */
export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id)
  if (!element) throw new Error(`index.html has no #${id}`)
  return element as T
}

/** A group's avatar: its image when it has one, else its initial on a colour picked from its id. */
export function avatar(group: {
  gid: string
  name: string
  image?: { url: string } | undefined
}): HTMLElement {
  if (group.image) {
    return h('img', { class: 'avatar', src: group.image.url, alt: `Avatar of ${group.name}` })
  }
  const hue = [...group.gid].reduce((sum, c) => sum + c.charCodeAt(0), 0) % 360
  const initial = h('span', { class: 'avatar initial', 'aria-hidden': 'true' }, group.name.slice(0, 1))
  initial.style.setProperty('--hue', String(hue))
  return initial
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text: string): void {
  const region = byId('announcer')
  // A change is what gets announced: clearing first lets the same words be said twice.
  region.textContent = ''
  requestAnimationFrame(() => {
    region.textContent = text
  })
}

/** A time of day, in the reader's locale. */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

/** A drawn icon, hidden from screen readers (its button or tag says what it is): one path in a box. */
export function icon(name: string, viewBox: string, path: Record<string, string>): SVGSVGElement {
  const svg = 'http://www.w3.org/2000/svg'
  const drawing = document.createElementNS(svg, 'svg')
  drawing.setAttribute('viewBox', viewBox)
  drawing.setAttribute('aria-hidden', 'true')
  drawing.setAttribute('class', name)
  const line = document.createElementNS(svg, 'path')
  for (const [attribute, value] of Object.entries(path)) line.setAttribute(attribute, value)
  drawing.append(line)
  return drawing
}

/**
 * Says a group is end-to-end encrypted: a drawn lock (no emoji font needed) and the word "Encrypted", with a
 * tooltip that says what it means.
 */
export function encryptedTag(): HTMLElement {
  const lock = icon('lock', '0 0 16 16', {
    d: 'M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z',
    fill: 'currentColor',
  })
  return h(
    'span',
    {
      class: 'tag encrypted',
      title: 'End-to-end encrypted: only the members’ devices can read its messages',
    },
    lock,
    'Encrypted',
  )
}

/**
 * Asks a question in a modal dialog: resolves with true (or the field's words, when it has a field) once
 * `yes` is pressed, undefined when cancelled (Escape too). Focus returns where it was.
 */
export function ask(
  question: string,
  yes: string,
  field?: { label: string; value?: string },
): Promise<string | true | undefined> {
  const returnTo = document.activeElement as HTMLElement | null
  const input = field && h('input', { id: 'ask-field', value: field.value ?? '', autocomplete: 'off' })
  const confirm = h('button', { type: 'submit', value: 'yes' }, yes)
  const cancel = h('button', { type: 'button', class: 'quiet' }, 'Cancel')
  const dialog = h(
    'dialog',
    { class: 'ask', 'aria-labelledby': 'ask-question' },
    h(
      'form',
      { method: 'dialog' },
      h('p', { id: 'ask-question' }, question),
      field && h('label', { for: 'ask-field' }, field.label),
      input,
      h('div', { class: 'row choices' }, cancel, confirm),
    ),
  )
  cancel.addEventListener('click', () => dialog.close())
  document.body.append(dialog)
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      dialog.remove()
      returnTo?.focus()
      if (dialog.returnValue !== 'yes') resolve(undefined)
      else resolve(input ? input.value.trim() : true)
    })
    dialog.showModal()
    ;(input ?? confirm).focus()
  })
}
