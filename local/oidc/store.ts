import { readIfPresent, writePrivately } from '../data-dir.js'

/** What oidc-provider keeps of an artefact (a session, a code, a refresh token…). */
export type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string }

interface Entry {
  payload: Payload
  /** Epoch ms; Infinity for none. */
  expiresAt: number
}

/** oidc-provider's adapter contract: one instance per model name, over a store shared by all of them. */
export interface ProviderAdapter {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>
  find(id: string): Promise<Payload | undefined>
  findByUid(uid: string): Promise<Payload | undefined>
  findByUserCode(userCode: string): Promise<Payload | undefined>
  consume(id: string): Promise<void>
  destroy(id: string): Promise<void>
  revokeByGrantId(grantId: string): Promise<void>
}

/**
 * One provider's artefacts, each until it expires, in memory and, with `file`, also written there (JSON,
 * mode 0600, a moment after each change), so that refresh tokens outlive a restart of the stack. Unlike
 * the library's own adapter (one LRU of 1,000 entries shared by every provider in the process), a busy test
 * run never evicts a live refresh token, and two gateways in one process keep theirs apart.
 */
export async function providerStore(file?: string): Promise<new (model: string) => ProviderAdapter> {
  const entries = file ? await readEntries(file) : new Map<string, Entry>()
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key)
    if (entry && entry.expiresAt <= Date.now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }
  const sweep = () => {
    const now = Date.now()
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
  }
  let saving: ReturnType<typeof setTimeout> | undefined
  let written = Promise.resolve()
  /** Writes the live entries soon: one write for a burst of changes. */
  const changed = () => {
    if (!file || saving) return
    saving = setTimeout(() => {
      saving = undefined
      sweep()
      const text = JSON.stringify(Object.fromEntries(entries))
      written = written.then(() => writePrivately(file, text)).catch(() => {})
    }, 50)
    saving.unref()
  }
  let writes = 0
  return class MemoryAdapter implements ProviderAdapter {
    constructor(private readonly model: string) {}

    private key(id: string): string {
      return `${this.model}:${id}`
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      // Expired entries go every thousand writes, so memory follows what is live.
      if (++writes % 1000 === 0) sweep()
      // Kept a year at most: JSON has no Infinity.
      const expiresAt = Date.now() + (expiresIn ?? 365 * 24 * 60 * 60) * 1000
      entries.set(this.key(id), { payload: { ...payload }, expiresAt })
      changed()
    }

    async find(id: string): Promise<Payload | undefined> {
      return live(this.key(id))?.payload
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return this.findWhere((payload) => payload.uid === uid)
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return this.findWhere((payload) => payload.userCode === userCode)
    }

    async consume(id: string): Promise<void> {
      const entry = live(this.key(id))
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000)
      changed()
    }

    async destroy(id: string): Promise<void> {
      entries.delete(this.key(id))
      changed()
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, entry] of entries) if (entry.payload.grantId === grantId) entries.delete(key)
      changed()
    }

    private findWhere(test: (payload: Payload) => boolean): Payload | undefined {
      const prefix = `${this.model}:`
      for (const key of entries.keys()) {
        const entry = key.startsWith(prefix) ? live(key) : undefined
        if (entry && test(entry.payload)) return entry.payload
      }
      return undefined
    }
  }
}

async function readEntries(file: string): Promise<Map<string, Entry>> {
  const text = await readIfPresent(file)
  if (text === undefined) return new Map()
  try {
    return new Map(Object.entries(JSON.parse(text) as Record<string, Entry>))
  } catch {
    // A file cut short (a crash mid-write): its sessions are lost, and people sign in again.
    return new Map()
  }
}
