import { fromBase64, toBase64 } from './bytes.js'
import { rosterDigest } from './devices.js'
import { ChatError } from './error.js'
import type { Sealed } from './key-persistence.js'
import type { GroupKeys, Leaf, MlsEngine } from './mls.js'
import type { Attachment, CommitEvent, DeviceKey, EditEvent, MessageEvent, RosterLeaf } from './protocol.js'

/** Something about an encrypted group's keys that an app should show its user. */
export type SecurityNotice =
  /** A change of the group's keys was refused by this device (a leaf nobody vouches for, a tree other than
   * the roster, a commit that does not process): it sends nothing to the group until the change is undone. */
  | { kind: 'refused'; gid: string; iss: string; epoch: number; reason: string }
  /** A member refused commit `epoch` of `iss`, and the group's keys went back to the epoch before. */
  | { kind: 'reverted'; gid: string; iss: string; by: string; epoch: number; reason: string }
  /** This device is on no device list of its identity yet: approve it on a device that is. */
  | { kind: 'approval-needed'; iss: string; device: string }
  /** Another device of this identity asks to be approved (`approveDevice`). */
  | { kind: 'device-request'; iss: string; device: DeviceKey }

/** What to save after a change of the keys: the new keys, and after a commit the ones before it. */
export interface KeysToSave {
  keys: GroupKeys
  previous?: GroupKeys
}

/** What a commit event asks of this device before any bytes are fetched. */
export type CommitStep =
  /** Not for these keys: an old epoch, or a Welcome made to another device. */
  | 'ignore'
  /** This device holds no keys and the commit adds it: join from its Welcome. */
  | 'welcome'
  /** A commit went missing before this one: the keys are of no use until this device joins again. */
  | 'gap'
  /** The next epoch's commit: fetch it and `processCommit`. */
  | 'process'

/** What a processed commit means for this device. */
export type CommitOutcome =
  /** This device's own commit, whose answer was lost: its keys are the group's. */
  | { kind: 'own'; save?: KeysToSave }
  /** The commit removes this device. */
  | { kind: 'removed' }
  /** The commit cannot be taken in: refuse it. */
  | { kind: 'refuse'; reason: string }
  /** It processes and matches the server's account: its leaves' owners must vouch for them, then `accept`. */
  | { kind: 'verify'; next: GroupKeys; added: Leaf[]; leaves: Leaf[] }

/**
 * One group's keys on this device, as a state machine without I/O: messages, commits and Welcomes are
 * pushed in (their bytes already fetched), and each step answers what to send, save or ask next. Every
 * change answers `KeysToSave`, which must be saved before anything it encrypted is sent.
 */
export class GroupKeysState {
  readonly gid: string
  keys: GroupKeys | undefined
  /** Membership changed since the keys were last checked against the server's roster. */
  dirty = true
  /** The app asked for this device's keys to be updated. */
  rotate = false
  /** When the group's keys last changed (server time of its last commit seen). */
  changedAt = Date.now()
  /** Why this device refused the group's latest change of keys: it sends nothing until that is undone. */
  refused: string | undefined
  /** This device's last commit that was not acknowledged (lost, or answered CONFLICT after a lost ack):
   * if the log shows it, it won, and these keys are the group's. */
  unanswered: { commit: string; keys: GroupKeys } | undefined
  readonly #waiters = new Set<() => void>()

  constructor(gid: string, keys?: GroupKeys) {
    this.gid = gid
    this.keys = keys
  }

  /** Makes `keys` the group's; `changed` (a commit taken in) keeps the state before it, in case a member
   * refuses the commit and the group goes back. Keys never go back to an earlier epoch. */
  adopt(keys: GroupKeys, changed = false): KeysToSave | undefined {
    if (this.keys && keys.epoch < this.keys.epoch) return undefined
    const previous = changed ? this.keys : undefined
    this.keys = keys
    this.refused = undefined
    return { keys, ...(previous && { previous }) }
  }

