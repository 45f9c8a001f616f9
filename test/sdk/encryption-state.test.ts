import type { CommitEvent, MessageEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { rosterDigest } from '../../packages/client/src/devices.js'
import { type EncryptionStore, memoryEncryptionStore } from '../../packages/client/src/encryption-store.js'
import { GroupKeysState, type KeysToSave, sealedOf } from '../../packages/client/src/group-keys.js'
import { KeyPersistence } from '../../packages/client/src/key-persistence.js'
import type { Committed, GroupKeys } from '../../packages/client/src/mls.js'
import type { DeviceName } from '../../packages/client/src/mls-wire.js'
import { engine, groupOf, keyPackageOf } from '../support/devices.js'

// The encrypted group's state machine with no server: events and commits pushed in, what to send and save
// read out; and its persistence, which saves a message's ratchet steps and an epoch's state apart.

const alice: DeviceName = { iss: 'alice', device: 'phone' }
const bob: DeviceName = { iss: 'bob', device: 'laptop' }
const carol: DeviceName = { iss: 'carol', device: 'tablet' }
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

/** The `chat.commit` the server would post for `made`, as every member's state machine reads it. */
async function commitEvent(gid: string, iss: string, made: Committed, seq: number): Promise<CommitEvent> {
  const before = await engine.leaves(made.keys)
  return {
    type: 'chat.commit',
    gid,
    iss,
    epoch: made.keys.epoch,
    commit: { data: b64(made.commit) },
    ...(made.welcome && { welcome: { data: b64(made.welcome) } }),
    info: { data: b64(made.info) },
    added: [],
    removed: [],
    tree: await rosterDigest(before),
    seq,
    iat: new Date().toISOString(),
  }
}

/** A message event carrying `cipher`, as another member receives it. */
function messageEvent(gid: string, iss: string, jti: string, cipher: Uint8Array): MessageEvent {
  return {
    type: 'chat.message',
    gid,
    iss,
    jti,
    body: '',
    cipher: b64(cipher),
    seq: 1,
    iat: '',
  } as MessageEvent
}

/** A group of alice and bob: alice's state machine made it, bob's joined from the Welcome. */
async function pair(gid: string) {
  const joining = await keyPackageOf(bob)
  const adding = await engine.commit(await groupOf(gid, alice), { add: [joining.package] })
  const alices = new GroupKeysState(gid, adding.keys)
  const bobs = new GroupKeysState(gid)
  bobs.adopt(await engine.joinFromWelcome(adding.welcome as Uint8Array, joining.secret))
  return { alices, bobs }
}

/** Seals `body` on `from` and saves it, then opens it on `to`: what `to` read. */
async function talk(
  gid: string,
  from: GroupKeysState,
  to: GroupKeysState,
  body: string,
  saveTo?: KeyPersistence,
) {
  const jti = `m-${body}`
  const sealed = await from.seal(engine, sealedOf(jti, body, undefined))
  if (saveTo && sealed.save) await saveTo.saveGroup(gid, sealed.save.keys)
  return to.open(engine, messageEvent(gid, 'alice', jti, sealed.cipher))
}

/** A store that records the name and size of every value set. */
function recording(store: EncryptionStore = memoryEncryptionStore()) {
  const sets: { name: string; bytes: number }[] = []
  return {
    sets,
    store: {
      ...store,
      get: store.get,
      delete: store.delete,
      async set(name: string, value: Uint8Array) {
        sets.push({ name, bytes: value.byteLength })
        await store.set(name, value)
      },
    } satisfies EncryptionStore,
  }
}

const persistence = (store: EncryptionStore) => new KeyPersistence(store, async () => engine)

describe('the group keys state machine, without a server', () => {
  it('seals and opens messages, answering the keys to save after each', async () => {
    const { alices, bobs } = await pair('g1')
    const opened = await talk('g1', alices, bobs, 'hello')
    expect(opened?.sealed).toEqual({ jti: 'm-hello', body: 'hello' })
    expect(opened?.save?.keys).toBe(bobs.keys)
    // A ciphertext opens once: a second time it is not readable, and nothing is to be saved.
    const sealed = await alices.seal(engine, sealedOf('again', 'twice', undefined))
    const event = messageEvent('g1', 'alice', 'again', sealed.cipher)
    expect((await bobs.open(engine, event))?.sealed?.body).toBe('twice')
    expect(await bobs.open(engine, event)).toBeUndefined()
    // A message that names another message or sender decrypts, but is not shown as what it claims.
    const lying = await alices.seal(engine, sealedOf('one', 'x', undefined))
    expect(
      (await bobs.open(engine, messageEvent('g1', 'alice', 'other', lying.cipher)))?.sealed,
    ).toBeUndefined()
  })

  it('answers what each commit asks: ignore, process, a gap, a Welcome', async () => {
    const { alices, bobs } = await pair('g2')
    const update = await engine.commit(alices.keys as GroupKeys, {})
    const event = await commitEvent('g2', 'alice', update, 5)
    expect(bobs.commitStep(event, false)).toBe('process')
    expect(bobs.commitStep({ ...event, epoch: event.epoch - 1 }, false)).toBe('ignore')
    expect(bobs.commitStep({ ...event, epoch: event.epoch + 1 }, false)).toBe('gap')
    const none = new GroupKeysState('g2')
    expect(none.commitStep(event, false)).toBe('ignore')
    expect(none.commitStep({ ...event, welcome: { data: '' } }, true)).toBe('welcome')

    const outcome = await bobs.processCommit(engine, event, update.commit)
    expect(outcome).toMatchObject({ kind: 'verify', added: [] })
    if (outcome.kind !== 'verify') return
    const save = bobs.adopt(outcome.next, true)
    expect(save?.previous?.epoch).toBe(event.epoch - 1)
    expect(bobs.keys?.epoch).toBe(event.epoch)
  })

  it("refuses a commit whose tree is not the server's roster, or that does not process", async () => {
    const { alices, bobs } = await pair('g3')
    const update = await engine.commit(alices.keys as GroupKeys, {})
    const event = await commitEvent('g3', 'alice', update, 5)
    expect(await bobs.processCommit(engine, { ...event, tree: 'another roster' }, update.commit)).toEqual({
      kind: 'refuse',
      reason: "the group's tree differs from the server's roster",
    })
    const refused = await bobs.processCommit(engine, event, update.commit.slice(0, -3))
    expect(refused).toMatchObject({ kind: 'refuse', reason: expect.stringMatching(/^it does not process/) })
    // Refused commits are not applied: the keys stay at their epoch.
    expect(bobs.keys?.epoch).toBe(event.epoch - 1)
  })

  it("tells a member the commit removing it; takes its own unanswered commit as the group's", async () => {
    const { alices, bobs } = await pair('g4')
    const removal = await engine.commit(alices.keys as GroupKeys, { remove: [1] })
    const event = await commitEvent('g4', 'alice', removal, 6)
    expect(await bobs.processCommit(engine, event, removal.commit)).toEqual({ kind: 'removed' })

    const own = await engine.commit(alices.keys as GroupKeys, {})
    alices.unanswered = { commit: b64(own.commit), keys: own.keys }
    const answer = await alices.processCommit(engine, await commitEvent('g4', 'alice', own, 7), own.commit)
    expect(answer).toMatchObject({ kind: 'own', save: { keys: own.keys } })
    expect(alices.keys).toBe(own.keys)
  })

  it('never goes back an epoch, except when a refused commit is undone', async () => {
    const { alices } = await pair('g5')
    const before = alices.keys as GroupKeys
    const next = await engine.commit(before, {})
    expect(alices.adopt(next.keys, true)).toEqual({ keys: next.keys, previous: before })
    expect(alices.adopt(before)).toBeUndefined()
    expect(alices.keys).toBe(next.keys)
    expect(alices.tookIn(next.keys.epoch)).toBe(true)
    expect(alices.revert(before)).toEqual({ keys: before })
    expect(alices.keys).toBe(before)
    expect(alices.dirty).toBe(true)
  })
})

describe('group keys saved by what changed', () => {
  it('saves a message as its ratchet steps, a commit as the new epoch whole', async () => {
    const gid = 'p1'
    const { alices, bobs } = await pair(gid)
    const { store, sets } = recording()
    const saved = persistence(store)
    await saved.saveGroup(gid, alices.keys as GroupKeys)
    expect(sets.map((s) => s.name)).toEqual([`group/${gid}/epoch`])
    const whole = sets[0]?.bytes ?? 0

    for (const body of ['one', 'two', 'three']) await talk(gid, alices, bobs, body, saved)
    const messages = sets.slice(1)
    expect(messages.map((s) => s.name)).toEqual(Array(3).fill(`group/${gid}/ratchet`))
    for (const { bytes } of messages) expect(bytes * 4).toBeLessThan(whole)

    const update = await engine.commit(alices.keys as GroupKeys, {})
    await saved.saveGroup(gid, (alices.adopt(update.keys, true) as KeysToSave).keys)
    expect(sets.at(-1)?.name).toBe(`group/${gid}/epoch`)
  })

  it('a restarted device reads, sends, and never reuses a ratchet step, across messages and a commit', async () => {
    const gid = 'p2'
    const { alices, bobs } = await pair(gid)
    const store = memoryEncryptionStore()
    const bobsStore = memoryEncryptionStore()
    await persistence(store).saveGroup(gid, alices.keys as GroupKeys)
    await persistence(bobsStore).saveGroup(gid, bobs.keys as GroupKeys)

    // Alice sends twice and bob reads both, each saving what changed; then both restart.
    const alicePersisted = persistence(store)
    await alicePersisted.loadGroup(gid)
    const bobPersisted = persistence(bobsStore)
    await bobPersisted.loadGroup(gid)
    for (const body of ['first', 'second']) {
      const read = await talk(gid, alices, bobs, body, alicePersisted)
      if (read?.save) await bobPersisted.saveGroup(gid, read.save.keys)
    }
    const again = new GroupKeysState(gid, await persistence(store).loadGroup(gid))
    const bobAgain = new GroupKeysState(gid, await persistence(bobsStore).loadGroup(gid))
    // Had the restarted sender reused a generation, the receiver (which consumed it) could not open this.
    expect((await talk(gid, again, bobAgain, 'after a restart'))?.sealed?.body).toBe('after a restart')
    expect((await talk(gid, again, bobs, 'to the old one too'))?.sealed?.body).toBe('to the old one too')

    // A commit and more messages, saved; after another restart both still talk both ways.
    const rotated = persistence(store)
    await rotated.loadGroup(gid)
    const update = await engine.commit(again.keys as GroupKeys, {})
    await rotated.saveGroup(gid, (again.adopt(update.keys, true) as KeysToSave).keys)
    const processed = await engine.process(bobAgain.keys as GroupKeys, update.commit)
    bobAgain.adopt(processed.keys, true)
    await talk(gid, again, bobAgain, 'in the new epoch', rotated)
    const third = new GroupKeysState(gid, await persistence(store).loadGroup(gid))
    expect(third.keys?.epoch).toBe(update.keys.epoch)
    expect((await talk(gid, third, bobAgain, 'after the commit'))?.sealed?.body).toBe('after the commit')
    const back = await bobAgain.seal(engine, sealedOf('b', 'from bob', undefined))
    expect((await third.open(engine, messageEvent(gid, 'bob', 'b', back.cipher)))?.sealed?.body).toBe(
      'from bob',
    )
  })

  it("ignores ratchet steps of another epoch's state, and reads a whole state saved by earlier versions", async () => {
    const gid = 'p3'
    const { alices, bobs } = await pair(gid)
    const store = memoryEncryptionStore()
    const saved = persistence(store)
    await saved.saveGroup(gid, alices.keys as GroupKeys)
    await talk(gid, alices, bobs, 'one', saved)
    const steps = await store.get(`group/${gid}/ratchet`)
    // A crash right after the next epoch was saved whole: the old steps name another state, and are not applied.
    const update = await engine.commit(alices.keys as GroupKeys, {})
    await saved.saveGroup(gid, update.keys)
    expect(await store.get(`group/${gid}/ratchet`)).toEqual(steps)
    expect((await persistence(store).loadGroup(gid))?.epoch).toBe(update.keys.epoch)

    // The whole-state record of earlier versions is read, and replaced once the keys are saved anew.
    const legacy = memoryEncryptionStore()
    await legacy.set(`group/${gid}`, await engine.save(bobs.keys as GroupKeys))
    const migrating = persistence(legacy)
    const loaded = new GroupKeysState(gid, await migrating.loadGroup(gid))
    const read = await talk(gid, alices, loaded, 'after an upgrade')
    expect(read?.sealed?.body).toBe('after an upgrade')
    await migrating.saveGroup(gid, read?.save?.keys as GroupKeys)
    expect(await legacy.get(`group/${gid}`)).toBeUndefined()
    expect((await persistence(legacy).loadGroup(gid))?.epoch).toBe(loaded.keys?.epoch)
    await migrating.dropGroup(gid)
    expect(await persistence(legacy).loadGroup(gid)).toBeUndefined()
  })

  it('keeps a third member reading while a message of the epoch before arrives late', async () => {
    const gid = 'p4'
    const joining = await keyPackageOf(carol)
    const { alices, bobs } = await pair(gid)
    const adding = await engine.commit(alices.keys as GroupKeys, { add: [joining.package] })
    const late = await bobs.seal(engine, sealedOf('late', 'sent before the add', undefined))
    const store = memoryEncryptionStore()
    const saved = persistence(store)
    alices.adopt(adding.keys, true)
    await saved.saveGroup(gid, alices.keys as GroupKeys)
    // A message of the epoch before, opened with the keys kept for late messages: saved as steps too.
    const opened = await alices.open(engine, messageEvent(gid, 'bob', 'late', late.cipher))
    expect(opened?.sealed?.body).toBe('sent before the add')
    await saved.saveGroup(gid, opened?.save?.keys as GroupKeys)
    const reloaded = new GroupKeysState(gid, await persistence(store).loadGroup(gid))
    // That step is not open twice after a restart.
    expect(await reloaded.open(engine, messageEvent(gid, 'bob', 'late', late.cipher))).toBeUndefined()
  })
})
