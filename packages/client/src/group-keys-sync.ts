import { toBase64 } from './bytes.js'
import { ChatError } from './error.js'
import {
  GroupKeysState,
  type KeysToSave,
  opened,
  sealedOf,
  treeDisagreement,
  unreadable,
} from './group-keys.js'
import { reconcileKeys } from './group-keys-reconcile.js'
import type { KeyPersistence } from './key-persistence.js'
import type { KeysContext, Outgoing } from './keys-context.js'
import type { Committed, Leaf, MlsEngine } from './mls.js'
import type {
  CommitEvent,
  EditEvent,
  GroupEvent,
  MessageEvent,
  ReactionEvent,
  RevertEvent,
} from './protocol.js'
import { openReaction, sealReaction } from './reaction-seal.js'
import { boundTo, openedReaction, type SealedReaction } from './sealed-reactions.js'

/**
 * One group's keys kept in step with the group: events taken in in order, sends encrypted one at a time,
 * and the keys reconciled with the roster, driving the I/O-free `GroupKeysState` through the server port
 * and persistence. A state is saved before anything it encrypted is sent.
 */
export class GroupKeysSync {
  readonly state: GroupKeysState
  readonly #context: KeysContext
  /** The keys saved on this device, read. */
  readonly loaded: Promise<void>
  /** The group's events wait here for the ones before them: commits change the keys messages need. */
  #chain: Promise<unknown>
  /** A commit of this device on its way: a commit event arriving meanwhile waits for its answer. */
  #committing: Promise<unknown> | undefined
  #reconciling: Promise<void> | undefined
  /** Changes of the keys, one at a time (see `#exclusive`). */
  #changing: Promise<unknown> = Promise.resolve()
  /** Sends of this device, one at a time: each is encrypted in the epoch the one before it left. */
  #sending: Promise<unknown> = Promise.resolve()

  constructor(gid: string, context: KeysContext) {
    const state = new GroupKeysState(gid)
    this.state = state
    this.#context = context
    this.loaded = (async () => {
      if (context.engine === undefined) return
      const keys = await context.persistence.loadGroup(gid)
      if (keys !== undefined) state.keys = keys
    })()
    this.#chain = this.loaded.catch((error: unknown) => context.report(error))
  }

  get gid(): string {
    return this.state.gid
  }

  /** Takes `event` in after the events before it, handing `deliver` what the app sees of it. */
  inOrder(event: GroupEvent, deliver: (event: GroupEvent) => void): void {
    this.#chain = this.#chain
      .then(async () => {
        // Its answer tells whether a commit arriving now is this device's own, already taken in.
        if (event.type === 'chat.commit') await this.#committing?.catch(() => {})
        return this.#exclusive(() => this.#take(event))
      })
      .then((ready) => {
        if (ready) deliver(ready)
      })
      .catch((error: unknown) => this.#context.report(error))
  }

  /** Encrypts and writes a message or edit, retried when a commit won the race for the epoch (CONFLICT). */
  send<R>(
    edit: boolean,
    fields: Outgoing,
    write: (fields: Record<string, unknown>) => Promise<R>,
  ): Promise<R> {
    const turn = this.#sending.then(() => this.loaded).then(() => this.#sendNow(edit, fields, write))
    this.#sending = turn.catch(() => {})
    return turn
  }

  /**
   * Encrypts and writes a reaction (bound to its group, message and member), retried like a message; `write`
   * is handed the cipher, and sends it.
   */
  sendReaction<R>(reaction: SealedReaction, write: (cipher: string) => Promise<R>): Promise<R> {
    const turn = this.#sending
      .then(() => this.loaded)
      .then(() => this.#writeSealed((engine) => sealReaction(this.state, engine, reaction), write))
    this.#sending = turn.catch(() => {})
    return turn
  }

  async #sendNow<R>(
    edit: boolean,
    { gid, jti, body, rid, attachments }: Outgoing,
    write: (fields: Record<string, unknown>) => Promise<R>,
  ): Promise<R> {
    const sealed = sealedOf(jti, body, attachments)
    // This device cannot open its own ciphertext: what it says is kept for history now.
    await this.#context.persistence.remember(gid, sealed, edit)
    const wire = attachments?.map(({ key, size, digest }) => ({ key, size, digest }))
    return this.#writeSealed(
      (engine) => this.state.seal(engine, sealed),
      (cipher) =>
        write({
          gid,
          jti,
          body: '',
          cipher,
          ...(rid !== undefined && { rid }),
          ...(wire?.length && { attachments: wire }),
        }),
    )
  }