  /** Forgets the keys (this device left or was removed, or missed a commit). */
  drop(): void {
    this.keys = undefined
  }

  /** Tells those waiting (`waitFor`) that the keys moved, once they are saved. */
  moved(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  /** Resolves true once `done` holds (checked when the keys move), false after `ms`. */
  waitFor(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const check = () => {
        if (done()) finish(true)
      }
      const finish = (result: boolean) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve(result)
      }
      const timer = setTimeout(() => finish(done()), ms)
      this.#waiters.add(check)
    })
  }

  /** Whether a key update is due: asked for, or the keys are older than `rotateAfterMs`. */
  rotationDue(rotateAfterMs: number): boolean {
    return this.rotate || Date.now() - this.changedAt > rotateAfterMs
  }

  /** Encrypts bytes under the group's current keys; the keys it leaves must be saved before the cipher is sent. */
  async encrypt(
    engine: MlsEngine,
    plaintext: Uint8Array,
  ): Promise<{ cipher: Uint8Array; save?: KeysToSave }> {
    const keys = this.keys
    if (!keys) throw new ChatError('NO_KEYS', `${this.gid}: this device holds none of the group's keys yet`)
    const encrypted = await engine.encrypt(keys, plaintext)
    return { cipher: encrypted.cipher, save: this.adopt(encrypted.keys) }
  }

  /** Decrypts another member's cipher with the keys held here, taking the keys it leaves: undefined when it does
   * not decrypt here (this device's own, or sent before it held the keys). */
  async decrypt(
    engine: MlsEngine,
    cipher: string | undefined,
  ): Promise<{ plaintext: Uint8Array; sender: string; save?: KeysToSave } | undefined> {
    const keys = this.keys
    if (keys === undefined || cipher === undefined) return undefined
    let decrypted: Awaited<ReturnType<MlsEngine['decrypt']>>
    try {
      decrypted = await engine.decrypt(keys, fromBase64(cipher) ?? new Uint8Array())
    } catch {
      return undefined
    }
    const save = this.adopt(decrypted.keys)
    return { plaintext: decrypted.plaintext, sender: decrypted.sender.iss, ...(save && { save }) }
  }

  /** Encrypts what a message says; the keys it leaves must be saved before the cipher is sent. */
  seal(engine: MlsEngine, sealed: Sealed): Promise<{ cipher: Uint8Array; save?: KeysToSave }> {
    return this.encrypt(engine, new TextEncoder().encode(JSON.stringify(sealed)))
  }

  /** Decrypts another member's message or edit: undefined when it does not decrypt here (this device's own,
   * or sent before it held the keys); `sealed` undefined when it decrypts but names another message. */
  async open(
    engine: MlsEngine,
    event: MessageEvent | EditEvent,
  ): Promise<{ sealed: Sealed | undefined; save?: KeysToSave } | undefined> {
    const decrypted = await this.decrypt(engine, event.cipher)
    if (decrypted === undefined) return undefined
    const { save } = decrypted
    try {
      const sealed = JSON.parse(new TextDecoder().decode(decrypted.plaintext)) as Sealed
      const names = sealed.jti === event.jti && decrypted.sender === event.iss
      return { sealed: names ? sealed : undefined, ...(save && { save }) }
    } catch {
      return { sealed: undefined, ...(save && { save }) }
    }
  }

  /** What commit `event` asks of this device; `welcomed`: the commit adds this device. */
  commitStep(event: CommitEvent, welcomed: boolean): CommitStep {
    this.changedAt = Date.parse(event.iat) || Date.now()
    if (this.keys === undefined) return welcomed && event.welcome ? 'welcome' : 'ignore'
    if (event.epoch <= this.keys.epoch) return 'ignore'
    return event.epoch === this.keys.epoch + 1 ? 'process' : 'gap'
  }

  /** Takes in the next epoch's commit (its bytes fetched): processed, and checked against the server's event. */
  async processCommit(engine: MlsEngine, event: CommitEvent, commit: Uint8Array): Promise<CommitOutcome> {
    const keys = this.keys
    if (keys === undefined) return { kind: 'refuse', reason: 'no keys to take it in' }
    if (this.unanswered?.commit === toBase64(commit)) {
      return { kind: 'own', save: this.adopt(this.unanswered.keys, true) }
    }
    let processed: Awaited<ReturnType<MlsEngine['process']>>
    try {
      processed = await engine.process(keys, commit)
    } catch (error) {
      return {
        kind: 'refuse',
        reason: `it does not process: ${error instanceof Error ? error.message : error}`,
      }
    }
    const { keys: next, added, removed } = processed
    if (removed.some((leaf) => leaf.leaf === keys.leaf)) return { kind: 'removed' }
    const leaves = await engine.leaves(next)
    const reason = await treeDisagreement(
      leaves,
      event.tree,
      same(added, event.added) && same(removed, event.removed),
    )
    if (reason) return { kind: 'refuse', reason }
    return { kind: 'verify', next, added, leaves }
  }

  /** Whether these keys took in commit `epoch`, which a member refused: they go back (`revert`). */
  tookIn(epoch: number): boolean {
    return this.keys?.epoch === epoch
  }

  /** A member refused the latest commit: the keys go back to `previous` (taken in before it), or are dropped
   * when there is none; nothing is refused or unanswered any more, and the roster is due for a check. */
  revert(previous: GroupKeys | undefined): KeysToSave | undefined {
    this.keys = undefined
    const save = previous && this.adopt(previous)
    this.refused = undefined
    this.unanswered = undefined
    this.dirty = true
    return save
  }

  /** The refused commit was undone elsewhere (these keys never took it in). */
  undone(): void {
    this.refused = undefined
    this.unanswered = undefined
    this.dirty = true
  }
}

