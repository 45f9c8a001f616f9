/**
 * Where a device keeps its encryption state (group keys, key package secrets) by name, so a restart keeps its
 * place in every encrypted group. Values are secrets: a store keeps them where only this device's user can read.
 */
export interface EncryptionStore {
  /** The value saved last under `name`; undefined when there is none. */
  get(name: string): Promise<Uint8Array | undefined>
  /** Replaces the value under `name` whole: a crash leaves the old value or the new one, never a mix. */
  set(name: string, value: Uint8Array): Promise<void>
  delete(name: string): Promise<void>
}

/** Keeps encryption state in memory only: for tests and for devices that rejoin on every start. */
export function memoryEncryptionStore(): EncryptionStore {
  const values = new Map<string, Uint8Array>()
  return {
    async get(name) {
      return values.get(name)?.slice()
    },
    async set(name, value) {
      values.set(name, value.slice())
    },
    async delete(name) {
      values.delete(name)
    },
  }
}

const objectStoreName = 'state'

/** Keeps encryption state in the browser's IndexedDB, in one object store of `database`, keyed by name. */
export function indexedDbEncryptionStore(database = 'huddle-encryption'): EncryptionStore {
  let opened: Promise<IDBDatabase> | undefined
  const open = (): Promise<IDBDatabase> => {
    opened ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(database, 1)
      request.onupgradeneeded = () => request.result.createObjectStore(objectStoreName)
      request.onsuccess = () => {
        const db = request.result
        // Another tab upgrading or deleting the database: let it, and open again on next use.
        db.onversionchange = () => {
          db.close()
          opened = undefined
        }
        resolve(db)
      }
      request.onerror = () => reject(request.error)
    }).catch((error: unknown) => {
      opened = undefined
      throw error
    })
    return opened
  }
  const run = async <T>(
    mode: IDBTransactionMode,
    use: (store: IDBObjectStore) => IDBRequest<T>,
  ): Promise<T> => {
    const transaction = (await open()).transaction(objectStoreName, mode)
    const request = use(transaction.objectStore(objectStoreName))
    // Settles when the transaction commits (or fails), so a set is durable once it resolves.
    return new Promise<T>((resolve, reject) => {
      transaction.oncomplete = () => resolve(request.result)
      transaction.onerror = () => reject(transaction.error ?? request.error)
      transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'))
    })
  }
  return {
    async get(name) {
      const value: unknown = await run('readonly', (store) => store.get(name))
      return value instanceof Uint8Array ? value : undefined
    },
    async set(name, value) {
      await run('readwrite', (store) => store.put(value.slice(), name))
    },
    async delete(name) {
      await run('readwrite', (store) => store.delete(name))
    },
  }
}