  /** Brings the keys up to date, encrypts with them (saved first) and writes; encrypted again on CONFLICT. */
  async #writeSealed<R>(
    seal: (engine: MlsEngine) => Promise<{ cipher: Uint8Array; save?: KeysToSave }>,
    write: (cipher: string) => Promise<R>,
  ): Promise<R> {
    const { state, gid } = this
    for (let attempt = 0; ; attempt++) {
      if (state.refused) {
        throw new ChatError(
          'KEYS_REFUSED',
          `${gid}: this device refused the group's latest key change (${state.refused})`,
        )
      }
      const due = state.dirty || !state.keys || state.rotationDue(this.#context.rotateAfterMs)
      // An update under way (a member joining) is waited for too, so that the message reaches the joiner.
      if (due) await this.reconcile()
      else await this.#reconciling?.catch(() => {})
      const engine = await this.#context.engineNow()
      const cipher = await this.#exclusive(async () => {
        const sealedNow = await seal(engine)
        await this.#save(sealedNow.save)
        return sealedNow.cipher
      })
      try {
        return await write(toBase64(cipher))
      } catch (error) {
        // Another commit took the epoch, or a member left: take it in, and encrypt again.
        if (!(error instanceof ChatError && error.code === 'CONFLICT') || attempt >= 5) throw error
        state.dirty = true
      }
    }
  }

  /** Takes one event in; returns what the app is handed, if anything (commits are the machinery). */
  async #take(event: GroupEvent): Promise<GroupEvent | undefined> {
    const { state } = this
    const { engine } = this.#context
    switch (event.type) {
      case 'chat.commit':
        // Without an engine this client does not take part: messages stay unreadable.
        if (engine) await this.#takeCommit(engine, event)
        return undefined
      case 'chat.revert':
        if (engine) await this.#takeRevert(event)
        return undefined
      case 'chat.message':
      case 'chat.edit':
        return event.cipher === undefined ? event : this.#open(event)
      case 'chat.reaction':
        return event.cipher === undefined ? event : this.#openReaction(event)
      case 'chat.join':
      case 'chat.leave':
      case 'chat.ban': {
        const me = this.#context.me()
        if (event.type !== 'chat.join' && event.iss === me) await this.#drop()
        else if (event.iss === me) {
          // Another device of this identity joined: this one joins the keys too.
          if (!state.keys) this.soon(0)
        } else {
          state.dirty = true
          if (state.keys) this.soon(Math.random() * 300)
        }
        return event
      }
      default:
        return event
    }
  }

  async #takeCommit(engine: MlsEngine, event: CommitEvent): Promise<void> {
    const state = this.state
    const device = state.keys === undefined ? await this.#context.deviceId() : undefined
    const welcomed = event.added.some((leaf) => leaf.iss === this.#context.me() && leaf.device === device)
    switch (state.commitStep(event, welcomed)) {
      case 'ignore':
        return
      case 'welcome':
        return this.#welcome(engine, event)
      case 'gap':
        await this.#drop()
        this.soon(0)
        throw new ChatError('NO_KEYS', `${this.gid}: missed the commits before epoch ${event.epoch}`)
      case 'process':
        break
    }
    const outcome = await state.processCommit(
      engine,
      event,
      await this.#context.server.fetch(this.gid, event.commit),
    )
    switch (outcome.kind) {
      case 'own':
        return this.#save(outcome.save)
      case 'removed':
        return this.#drop()
      case 'refuse':
        return this.#refuse(event, outcome.reason)
      case 'verify': {
        // Every leaf must be a device its owner vouches for: any other, and the commit is refused, not applied.
        const stranger = await this.#stranger(outcome.leaves)
        if (stranger) return this.#refuse(event, stranger)
        await this.#save(state.adopt(outcome.next, true))
        this.#announce(outcome.added)
      }
    }
  }

  /** Why some leaf cannot be trusted: a device not on its owner's list; undefined when all are. */
  async #stranger(leaves: Leaf[]): Promise<string | undefined> {
    const stranger = await this.#context.trust.vouched(leaves).catch((error: unknown) => {
      throw error instanceof ChatError ? error : new ChatError('BAD_KEYS', String(error))
    })
    return stranger && `device ${stranger.device} of ${stranger.iss} is not on its owner's device list`
  }

  /** Refuses a commit: not applied; the app is told, the server asked to undo it, and nothing is sent until
   * it is undone (or the keys move on without it). */
  async #refuse(event: CommitEvent, reason: string): Promise<void> {
    this.state.refused = reason
    this.#context.security({ kind: 'refused', gid: this.gid, iss: event.iss, epoch: event.epoch, reason })
    await this.#context.server.refuse(this.gid, event.epoch, reason).catch((error: unknown) => {
      // CONFLICT: another member refused it first (its revert is on its way), or the keys moved on.
      if (!(error instanceof ChatError && error.code === 'CONFLICT')) this.#context.report(error)
    })
  }

  /** A member refused the group's latest commit: keys that took it in go back to the state before it. */
  async #takeRevert({ gid, iss, by, epoch, reason }: RevertEvent): Promise<void> {
    if (this.state.tookIn(epoch)) {
      const previous = await this.#context.persistence.loadPrevious(gid)
      const save = this.state.revert(previous)
      if (save) await this.#save(save)
      else await this.#drop()
    } else this.state.undone()
    this.#context.security({ kind: 'reverted', gid, iss, by, epoch, reason })
  }

  /** Members are told of devices that entered the group's keys. */
  #announce(added: Leaf[]): void {
    for (const iss of new Set(added.map((leaf) => leaf.iss))) {
      this.#context.trust
        .devices(iss)
        .then((devices) => devices && this.#context.devicesChanged(devices))
        .catch((error: unknown) => this.#context.report(error))
    }
  }

  async #welcome(engine: MlsEngine, event: CommitEvent): Promise<void> {
    if (event.welcome === undefined) return
    const { persistence } = this.#context
    const bytes = await this.#context.server.fetch(this.gid, event.welcome)
    for (const ref of await engine.welcomeRefs(bytes)) {
      const secret = await persistence.keyPackageSecret(ref)
      if (secret === undefined) continue
      const keys = await engine.joinFromWelcome(bytes, secret)
      await persistence.forgetKeyPackage(ref)
      // Every leaf, at every index, must be what the server vouches for at that epoch, and vouched for by its
      // owner: a hidden leaf would read everything this device says.
      const leaves = await engine.leaves(keys)
      const reason = (await treeDisagreement(leaves, event.tree, true)) ?? (await this.#stranger(leaves))
      if (reason) {
        this.state.refused = reason
        this.#context.security({ kind: 'refused', gid: this.gid, iss: event.iss, epoch: event.epoch, reason })
        return
      }
      await this.#save(this.state.adopt(keys))
      this.#context.refill()
      return
    }
  }

  async #open<E extends MessageEvent | EditEvent>(event: E): Promise<E> {
    const engine = this.#context.engine
    const result = engine && (await this.state.open(engine, event))
    if (result === undefined) return readable(this.#context.persistence, event)
    await this.#save(result.save)
    if (result.sealed === undefined) return readable(this.#context.persistence, event)
    await this.#context.persistence.remember(event.gid, result.sealed, event.type === 'chat.edit')
    return opened(event, result.sealed)
  }

  /** A reaction as this device can fold it: what it kept (its own, or opened before), or opened now; undefined
   * (dropped) when it does not open here or is bound to another message or member. */
  async #openReaction(event: ReactionEvent): Promise<ReactionEvent | undefined> {
    const { persistence, engine } = this.#context
    const cipher = event.cipher ?? ''
    const kept = await persistence.keptReaction(event.gid, cipher)
    if (kept !== undefined) return boundTo(kept, event) ? openedReaction(event, kept) : undefined
    const result = engine && (await openReaction(this.state, engine, event))
    if (result === undefined) return undefined
    await this.#save(result.save)
    if (result.reaction === undefined) return undefined
    await persistence.rememberReaction(cipher, result.reaction)
    return openedReaction(event, result.reaction)
  }

  /**
   * Brings the group's keys in line with its membership: joins them when this device holds none, waits
   * for the commits the server has ordered, then commits the removal of leaves of members who left and
   * the addition of joined members who hold none (or a key update when one is due). Runs once at a time.
   */
  reconcile(): Promise<void> {
    this.#reconciling ??= reconcileKeys(
      { gid: this.gid, state: this.state, commit: (made) => this.#commit(made) },
      this.#context,
    ).finally(() => {
      this.#reconciling = undefined
    })
    return this.#reconciling
  }

  /** Resolves once a reconcile under way (which may have decided already) is over. */
  async settled(): Promise<void> {
    await this.#reconciling?.catch(() => {})
  }

  /** Sends a commit; false when another took the epoch first (CONFLICT). */
  async #commit(made: Committed): Promise<boolean> {
    const { state } = this
    const landed = this.#context.server.commit(this.gid, made).then(({ seq }) =>
      this.#exclusive(async () => {
        state.changedAt = Date.now()
        await this.#save(state.adopt(made.keys, true))
        this.#context.wrote(this.gid, seq)
      }),
    )
    this.#committing = landed
    try {
      await landed
      return true
    } catch (error) {
      state.unanswered = { commit: toBase64(made.commit), keys: made.keys }
      if (error instanceof ChatError && error.code === 'CONFLICT') return false
      throw error
    } finally {
      this.#committing = undefined
    }
  }

  /** Reconciles soon, in the background (a membership change, a join). */
  soon(delayMs: number): void {
    if (!this.#context.engine) return
    setTimeout(() => {
      this.loaded.then(() => this.reconcile()).catch((error: unknown) => this.#context.report(error))
    }, delayMs)
  }

  /**
   * Runs one change of the group's keys at a time: decrypting, encrypting and committing each make a new
   * state from the current one, and two made from the same state would lose one's ratchet steps (and reuse
   * a key and nonce, for two encryptions).
   */
  #exclusive<T>(change: () => Promise<T>): Promise<T> {
    const turn = this.#changing.then(change)
    this.#changing = turn.catch(() => {})
    return turn
  }

  /** Saves what a change of the keys left (the state before a commit first), then wakes those waiting. */
  async #save(save: KeysToSave | undefined): Promise<void> {
    if (save === undefined) return
    const { persistence } = this.#context
    if (save.previous) await persistence.savePrevious(this.gid, save.previous)
    await persistence.saveGroup(this.gid, save.keys)
    this.state.moved()
  }

  async #drop(): Promise<void> {
    this.state.drop()
    await this.#context.persistence.dropGroup(this.gid)
  }
}

/**
 * A message or edit of an encrypted group as this device can show it: MLS opens each ciphertext once, so
 * history (and this device's own writes) read from what the device kept when it sent or first opened them.
 */
export async function readable<E extends MessageEvent | EditEvent>(
  persistence: KeyPersistence,
  event: E,
): Promise<E> {
  if (event.cipher === undefined) return event
  const kept = await persistence.kept(event.gid, event.jti)
  return kept === undefined || event.type === 'chat.edit' ? unreadable(event) : opened(event, kept)
}
