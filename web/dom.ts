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

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

/**
 * Says a group is end-to-end encrypted: "🔒 encrypted", the lock not read out (the word says it), with a
 * tooltip that says what it means.
 */
export function encryptedTag(): HTMLElement {
  return h(
    'span',
    {
      class: 'tag encrypted',
      title: 'End-to-end encrypted: only the members’ devices can read its messages',
    },
    h('span', { 'aria-hidden': 'true' }, '🔒 '),
    'encrypted',
  )
}
