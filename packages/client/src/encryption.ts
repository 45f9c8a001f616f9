import type { Request } from './connection.js'
import { DeviceTrust, type VerifiedDevices } from './device-trust.js'
import { type EncryptionStore, memoryEncryptionStore } from './encryption-store.js'
import { ChatError } from './error.js'
import type { SecurityNotice } from './group-keys.js'
import { GroupKeysSync, readable } from './group-keys-sync.js'
import { refillKeyPackages } from './key-packages.js'
import { KeyPersistence } from './key-persistence.js'
import { type KeyServer, keyServer } from './key-server.js'
import type { KeysContext, Outgoing } from './keys-context.js'
import type { MlsEngine } from './mls.js'
import type { DeviceKey, EditEvent, GroupEvent, MessageEvent, ReactionEvent } from './protocol.js'
import { boundTo, openedReaction } from './sealed-reactions.js'

export type { SecurityNotice } from './group-keys.js'

/** How an app keeps its devices' encryption state, and how eagerly the SDK changes keys. */
export interface EncryptionOptions {
  /** Where the device's keys and its groups' MLS state are kept (default: memory, lost on restart). */
  store?: EncryptionStore
  /**
   * The MLS implementation. In Node the package's entry supplies ts-mls (`mlsEngine` of `@huddle/client/mls`);
   * in browsers pass `workerMlsEngine(worker)` of `@huddle/client/mls-worker`, so the heavy work runs off the
   * UI thread, or `mlsEngine()` to run it on the page.
   */
  engine?: MlsEngine
  /** How long a device that joined waits for a member to add it before it joins the keys by itself. */
  welcomeWaitMs?: number
  /** A member sending to a group whose keys have not changed for this long updates its own keys first. */
  rotateAfterMs?: number
}

/** What encryption needs of the chat client: its requests, and a few things it does for encryption. */
interface Hooks {
  request: Request
  /** Reads what this client missed, when a commit it waits for is late. */
  catchUp(): Promise<void>
  /** Places this client's own write in the group's order. */
  wrote(gid: string, seq: number): void
  report(error: unknown): void
  security(notice: SecurityNotice): void
  devicesChanged(devices: VerifiedDevices): void
}

/**
 * End-to-end encryption for the groups created with it, over MLS: each device holds a leaf of each group's
 * keys; commits change the keys in the group's order (one per epoch, through the server's log); messages,
 * edits and reactions travel as MLS ciphertext. Apps see the same messages as in plain groups. Each group's keys are
 * a `GroupKeysSync` over the server port (`KeyServer`) and `KeyPersistence`.
 */
export class GroupEncryption {
  readonly #hooks: Hooks
  readonly #server: KeyServer
  readonly #persistence: KeyPersistence
  readonly #context: KeysContext
  readonly #groups = new Map<string, GroupKeysSync>()
  readonly #encrypted = new Set<string>()
  readonly #engine: MlsEngine | undefined
  readonly #trust: DeviceTrust
  #device: Promise<string> | undefined
  #me: string | undefined
  /** Whether this device is on its identity's device list (members may add it, and it may join keys itself):
   * its list is started by its first device, or it waits for another device's approval. */
  #enrolled: Promise<boolean> | undefined
  /** This device's enrolment and key packages, published after each sync. */
  #published: Promise<unknown> = Promise.resolve()

