import { fromBase64, toBase64 } from './bytes.js'
import type { ChatClient } from './client.js'
import { DeviceTrust, type VerifiedDevices } from './device-trust.js'
import { rosterDigest, vouches } from './devices.js'
import { type EncryptionStore, memoryEncryptionStore } from './encryption-store.js'
import { ChatError } from './error.js'
import type { GroupKeys, Leaf, MlsEngine } from './mls.js'
import {
  type AckResults,
  type Attachment,
  type CommitEvent,
  type DeviceKey,
  type EditEvent,
  type GroupEvent,
  limits,
  type MessageEvent,
  type MlsBytes,
  type RevertEvent,
  type RosterLeaf,
} from './protocol.js'
import { putUpload } from './upload.js'

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

/** What a message's ciphertext holds: everything of it the server must not read. */
interface Sealed {
  jti: string
  body: string
  /** Per attachment, in order: what the wire form leaves out. */
  files?: Pick<Attachment, 'name' | 'mime' | 'secret'>[]
}

/** A group's keys on this device. */
interface Ring {
  gid: string
  keys?: GroupKeys
  /** The keys saved on this device, read. */
  loaded: Promise<void>
  /** The group's events wait here for the ones before them: commits change the keys messages need. */
  chain: Promise<void>
  /** Membership changed since the keys were last checked against the server's roster. */
  dirty: boolean
  /** A commit of this device on its way: a commit event arriving meanwhile waits for its answer. */
  committing?: Promise<unknown>
  /** This device's last commit that was not acknowledged (lost, or answered CONFLICT after a lost ack):
   * if the log shows it, it won, and these keys are the group's. */
  unanswered?: { commit: string; keys: GroupKeys }
  reconciling?: Promise<void>
  /** Changes of the keys, one at a time (see `#exclusive`). */
  changing: Promise<unknown>
  /** Sends of this device, one at a time: each is encrypted in the epoch the one before it left. */
  sending: Promise<unknown>
  /** When the group's keys last changed (server time of its last commit seen). */
  changedAt: number
  /** The app asked for this device's keys to be updated. */
  rotate: boolean
  /** Why this device refused the group's latest change of keys: it sends nothing until that is undone. */
  refused?: string
  waiters: Set<() => void>
}

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

interface Hooks {
  request: ChatClient['request']
  /** Reads what this client missed, when a commit it waits for is late. */
  catchUp(): Promise<void>
  /** Places this client's own write in the group's order. */
  wrote(gid: string, seq: number): void
  report(error: unknown): void
  security(notice: SecurityNotice): void
  devicesChanged(devices: VerifiedDevices): void
}

const lowOnKeyPackages = 5
const keyPackageBatch = 20

/**
 * End-to-end encryption for the groups created with it, over MLS: each device holds a leaf of each group's
 * keys; commits change the keys in the group's order (one per epoch, through the server's log); messages
 * and edits travel as MLS ciphertext. Apps see the same messages as in plain groups.
 */
