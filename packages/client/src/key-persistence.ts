import { toBase64 } from './bytes.js'
import type { EncryptionStore } from './encryption-store.js'
import type { GroupKeys, MlsEngine } from './mls.js'
import type { Attachment } from './protocol.js'
import { decodeKept, encodeKept, reactionName, type SealedReaction } from './sealed-reactions.js'

/** What a message's ciphertext holds: everything of it the server must not read. */
export interface Sealed {
  jti: string
  body: string
  /** Per attachment, in order: what the wire form leaves out. */
  files?: Pick<Attachment, 'name' | 'mime' | 'secret'>[]
}

/** The state saved whole (`epoch`) with the id its ratchet steps name, so that steps of another never apply. */
interface Saved {
  keys: GroupKeys
  id: Uint8Array
  bytes: number
}

const idBytes = 8
const utf8 = new TextEncoder()
const text = new TextDecoder()

/** The names a group's keys are kept under: whole once per epoch, each message's ratchet steps beside it. */
function groupNames(gid: string) {
  return {
    epoch: `group/${gid}/epoch`,
    ratchet: `group/${gid}/ratchet`,
    previous: `group/${gid}/previous`,
    /** Where the whole state was kept after every message, before ratchet steps were saved apart. */
    whole: `group/${gid}`,
  }
}

/**
 * A device's encryption state in an `EncryptionStore`: each group's keys saved by what changed (the whole
 * state once per epoch, then only the secret-tree nodes a message moved on), the state before the last
 * commit, what messages said, key-package secrets and the device's id.
 */
export class KeyPersistence {
  readonly #store: EncryptionStore
  readonly #engine: () => Promise<MlsEngine>
  readonly #saved = new Map<string, Saved>()
  /** Groups whose keys were read from the whole-state record of earlier versions, deleted once saved anew. */
  readonly #legacy = new Set<string>()

  constructor(store: EncryptionStore, engine: () => Promise<MlsEngine>) {
    this.#store = store
    this.#engine = engine
  }

  /** Group `gid`'s keys as saved last: the epoch's whole state moved on by the ratchet steps saved since. */
  async loadGroup(gid: string): Promise<GroupKeys | undefined> {
    const names = groupNames(gid)
    const engine = await this.#engine()
    const epoch = await this.#store.get(names.epoch)
    if (epoch === undefined) {
      const whole = await this.#store.get(names.whole)
      if (whole === undefined) return undefined
      this.#legacy.add(gid)
      return engine.load(whole)
    }
    const id = epoch.slice(0, idBytes)
    const keys = await engine.load(epoch.slice(idBytes))
    this.#saved.set(gid, { keys, id, bytes: epoch.byteLength })
    const ratchet = await this.#store.get(names.ratchet)
    if (ratchet === undefined || toBase64(ratchet.slice(0, idBytes)) !== toBase64(id)) return keys
    return engine.loadRatchet(keys, ratchet.slice(idBytes))
  }