/** Why a tree cannot be taken in, as far as the server's own account shows: not what its event said, or not
 * the roster it vouches for; undefined when it agrees (its leaves' owners must still vouch for them). */
export async function treeDisagreement(
  leaves: Leaf[],
  tree: string,
  asAnnounced: boolean,
): Promise<string | undefined> {
  if (!asAnnounced) return "the devices it adds or removes differ from the server's account of it"
  if ((await rosterDigest(leaves)) !== tree) return "the group's tree differs from the server's roster"
  return undefined
}

/** The event with what its ciphertext held in place of the ciphertext. */
export function opened<E extends MessageEvent | EditEvent>(event: E, sealed: Sealed): E {
  const { cipher, ...rest } = event
  const attachments =
    event.type === 'chat.message' && event.attachments
      ? event.attachments.map((wire, i) => ({ ...wire, ...sealed.files?.[i] }) as Attachment)
      : undefined
  return { ...rest, body: sealed.body, ...(attachments && { attachments }) } as unknown as E
}

/** The event as a device shows what it cannot open. */
export function unreadable<E extends MessageEvent | EditEvent>(event: E): E {
  const { cipher, ...rest } = event
  return { ...rest, body: '', unreadable: true } as unknown as E
}

/** What a message's ciphertext holds, from what the app sends. */
export function sealedOf(jti: string, body: string, attachments: Attachment[] | undefined): Sealed {
  return {
    jti,
    body,
    ...(attachments?.length && {
      files: attachments.map(({ name, mime, secret }) => ({ name, mime, secret })),
    }),
  }
}

/** Whether two lists hold the same leaves: index, identity, device and key. */
export function same(a: readonly RosterLeaf[], b: readonly RosterLeaf[]): boolean {
  const rows = (leaves: readonly RosterLeaf[]) =>
    JSON.stringify([...leaves].sort((x, y) => x.leaf - y.leaf).map((l) => [l.leaf, l.iss, l.device, l.key]))
  return rows(a) === rows(b)
}