export class GroupEncryption {
  readonly #hooks: Hooks
  readonly #store: EncryptionStore
  readonly #welcomeWaitMs: number
  readonly #rotateAfterMs: number
  readonly #rings = new Map<string, Ring>()
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
    this.#store = options.store ?? memoryEncryptionStore()
    this.#trust = new DeviceTrust(
      (action, fields) => hooks.request(action, fields),
      this.#store,
      () => this.#engineNow(),
      hooks.devicesChanged,
    )
    this.#engine = options.engine
    this.#welcomeWaitMs = options.welcomeWaitMs ?? 3000
    this.#rotateAfterMs = options.rotateAfterMs ?? 24 * 60 * 60 * 1000
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
      const ring = this.#ring(gid)
      await ring.loaded
      if (!ring.keys) this.#soon(ring, 0)
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
    for (const ring of this.#rings.values()) {
      ring.dirty = true
      this.#soon(ring, 0)
    }
  }

  /** Brings this device's keys of group `gid` up to date: a group it created starts with it as first leaf. */
  async ensure(gid: string): Promise<void> {
    this.#encrypted.add(gid)
    const ring = this.#ring(gid)
    await ring.loaded
    await this.#reconcile(ring)
  }

  /** Replaces this device's keys in group `gid` with fresh ones (a commit), after any change that is due. */
  async rotate(gid: string): Promise<void> {
    const ring = this.#ring(gid)
    await ring.loaded
    ring.rotate = true
    // A reconcile under way may have decided already: this one runs after it.
    await ring.reconciling?.catch(() => {})
    await this.#reconcile(ring)
  }

  /** Resolves once this device's key packages are published (so that a member can add it when it joins). */
  async published(): Promise<void> {
    await this.#published.catch(() => {})
  }

  /** This device joined group `gid`: a member adds it with a Welcome, or it joins the keys by itself. */
  joined(gid: string): void {
    if (!this.#encrypted.has(gid)) return
    this.#soon(this.#ring(gid), 0)
  }

  /**
   * Hands an event over in its group's order, once commits before it are taken in and it is decrypted.
   * Commits are not handed over: they are the machinery, not the conversation.
   */
  inOrder(event: GroupEvent, deliver: (event: GroupEvent) => void): void {
    const involved = this.#encrypted.has(event.gid) || event.type === 'chat.commit' || 'cipher' in event
    if (!involved && !this.#rings.has(event.gid)) {
      deliver(event)
      return
    }
    this.#encrypted.add(event.gid)
    const ring = this.#ring(event.gid)
    ring.chain = ring.chain
      .then(async () => {
        // Its answer tells whether a commit arriving now is this device's own, already taken in.
        if (event.type === 'chat.commit') await ring.committing?.catch(() => {})
        return this.#exclusive(ring, () => this.#take(ring, event))
      })
      .then((ready) => {
        if (ready) deliver(ready)
      })
      .catch((error: unknown) => this.#report(error))
  }

  /**
   * Sends a message or an edit to an encrypted group: the keys are brought up to date (members who left
   * removed, members who joined added), the content encrypted, and the send retried when a commit won the
   * race for the epoch (CONFLICT).
   */
  async send<R>(
    kind: 'message' | 'edit',
    fields: { gid: string; jti: string; body: string; rid?: string; attachments?: Attachment[] },
    write: (fields: Record<string, unknown>) => Promise<R>,
  ): Promise<R> {
    const ring = this.#ring(fields.gid)
    const turn = ring.sending
      .then(() => ring.loaded)
      .then(() => this.#sendNow(ring, kind === 'edit', fields, write))
    ring.sending = turn.catch(() => {})
    return turn
  }

  async #sendNow<R>(
    ring: Ring,
    edit: boolean,
    { gid, jti, body, rid, attachments }: Parameters<GroupEncryption['send']>[1],
    write: (fields: Record<string, unknown>) => Promise<R>,
  ): Promise<R> {
    const sealed: Sealed = {
      jti,
      body,
      ...(attachments?.length && {
        files: attachments.map(({ name, mime, secret }) => ({ name, mime, secret })),
      }),
    }
    // This device cannot open its own ciphertext: what it says is kept for history now.
    await this.#remember(gid, sealed, edit)
    const wire = attachments?.map(({ key, size, digest }) => ({ key, size, digest }))
    for (let attempt = 0; ; attempt++) {
      if (ring.refused) {
        throw new ChatError(
          'KEYS_REFUSED',
          `${gid}: this device refused the group's latest key change (${ring.refused})`,
        )
      }
      const due = ring.dirty || !ring.keys || Date.now() - ring.changedAt > this.#rotateAfterMs
      // An update under way (a member joining) is waited for too, so that the message reaches the joiner.
      if (due) await this.#reconcile(ring)
      else await ring.reconciling?.catch(() => {})
      const engine = await this.#engineNow()
      const cipher = await this.#exclusive(ring, async () => {
        const keys = ring.keys
        if (!keys) throw new ChatError('NO_KEYS', `${gid}: this device holds none of the group's keys yet`)
        const encrypted = await engine.encrypt(keys, new TextEncoder().encode(JSON.stringify(sealed)))
        await this.#adopt(ring, encrypted.keys)
        return encrypted.cipher
      })
      try {
        return await write({
          gid,
          jti,
          body: '',
          cipher: toBase64(cipher),
          ...(rid !== undefined && { rid }),
          ...(wire?.length && { attachments: wire }),
        })
      } catch (error) {
        // Another commit took the epoch, or a member left: take it in, and encrypt again.
        if (!(error instanceof ChatError && error.code === 'CONFLICT') || attempt >= 5) throw error
        ring.dirty = true
      }
    }
  }

  /** Takes one event in: a commit changes the keys; a message or edit is decrypted; a membership change
   * makes the keys due for a check. Returns what the app is handed, if anything. */
  async #take(ring: Ring, event: GroupEvent): Promise<GroupEvent | undefined> {
    switch (event.type) {
      case 'chat.commit':
        // Without an engine this client does not take part: messages stay unreadable.
        if (this.#engine) await this.#takeCommit(ring, event)
        return undefined
      case 'chat.revert':
        if (this.#engine) await this.#takeRevert(ring, event)
        return undefined
      case 'chat.message':
      case 'chat.edit':
        return event.cipher === undefined ? event : this.#open(ring, event)
      case 'chat.join':
      case 'chat.leave':
      case 'chat.ban': {
        const gone = event.type !== 'chat.join' && event.iss === this.#me
        if (gone) await this.#drop(ring)
        else if (event.iss === this.#me) {
          // Another device of this identity joined: this one joins the keys too.
          if (!ring.keys) this.#soon(ring, 0)
        } else {
          ring.dirty = true
          if (ring.keys) this.#soon(ring, Math.random() * 300)
        }
        return event
      }
      default:
        return event
    }
  }

  async #takeCommit(ring: Ring, event: CommitEvent): Promise<void> {
    ring.changedAt = Date.parse(event.iat) || Date.now()
    const engine = await this.#engineNow()
    const keys = ring.keys
    if (keys === undefined) {
      const device = await this.#deviceId()
      const welcomed = event.added.some((leaf) => leaf.iss === this.#me && leaf.device === device)
      if (welcomed && event.welcome) await this.#welcome(ring, event)
      return
    }
    if (event.epoch <= keys.epoch) return
    if (event.epoch !== keys.epoch + 1) {
      // A commit went missing here: the keys are of no use until this device joins again.
      await this.#drop(ring)
      this.#soon(ring, 0)
      throw new ChatError('NO_KEYS', `${ring.gid}: missed the commits before epoch ${event.epoch}`)
    }
    const commit = await this.#fetch(ring.gid, event.commit)
    if (ring.unanswered?.commit === toBase64(commit)) {
      await this.#adopt(ring, ring.unanswered.keys, true)
      return
    }
    let processed: Awaited<ReturnType<MlsEngine['process']>>
    try {
      processed = await engine.process(keys, commit)
    } catch (error) {
      return this.#refuse(
        ring,
        event,
        `it does not process: ${error instanceof Error ? error.message : error}`,
      )
    }
    const { keys: next, added, removed } = processed
    if (removed.some((leaf) => leaf.leaf === keys.leaf)) {
      await this.#drop(ring)
      return
    }
    // The server vouches for what the commit added and removed, and for the whole tree it makes; every leaf
    // must be a device its owner vouches for. Any difference: the commit is refused, not applied.
    const reason = await this.#disagreement(
      await engine.leaves(next),
      event.tree,
      same(added, event.added) && same(removed, event.removed),
    )
    if (reason) return this.#refuse(ring, event, reason)
    await this.#adopt(ring, next, true)
    this.#announce(added)
  }

  /** Why a tree cannot be trusted: not what the server's event said, not the roster it vouches for, or a leaf
   * whose owner does not vouch for its device; undefined when it can. */
  async #disagreement(leaves: Leaf[], tree: string, asAnnounced: boolean): Promise<string | undefined> {
    if (!asAnnounced) return "the devices it adds or removes differ from the server's account of it"
    if ((await rosterDigest(leaves)) !== tree) return "the group's tree differs from the server's roster"
    const stranger = await this.#trust.vouched(leaves).catch((error: unknown) => {
      throw error instanceof ChatError ? error : new ChatError('BAD_KEYS', String(error))
    })
    if (stranger) return `device ${stranger.device} of ${stranger.iss} is not on its owner's device list`
    return undefined
  }

  /** Refuses a commit: not applied; the app is told, the server asked to undo it, and nothing is sent until
   * it is undone (or the keys move on without it). */
  async #refuse(ring: Ring, event: CommitEvent, reason: string): Promise<void> {
    ring.refused = reason
    this.#hooks.security({ kind: 'refused', gid: ring.gid, iss: event.iss, epoch: event.epoch, reason })
    await this.#hooks
      .request('refuse', { gid: ring.gid, epoch: event.epoch, reason: reason.slice(0, 200) })
      .catch((error: unknown) => {
        // CONFLICT: another member refused it first (its revert is on its way), or the keys moved on.
        if (!(error instanceof ChatError && error.code === 'CONFLICT')) this.#report(error)
      })
  }

  /** A member refused the group's latest commit: keys that took it in go back to the state before it. */
  async #takeRevert(ring: Ring, event: RevertEvent): Promise<void> {
    const { gid, iss, by, epoch, reason } = event
    if (ring.keys?.epoch === epoch) {
      const before = await this.#store.get(`group/${gid}/previous`)
      const engine = await this.#engineNow()
      if (before === undefined) await this.#drop(ring)
      else {
        ring.keys = undefined
        await this.#adopt(ring, await engine.load(before))
      }
    }
    ring.refused = undefined
    ring.unanswered = undefined
    ring.dirty = true
    this.#hooks.security({ kind: 'reverted', gid, iss, by, epoch, reason })
  }

  /** Members are told of devices that entered the group's keys. */
  #announce(added: Leaf[]): void {
    for (const iss of new Set(added.map((leaf) => leaf.iss))) {
      this.#trust
        .devices(iss)
        .then((devices) => devices && this.#hooks.devicesChanged(devices))
        .catch((error: unknown) => this.#report(error))
    }
  }

  async #welcome(ring: Ring, event: CommitEvent): Promise<void> {
    const engine = await this.#engineNow()
    if (event.welcome === undefined) return
    const bytes = await this.#fetch(ring.gid, event.welcome)
    for (const ref of await engine.welcomeRefs(bytes)) {
      const name = `key-package/${ref}`
      const secret = await this.#store.get(name)
      if (secret === undefined) continue
      const keys = await engine.joinFromWelcome(bytes, secret)
      await this.#store.delete(name)
      // Every leaf, at every index, must be what the server vouches for at that epoch, and vouched for by its
      // owner: a hidden leaf would read everything this device says.
      const reason = await this.#disagreement(await engine.leaves(keys), event.tree, true)
      if (reason) {
        ring.refused = reason
        this.#hooks.security({ kind: 'refused', gid: ring.gid, iss: event.iss, epoch: event.epoch, reason })
        return
      }
      await this.#adopt(ring, keys)
      this.#refill().catch((error: unknown) => this.#report(error))
      return
    }
  }

  async #open<E extends MessageEvent | EditEvent>(ring: Ring, event: E): Promise<E> {
    const keys = ring.keys
    if (keys === undefined || event.cipher === undefined) return this.readable(event)
    try {
      const engine = await this.#engineNow()
      const decrypted = await engine.decrypt(keys, fromBase64(event.cipher) ?? new Uint8Array())
      await this.#adopt(ring, decrypted.keys)
      const sealed = JSON.parse(new TextDecoder().decode(decrypted.plaintext)) as Sealed
      if (sealed.jti !== event.jti || decrypted.sender.iss !== event.iss)
        throw new Error('names another message')
      await this.#remember(event.gid, sealed, event.type === 'chat.edit')
      return opened(event, sealed)
    } catch {
      // This device's own writes, and anything sent before it held the keys, do not open here.
      return this.readable(event)
    }
  }

  /**
   * A message or edit of an encrypted group as this device can show it: MLS opens each ciphertext once, so
   * history (and this device's own writes) read from what the device kept when it sent or first opened them.
   */
  async readable<E extends MessageEvent | EditEvent>(event: E): Promise<E> {
    if (event.cipher === undefined) return event
    const kept = await this.#store.get(`message/${event.gid}/${event.jti}`)
    if (kept === undefined || event.type === 'chat.edit') {
      const { cipher, ...rest } = event
      return { ...rest, body: '', unreadable: true } as unknown as E
    }
    return opened(event, JSON.parse(new TextDecoder().decode(kept)) as Sealed)
  }

  /** Keeps what a message says (an edit: its new body), for history. */
  async #remember(gid: string, sealed: Sealed, edit: boolean): Promise<void> {
    const name = `message/${gid}/${sealed.jti}`
    const earlier = edit ? await this.#store.get(name) : undefined
    const kept = earlier
      ? { ...(JSON.parse(new TextDecoder().decode(earlier)) as Sealed), body: sealed.body }
      : sealed
    await this.#store.set(name, new TextEncoder().encode(JSON.stringify(kept)))
  }

  /**
   * Brings the group's keys in line with its membership: joins them when this device holds none, waits
   * for the commits the server has ordered, then commits the removal of leaves of members who left and
   * the addition of joined members who hold none (or a key update when one is due). Runs once at a time.
   */
  #reconcile(ring: Ring): Promise<void> {
    ring.reconciling ??= this.#reconcileNow(ring).finally(() => {
      ring.reconciling = undefined
    })
    return ring.reconciling
  }

  async #reconcileNow(ring: Ring): Promise<void> {
    const engine = await this.#engineNow()
    const claimed = new Map<string, Uint8Array[]>()
    for (let attempt = 0; attempt < 8; attempt++) {
      ring.dirty = false
      const roster = await this.#hooks.request('roster', { gid: ring.gid })
      if (!ring.keys) {
        if (!(await this.#enter(ring, roster))) return
        continue
      }
      await this.#caughtUp(ring, roster.epoch)
      const keys = ring.keys
      if (!keys || keys.epoch !== roster.epoch) continue
      const wanted = [...roster.missing]
      // This identity's own vouched devices that hold no leaf are added by the one that does.
      if (await this.#ownDevicesMissing(roster.leaves)) wanted.push(await this.#identity())
      for (const iss of wanted) {
        if (!claimed.has(iss)) claimed.set(iss, await this.#claim(ring.gid, iss, roster.leaves))
      }
      const add = wanted.flatMap((iss) => claimed.get(iss) ?? [])
      const remove = roster.stale
      const rotate = ring.rotate || Date.now() - ring.changedAt > this.#rotateAfterMs
      if (add.length === 0 && remove.length === 0 && !rotate) return
      if (await this.#commit(ring, await engine.commit(keys, { add, remove }))) {
        ring.rotate = false
        for (const iss of wanted) claimed.delete(iss)
        if (!ring.dirty) return
      }
    }
    ring.dirty = true
    throw new ChatError('CONFLICT', `${ring.gid}: the group's keys kept changing; try again`)
  }

  /** Joins the keys: the creator starts them; anyone else waits for a Welcome, then joins by itself. A
   * device no list vouches for yet waits for its approval. */
  async #enter(ring: Ring, roster: AckResults['roster']): Promise<boolean> {
    if (!(await this.#enroll())) return false
    const engine = await this.#engineNow()
    const me = { iss: await this.#identity(), device: await this.#deviceId() }
    const signer = await this.#trust.signer()
    if (roster.epoch === 0) {
      const keys = await engine.createGroup(ring.gid, me, signer)
      try {
        await this.#commit(ring, await engine.commit(keys, {}))
      } catch (error) {
        // Only the creator starts the keys; anyone else waits for it.
        if (!(error instanceof ChatError && error.code === 'FORBIDDEN')) throw error
        return false
      }
      return true
    }
    if (await this.#waitFor(ring, () => ring.keys !== undefined, this.#welcomeWaitMs)) return true
    if (roster.info === undefined) return false
    const old = roster.leaves.find((leaf) => leaf.iss === me.iss && leaf.device === me.device)
    const made = await engine.joinExternal(await this.#fetch(ring.gid, roster.info), me, signer, old?.leaf)
    const others = (await engine.leaves(made.keys)).filter((leaf) => leaf.leaf !== made.keys.leaf)
    const kept = roster.leaves.filter((leaf) => leaf.leaf !== old?.leaf)
    const reason = same(others, kept) ? await this.#trust.vouched(others) : 'its tree is not the roster'
    if (reason) {
      const why =
        typeof reason === 'string' ? reason : `device ${reason.device} of ${reason.iss} is not vouched for`
      throw new ChatError('BAD_KEYS', `${ring.gid}: the group info cannot be trusted: ${why}`)
    }
    await this.#commit(ring, made)
    return true
  }

  /** Sends a commit; false when another took the epoch first (CONFLICT). */
  async #commit(ring: Ring, made: Awaited<ReturnType<MlsEngine['commit']>>): Promise<boolean> {
    const parts = await this.#parts(ring.gid, made)
    const sent = this.#hooks.request('commit', { gid: ring.gid, ...parts }, { once: true })
    const landed = sent.then(({ seq }) =>
      this.#exclusive(ring, async () => {
        ring.changedAt = Date.now()
        await this.#adopt(ring, made.keys, true)
        this.#hooks.wrote(ring.gid, seq)
      }),
    )
    ring.committing = landed
    try {
      await landed
      return true
    } catch (error) {
      ring.unanswered = { commit: toBase64(made.commit), keys: made.keys }
      if (error instanceof ChatError && error.code === 'CONFLICT') return false
      throw error
    } finally {
      ring.committing = undefined
    }
  }

  /** Whether a device this identity vouches for holds no leaf of the group. */
  async #ownDevicesMissing(leaves: RosterLeaf[]): Promise<boolean> {
    const me = await this.#identity()
    const list = await this.#trust.verified(me)
    return list?.devices.some((d) => !leaves.some((l) => l.iss === me && l.device === d.device)) ?? false
  }

  /** Key packages of every device of `iss` holding no leaf that has one, each of a device its owner vouches
   * for; none when it has none left. */
  async #claim(gid: string, iss: string, leaves: RosterLeaf[]): Promise<Uint8Array[]> {
    try {
      const have = leaves.filter((leaf) => leaf.iss === iss).map((leaf) => leaf.device)
      const { packages } = await this.#hooks.request('claim', { gid, iss, ...(have.length > 0 && { have }) })
      const list = await this.#trust.verified(iss, true)
      const engine = await this.#engineNow()
      const vouched = await Promise.all(
        packages.map(async ({ package: text }) => {
          const bytes = fromBase64(text)
          const read = bytes && (await engine.readKeyPackage(bytes))
          return bytes && read?.iss === iss && vouches(list, read) ? [bytes] : []
        }),
      )
      return vouched.flat()
    } catch (error) {
      // It will join the keys by itself once it has a device online.
      if (error instanceof ChatError && (error.code === 'NO_KEY_PACKAGES' || error.code === 'FORBIDDEN'))
        return []
      throw error
    }
  }

  /** The commit's parts, inline while they fit one frame, the rest uploaded. */
  async #parts(
    gid: string,
    made: { commit: Uint8Array; welcome?: Uint8Array; info: Uint8Array },
  ): Promise<{ commit: MlsBytes; welcome?: MlsBytes; info: MlsBytes }> {
    // The frame carries parts inline up to one part's limit in all; the rest go through storage.
    let budget = limits.mlsInlineChars
    const place = async (bytes: Uint8Array): Promise<MlsBytes> => {
      const data = toBase64(bytes)
      if (data.length <= budget) {
        budget -= data.length
        return { data }
      }
      const upload = await this.#hooks.request('attachment', { gid, size: bytes.byteLength })
      await putUpload(upload, new Uint8Array(bytes), 'key change')
      return { key: upload.key }
    }
    const commit = await place(made.commit)
    const welcome = made.welcome && (await place(made.welcome))
    const info = await place(made.info)
    return { commit, ...(welcome && { welcome }), info }
  }

  async #fetch(gid: string, part: MlsBytes): Promise<Uint8Array> {
    if ('data' in part) {
      const bytes = fromBase64(part.data)
      if (bytes === undefined) throw new ChatError('BAD_KEYS', `${gid}: a key change is not base64`)
      return bytes
    }
    const link = await this.#hooks.request('download', { gid, key: part.key })
    const response = await fetch(link.url).catch((error: unknown) => {
      throw new ChatError('DOWNLOAD_FAILED', `${gid}: a key change did not download: ${String(error)}`)
    })
    if (!response.ok)
      throw new ChatError('DOWNLOAD_FAILED', `${gid}: a key change was answered ${response.status}`)
    return new Uint8Array(await response.arrayBuffer())
  }

  /** Waits until this device's keys reach `epoch` (the commits are on their way), nudging catch-up once. */
  async #caughtUp(ring: Ring, epoch: number): Promise<void> {
    const reached = () => ring.keys === undefined || ring.keys.epoch >= epoch
    if (await this.#waitFor(ring, reached, 1000)) return
    await this.#hooks.catchUp().catch(() => {})
    if (!(await this.#waitFor(ring, reached, 10_000))) {
      throw new ChatError('TIMEOUT', `${ring.gid}: the group's commits up to epoch ${epoch} did not arrive`)
    }
  }

  #waitFor(ring: Ring, done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return
        finish(true)
      }
      const finish = (result: boolean) => {
        clearTimeout(timer)
        ring.waiters.delete(check)
        resolve(result)
      }
      const timer = setTimeout(() => finish(done()), ms)
      ring.waiters.add(check)
    })
  }

  /** Reconciles soon, in the background (a membership change, a join). */
  #soon(ring: Ring, delayMs: number): void {
    if (!this.#engine) return
    setTimeout(() => {
      ring.loaded.then(() => this.#reconcile(ring)).catch((error: unknown) => this.#report(error))
    }, delayMs)
  }

  /** Background work's failures reach the app, but not those of a closed client or a lost connection. */
  #report(error: unknown): void {
    if (!(error instanceof ChatError && (error.code === 'CLOSED' || error.code === 'TIMEOUT'))) {
      this.#hooks.report(error)
    }
  }

  /**
   * Runs one change of the group's keys at a time: decrypting, encrypting and committing each make a new
   * state from the current one, and two made from the same state would lose one's ratchet steps (and reuse
   * a key and nonce, for two encryptions).
   */
  #exclusive<T>(ring: Ring, change: () => Promise<T>): Promise<T> {
    const turn = ring.changing.then(change)
    ring.changing = turn.catch(() => {})
    return turn
  }

  /** Makes `keys` the group's; `changed` (a commit taken in) keeps the state before it, in case a member
   * refuses the commit and the group goes back. */
  async #adopt(ring: Ring, keys: GroupKeys, changed = false): Promise<void> {
    // Keys never go back to an earlier epoch (a new device's or a re-joined one's start anew from none).
    if (ring.keys && keys.epoch < ring.keys.epoch) return
    const engine = await this.#engineNow()
    if (changed && ring.keys)
      await this.#store.set(`group/${ring.gid}/previous`, await engine.save(ring.keys))
    ring.keys = keys
    ring.refused = undefined
    await this.#store.set(`group/${ring.gid}`, await engine.save(keys))
    for (const waiter of [...ring.waiters]) waiter()
  }

  async #drop(ring: Ring): Promise<void> {
    ring.keys = undefined
    await this.#store.delete(`group/${ring.gid}`)
    await this.#store.delete(`group/${ring.gid}/previous`)
  }

  /** The group's keys on this device; the first call loads them from the store (`loaded`). */
  #ring(gid: string): Ring {
    const known = this.#rings.get(gid)
    if (known) return known
    const ring: Ring = {
      gid,
      loaded: Promise.resolve(),
      chain: Promise.resolve(),
      dirty: true,
      sending: Promise.resolve(),
      changing: Promise.resolve(),
      changedAt: Date.now(),
      rotate: false,
      waiters: new Set(),
    }
    this.#rings.set(gid, ring)
    ring.loaded = (async () => {
      const saved = await this.#store.get(`group/${gid}`)
      if (saved !== undefined && this.#engine) ring.keys = await this.#engine.load(saved)
    })()
    ring.chain = ring.loaded.catch((error: unknown) => this.#report(error))
    return ring
  }

  /**
   * Publishes key packages when fewer than a few are left, keeping their secrets to join by Welcome, and
   * forgets the secrets of packages past their lifetime (nobody can add them any more).
   */
  async #refill(): Promise<void> {
    const device = await this.#deviceId()
    const index = await this.#keyPackageIndex()
    const now = Date.now() / 1000
    for (const [ref, notAfter] of Object.entries(index)) {
      if (notAfter > now) continue
      await this.#store.delete(`key-package/${ref}`)
      delete index[ref]
    }
    const { available } = await this.#hooks.request('keys', { device, packages: [] })
    if (available < lowOnKeyPackages) {
      const engine = await this.#engineNow()
      const name = { iss: await this.#identity(), device }
      const signer = await this.#trust.signer()
      const made = []
      for (let i = available; i < keyPackageBatch; i++) made.push(await engine.makeKeyPackage(name, signer))
      for (const { ref, secret, package: bytes } of made) {
        await this.#store.set(`key-package/${ref}`, secret)
        index[ref] = (await engine.readKeyPackage(bytes))?.lifetime.notAfter ?? now
      }
      await this.#hooks.request('keys', { device, packages: made.map((item) => toBase64(item.package)) })
    }
    await this.#store.set('key-packages', new TextEncoder().encode(JSON.stringify(index)))
  }

  /** When each key package secret this device keeps stops being valid (seconds), by ref. */
  async #keyPackageIndex(): Promise<Record<string, number>> {
    const saved = await this.#store.get('key-packages')
    return saved === undefined ? {} : (JSON.parse(new TextDecoder().decode(saved)) as Record<string, number>)
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
    this.#device ??= (async () => {
      const saved = await this.#store.get('device')
      if (saved !== undefined) return new TextDecoder().decode(saved)
      const id = toBase64(crypto.getRandomValues(new Uint8Array(12)))
        .replaceAll('+', '-')
        .replaceAll('/', '_')
      await this.#store.set('device', new TextEncoder().encode(id))
      return id
    })()
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

/** The event with what its ciphertext held in place of the ciphertext. */
function opened<E extends MessageEvent | EditEvent>(event: E, sealed: Sealed): E {
  const { cipher, ...rest } = event
  const attachments =
    event.type === 'chat.message' && event.attachments
      ? event.attachments.map((wire, i) => ({ ...wire, ...sealed.files?.[i] }) as Attachment)
      : undefined
  return { ...rest, body: sealed.body, ...(attachments && { attachments }) } as unknown as E
}

/** Whether two lists hold the same leaves: index, identity, device and key. */
function same(a: readonly RosterLeaf[], b: readonly RosterLeaf[]): boolean {
  const rows = (leaves: readonly RosterLeaf[]) =>
    JSON.stringify([...leaves].sort((x, y) => x.leaf - y.leaf).map((l) => [l.leaf, l.iss, l.device, l.key]))
  return rows(a) === rows(b)
}
