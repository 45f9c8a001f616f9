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
 * One provider's artefacts in memory, each until it expires: unlike the library's own adapter (one LRU of
 * 1,000 entries shared by every provider in the process), a busy test run never evicts a live refresh token,
 * and two gateways in one process keep theirs apart.
 */
export function memoryAdapter(): new (model: string) => ProviderAdapter {
  const entries = new Map<string, Entry>()
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
  let writes = 0
  return class MemoryAdapter implements ProviderAdapter {
    constructor(private readonly model: string) {}

    private key(id: string): string {
      return `${this.model}:${id}`
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      // Expired entries go every thousand writes, so memory follows what is live.
      if (++writes % 1000 === 0) sweep()
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY
      entries.set(this.key(id), { payload: { ...payload }, expiresAt })
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
    }

    async destroy(id: string): Promise<void> {
      entries.delete(this.key(id))
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, entry] of entries) if (entry.payload.grantId === grantId) entries.delete(key)
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
