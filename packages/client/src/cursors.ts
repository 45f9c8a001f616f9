/** For each group, the seq of the last event the client handed to the app. */
export type Cursors = Record<string, number>

/**
 * Where a client keeps its cursors, so that an app that restarts catches up on what it missed. The
 * client loads them once and saves the whole map after it hands events over.
 */
export interface CursorStore {
  /** The cursors saved last; undefined when none were ever saved (a first run starts at each group's head). */
  load(): Cursors | undefined | Promise<Cursors | undefined>
  save(cursors: Cursors): void | Promise<void>
}

/** Keeps cursors in memory only: the default, good for as long as the process lives. */
export function memoryCursorStore(): CursorStore {
  let saved: Cursors | undefined
  return {
    load: () => saved && { ...saved },
    save: (cursors) => {
      saved = { ...cursors }
    },
  }
}

/** The part of the Web Storage API the cursor store uses (typed here so Node apps need no DOM types). */
export interface KeyValueStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

/** Keeps cursors in the browser's localStorage (or any Storage) under `key`. */
export function localStorageCursorStore(
  key = 'huddle.cursors',
  storage: KeyValueStorage = globalThis.localStorage,
): CursorStore {
  return {
    load: () => {
      const text = storage.getItem(key)
      return text === null ? undefined : (JSON.parse(text) as Cursors)
    },
    save: (cursors) => storage.setItem(key, JSON.stringify(cursors)),
  }
}
