/**
 * Where a signed-in session's refresh token waits for the next page load: IndexedDB, encrypted with an
 * AES-GCM key that WebCrypto made non-extractable. The key is kept in the same database as a CryptoKey
 * object, which this origin's pages can use to decrypt but no script can read or export; a copy of the
 * database (a backup, a disk image, another program reading the profile) holds only ciphertext. The ID
 * token itself is never stored: it lives in the page's memory.
 */

/** What a reload needs to sign in again without a prompt. */
export interface StoredSession {
  issuer: string
  clientId: string
  /** Who signed in, to show before the first refresh answers. */
  identity: string
  refreshToken: string
}

const databaseName = 'huddle-session'
const storeName = 'secrets'

function openDatabase(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(databaseName, 1)
    opening.onupgradeneeded = () => opening.result.createObjectStore(storeName)
    opening.onsuccess = () => resolve(opening.result)
    opening.onerror = () => reject(opening.error)
  })
}

async function withStore<T>(mode: IDBTransactionMode, use: (store: IDBObjectStore) => IDBRequest<T>) {
  const database = await openDatabase()
  try {
    return await new Promise<T>((resolve, reject) => {
      const transaction = database.transaction(storeName, mode)
      const request = use(transaction.objectStore(storeName))
      transaction.oncomplete = () => resolve(request.result)
      transaction.onerror = () => reject(transaction.error)
      transaction.onabort = () => reject(transaction.error)
    })
  } finally {
    database.close()
  }
}

/** The origin's wrapping key, made on first use; never extractable. */
async function wrappingKey(): Promise<CryptoKey> {
  const existing = await withStore<CryptoKey | undefined>('readonly', (store) => store.get('key'))
  if (existing) return existing
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
  await withStore('readwrite', (store) => store.put(key, 'key'))
  return key
}

/** Keeps `session` for the next load, encrypted; replaces the one kept before. */
export async function saveSession(session: StoredSession): Promise<void> {
  const key = await wrappingKey()
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const plain = new TextEncoder().encode(JSON.stringify(session))
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, plain)
  await withStore('readwrite', (store) => store.put({ iv, sealed }, 'session'))
}

/** The kept session, or undefined when there is none or it cannot be read (then it is forgotten). */
export async function loadSession(): Promise<StoredSession | undefined> {
  try {
    const kept = await withStore<{ iv: Uint8Array<ArrayBuffer>; sealed: ArrayBuffer } | undefined>(
      'readonly',
      (store) => store.get('session'),
    )
    if (!kept) return undefined
    const key = await wrappingKey()
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: kept.iv }, key, kept.sealed)
    return JSON.parse(new TextDecoder().decode(plain)) as StoredSession
  } catch {
    await forgetSession().catch(() => {})
    return undefined
  }
}

/** Forgets the kept session (sign-out, or a refresh the provider refused). */
export async function forgetSession(): Promise<void> {
  await withStore('readwrite', (store) => store.delete('session'))
}