  /**
   * Saves `keys` as group `gid`'s, durable once it resolves: the ratchet steps since the state saved whole,
   * or the whole state when the epoch changed (or the steps grew past a quarter of it).
   */
  async saveGroup(gid: string, keys: GroupKeys): Promise<void> {
    const names = groupNames(gid)
    const engine = await this.#engine()
    const saved = this.#saved.get(gid)
    if (saved !== undefined) {
      const steps = await engine.saveRatchet(saved.keys, keys)
      if (steps !== undefined && steps.byteLength * 4 <= saved.bytes) {
        await this.#store.set(names.ratchet, joined(saved.id, steps))
        return
      }
    }
    const id = crypto.getRandomValues(new Uint8Array(idBytes))
    const whole = joined(id, await engine.save(keys))
    await this.#store.set(names.epoch, whole)
    this.#saved.set(gid, { keys, id, bytes: whole.byteLength })
    if (this.#legacy.delete(gid)) await this.#store.delete(names.whole)
  }

  /** Keeps `keys` as the state before a commit, to go back to if a member refuses the commit. */
  async savePrevious(gid: string, keys: GroupKeys): Promise<void> {
    await this.#store.set(groupNames(gid).previous, await (await this.#engine()).save(keys))
  }

  async loadPrevious(gid: string): Promise<GroupKeys | undefined> {
    const before = await this.#store.get(groupNames(gid).previous)
    return before === undefined ? undefined : (await this.#engine()).load(before)
  }

  /** Forgets group `gid`'s keys (this device left, or lost its place). */
  async dropGroup(gid: string): Promise<void> {
    this.#saved.delete(gid)
    this.#legacy.delete(gid)
    for (const name of Object.values(groupNames(gid))) await this.#store.delete(name)
  }

  /** Keeps what a message says (an edit: its new body), for history: MLS opens each ciphertext once. */
  async remember(gid: string, sealed: Sealed, edit: boolean): Promise<void> {
    const earlier = edit ? await this.kept(gid, sealed.jti) : undefined
    const kept = earlier ? { ...earlier, body: sealed.body } : sealed
    await this.#store.set(messageName(gid, sealed.jti), utf8.encode(JSON.stringify(kept)))
  }

  /** What this device kept of message `jti` when it sent or first opened it. */
  async kept(gid: string, jti: string): Promise<Sealed | undefined> {
    const saved = await this.#store.get(messageName(gid, jti))
    return saved === undefined ? undefined : (JSON.parse(text.decode(saved)) as Sealed)
  }

  /** Keeps what a reaction said (sent, or first opened), by its cipher, for history: MLS opens it once. */
  async rememberReaction(cipher: string, reaction: SealedReaction): Promise<void> {
    await this.#store.set(await reactionName(reaction.gid, cipher), encodeKept(reaction))
  }

  /** What this device kept of the reaction sealed in `cipher`, when it sent or first opened it. */
  async keptReaction(gid: string, cipher: string): Promise<SealedReaction | undefined> {
    const saved = await this.#store.get(await reactionName(gid, cipher))
    return saved === undefined ? undefined : decodeKept(saved)
  }

  /** The secret of a key package this device published, to join from a Welcome made to it. */
  keyPackageSecret(ref: string): Promise<Uint8Array | undefined> {
    return this.#store.get(`key-package/${ref}`)
  }

  async saveKeyPackageSecret(ref: string, secret: Uint8Array): Promise<void> {
    await this.#store.set(`key-package/${ref}`, secret)
  }

  async forgetKeyPackage(ref: string): Promise<void> {
    await this.#store.delete(`key-package/${ref}`)
  }

  /** When each key package secret this device keeps stops being valid (seconds), by ref. */
  async keyPackageIndex(): Promise<Record<string, number>> {
    const saved = await this.#store.get('key-packages')
    return saved === undefined ? {} : (JSON.parse(text.decode(saved)) as Record<string, number>)
  }

  async saveKeyPackageIndex(index: Record<string, number>): Promise<void> {
    await this.#store.set('key-packages', utf8.encode(JSON.stringify(index)))
  }

  /** This device's id, made once and kept. */
  async deviceId(): Promise<string> {
    const saved = await this.#store.get('device')
    if (saved !== undefined) return text.decode(saved)
    const id = toBase64(crypto.getRandomValues(new Uint8Array(12)))
      .replaceAll('+', '-')
      .replaceAll('/', '_')
    await this.#store.set('device', utf8.encode(id))
    return id
  }
}

function messageName(gid: string, jti: string): string {
  return `message/${gid}/${jti}`
}

function joined(id: Uint8Array, rest: Uint8Array): Uint8Array {
  const all = new Uint8Array(id.byteLength + rest.byteLength)
  all.set(id)
  all.set(rest, id.byteLength)
  return all
}