  constructor(hooks: Hooks, options: EncryptionOptions = {}) {
    this.#hooks = hooks
    this.#engine = options.engine
    const store = options.store ?? memoryEncryptionStore()
    this.#server = keyServer(hooks.request)
    this.#persistence = new KeyPersistence(store, () => this.#engineNow())
    this.#trust = new DeviceTrust(
      (action, fields) => hooks.request(action, fields),
      store,
      () => this.#engineNow(),
      hooks.devicesChanged,
    )
    this.#context = {
      server: this.#server,
      persistence: this.#persistence,
      trust: this.#trust,
      engine: this.#engine,
      engineNow: () => this.#engineNow(),
      me: () => this.#me,
      identity: () => this.#identity(),
      deviceId: () => this.#deviceId(),
      enroll: () => this.#enroll(),
      refill: () => this.#refill().catch((error: unknown) => this.#report(error)),
      catchUp: hooks.catchUp,
      wrote: hooks.wrote,
      security: hooks.security,
      devicesChanged: hooks.devicesChanged,
      report: (error) => this.#report(error),
      welcomeWaitMs: options.welcomeWaitMs ?? 3000,
      rotateAfterMs: options.rotateAfterMs ?? 24 * 60 * 60 * 1000,
    }
  }

  /** Notes whether group `gid` is encrypted, as a view, an invite or a sync position tells. */
  mark(gid: string, encrypted: boolean | undefined): void {
    if (encrypted) this.#encrypted.add(gid)
  }

  encrypted(gid: string): boolean {
    return this.#encrypted.has(gid)
  }

  /**
   * The identity is known (after each sync): tops up this device's key packages and joins the keys of the
   * joined encrypted groups it holds none of (a new device, or one whose state was lost).
   */
  async ready(me: string, joined: string[], keyPackages: boolean): Promise<void> {
    this.#me = me
    if (keyPackages) {
      this.#published = (async () => {
        if (!(await this.#enroll())) {
          this.#hooks.security({ kind: 'approval-needed', iss: me, device: await this.#deviceId() })
        }
        await this.#refill()
      })()
      await this.#published
    }
    for (const gid of joined) {
      if (!this.#encrypted.has(gid)) continue
      const group = this.#group(gid)
      await group.loaded
      if (!group.state.keys) group.soon(0)
    }
  }

  /** The devices `iss` vouches for, verified on this device, with the fingerprint people compare. */
  devices(iss: string): Promise<VerifiedDevices | undefined> {
    return this.#trust.devices(iss)
  }

  /** Devices of this identity that ask to be approved. */
  async pendingDevices(): Promise<DeviceKey[]> {
    return this.#trust.pending(await this.#identity())
  }

  /** Approves another device of this identity (this device must be on its list); this device then adds it
   * to the encrypted groups it holds keys of. */
  async approveDevice(device: string): Promise<VerifiedDevices> {
    const approved = await this.#trust.approve(await this.#identity(), await this.#deviceId(), device)
    this.#keysDue()
    return approved
  }

  /** The identity's devices changed, or a device asks to be approved. */
  async devicesEvent(iss: string, pending: DeviceKey | undefined): Promise<void> {
    if (pending) {
      this.#hooks.security({ kind: 'device-request', iss, device: pending })
      return
    }
    const list = await this.#trust.verified(iss, true)
    if (iss !== this.#me || (await this.#enroll())) return
    const device = await this.#deviceId()
    if (!list?.devices.some((d) => d.device === device)) return
    // Approved: its groups' keys are due (a device of its own adds it, or it joins them itself).
    this.#enrolled = Promise.resolve(true)
    this.#keysDue()
  }

  /** Puts this device on its identity's list, once (see `#enrolled`). */
  #enroll(): Promise<boolean> {
    this.#enrolled ??= (async () =>
      this.#trust.enroll(await this.#identity(), await this.#deviceId()))().catch((error: unknown) => {
      // Asked again next time.
      this.#enrolled = undefined
      throw error
    })
    return this.#enrolled
  }

  /** Every encrypted group this device knows is checked against its roster soon. */
  #keysDue(): void {
    for (const group of this.#groups.values()) {
      group.state.dirty = true
      group.soon(0)
    }
  }

  /** Brings this device's keys of group `gid` up to date: a group it created starts with it as first leaf. */
  async ensure(gid: string): Promise<void> {
    this.#encrypted.add(gid)
    const group = this.#group(gid)
    await group.loaded
    await group.reconcile()
  }

  /** Replaces this device's keys in group `gid` with fresh ones (a commit), after any change that is due. */
  async rotate(gid: string): Promise<void> {
    const group = this.#group(gid)
    await group.loaded
    group.state.rotate = true
    // A reconcile under way may have decided already: this one runs after it.
    await group.settled()
    await group.reconcile()
  }

  /** Resolves once this device's key packages are published (so that a member can add it when it joins). */
  async published(): Promise<void> {
    await this.#published.catch(() => {})
  }

  /** This device joined group `gid`: a member adds it with a Welcome, or it joins the keys by itself. */
  joined(gid: string): void {
    if (!this.#encrypted.has(gid)) return
    this.#group(gid).soon(0)
  }

  /**
   * Hands an event over in its group's order, once commits before it are taken in and it is decrypted.
   * Commits are not handed over: they are the machinery, not the conversation.
   */
  inOrder(event: GroupEvent, deliver: (event: GroupEvent) => void): void {
    const involved = this.#encrypted.has(event.gid) || event.type === 'chat.commit' || 'cipher' in event
    if (!involved && !this.#groups.has(event.gid)) {
      deliver(event)
      return
    }
    this.#encrypted.add(event.gid)
    this.#group(event.gid).inOrder(event, deliver)
  }

  /**
   * Sends a message or an edit to an encrypted group: the keys are brought up to date (members who left
   * removed, members who joined added), the content encrypted, and the send retried when a commit won the
   * race for the epoch (CONFLICT).
   */
  send<R>(
    kind: 'message' | 'edit',
    fields: Outgoing,
    write: (fields: Record<string, unknown>) => Promise<R>,
  ): Promise<R> {
    return this.#group(fields.gid).send(kind === 'edit', fields, write)
  }

  /**
   * A message or edit of an encrypted group as this device can show it: MLS opens each ciphertext once, so
   * history (and this device's own writes) read from what the device kept when it sent or first opened them.
   */
  readable<E extends MessageEvent | EditEvent>(event: E): Promise<E> {
    return readable(this.#persistence, event)
  }

  /**
   * Sends a reaction to an encrypted group: its emoji and way sealed like a message (bound to the group, the
   * message and this identity), kept on this device by its cipher first (it cannot open its own), then
   * written with `write`.
   */
  async sendReaction<R>(
    fields: { gid: string; target: number; emoji: string; remove: boolean },
    write: (wire: { gid: string; target: number; cipher: string }) => Promise<R>,
  ): Promise<R> {
    const reaction = { ...fields, iss: await this.#identity() }
    const { gid, target } = fields
    return this.#group(gid).sendReaction(reaction, async (cipher) => {
      await this.#persistence.rememberReaction(cipher, reaction)
      return write({ gid, target, cipher })
    })
  }

  /**
   * A reaction of an encrypted group as this device can fold it from history: what it kept when it sent or
   * first opened it; undefined when it never could (it is not folded).
   */
  async readableReaction(event: ReactionEvent): Promise<ReactionEvent | undefined> {
    if (event.cipher === undefined) return event
    const kept = await this.#persistence.keptReaction(event.gid, event.cipher)
    return kept && boundTo(kept, event) ? openedReaction(event, kept) : undefined
  }

  /** The group's keys on this device; the first call loads them from the store (`loaded`). */
  #group(gid: string): GroupKeysSync {
    const known = this.#groups.get(gid)
    if (known) return known
    const group = new GroupKeysSync(gid, this.#context)
    this.#groups.set(gid, group)
    return group
  }

  /** Background work's failures reach the app, but not those of a closed client or a lost connection. */
  #report(error: unknown): void {
    if (!(error instanceof ChatError && (error.code === 'CLOSED' || error.code === 'TIMEOUT'))) {
      this.#hooks.report(error)
    }
  }

  /** Tops up this device's key packages (see `refillKeyPackages`). */
  async #refill(): Promise<void> {
    const name = { iss: await this.#identity(), device: await this.#deviceId() }
    const engine = await this.#engineNow()
    const signer = await this.#trust.signer()
    await refillKeyPackages({ server: this.#server, persistence: this.#persistence, engine, name, signer })
  }

  /** The identity the server knows this client as, which names its devices' leaves: the first sync says it. */
  async #identity(): Promise<string> {
    if (this.#me === undefined) await this.#hooks.catchUp()
    if (this.#me === undefined)
      throw new ChatError('NO_KEYS', 'the identity is not known before the first sync')
    return this.#me
  }

  /** This device's id, made once and kept in the store. */
  #deviceId(): Promise<string> {
    this.#device ??= this.#persistence.deviceId()
    return this.#device
  }

  async #engineNow(): Promise<MlsEngine> {
    if (this.#engine) return this.#engine
    throw new ChatError(
      'NO_KEYS',
      'end-to-end encrypted groups need `encryption: { engine }` when connecting',
    )
  }
}
