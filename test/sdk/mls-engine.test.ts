import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EncryptionStore, memoryEncryptionStore } from '../../packages/client/src/encryption-store.js'
import type { GroupKeys, Leaf } from '../../packages/client/src/mls.js'
import {
  credentialIdentity,
  type DeviceName,
  deviceOfCredential,
  readApplication,
  readCommit,
  readGroupInfo,
  readKeyPackage,
  readWelcome,
} from '../../packages/client/src/mls-wire.js'
import { fileEncryptionStore } from '../../packages/client/src/node.js'
import { engine, groupOf, keyPackageOf, signerOf } from '../support/devices.js'

const text = (value: string) => new TextEncoder().encode(value)
const alice: DeviceName = { iss: 'alice', device: 'phone' }
const bob: DeviceName = { iss: 'bob', device: 'laptop' }
const carol: DeviceName = { iss: 'carol', device: 'tablet' }
const dave: DeviceName = { iss: 'dave', device: 'desktop' }
/** Leaf `index` held by device `name` (whatever its key). */
const leaf = (index: number, name: DeviceName): Leaf => expect.objectContaining({ leaf: index, ...name })
/** A device as a commit names it (with its key). */
const named = (name: DeviceName) => expect.objectContaining(name)

/** Sends plaintext from one member and has each of the others read it: the plaintexts they read. */
async function say(from: GroupKeys, to: GroupKeys[], message: string) {
  const sent = await engine.encrypt(from, text(message))
  const read = await Promise.all(to.map((keys) => engine.decrypt(keys, sent.cipher)))
  return { sent, read, plaintexts: read.map((r) => new TextDecoder().decode(r.plaintext)) }
}

/** A key package whose credential is a basic credential of any identity bytes, made with ts-mls directly. */
async function keyPackageWithIdentity(identity: Uint8Array): Promise<Uint8Array> {
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'))
  const made = await generateKeyPackage(
    { credentialType: 'basic', identity },
    defaultCapabilities(),
    defaultLifetime,
    [],
    cs,
  )
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: made.publicPackage })
}

describe('device credentials', () => {
  it('name a device only in exactly the form credentialIdentity makes', () => {
    const identity = credentialIdentity(alice)
    expect(new TextDecoder().decode(identity)).toBe('{"iss":"alice","device":"phone"}')
    expect(deviceOfCredential(identity)).toEqual(alice)
    for (const bad of [
      '{"device":"phone","iss":"alice"}',
      '{"iss":"alice","device":"phone","x":1}',
      '{ "iss":"alice","device":"phone"}',
      '{"iss":"alice","device":"a b"}',
      `{"iss":"alice","device":"${'d'.repeat(65)}"}`,
      '{"iss":"","device":"phone"}',
      '{"iss":"alice","device":7}',
      '["alice","phone"]',
      'null',
      'alice/phone',
    ]) {
      expect(deviceOfCredential(text(bad)), bad).toBeUndefined()
    }
    expect(deviceOfCredential(new Uint8Array([0xff, 0xfe]))).toBeUndefined()
  })
})

describe('key packages', () => {
  it('round-trip through readKeyPackage, which names the device and gives the same ref', async () => {
    const made = await keyPackageOf(bob)
    expect(await readKeyPackage(made.package)).toMatchObject({ ...bob, ref: made.ref })
    expect(made.ref).toMatch(/^[A-Za-z0-9+/]{43}=$/)
  })

  it('refuses garbage, other messages, trailing bytes, a bad signature and a credential that is not ours', async () => {
    const made = await keyPackageOf(bob)
    const group = await groupOf('g-kp', alice)
    const update = await engine.commit(group, {})
    const flipped = made.package.slice()
    flipped[flipped.length - 10] = (flipped[flipped.length - 10] ?? 0) ^ 1
    for (const bytes of [
      new Uint8Array(),
      text('hello'),
      made.package.subarray(0, 100),
      new Uint8Array([...made.package, 0]),
      flipped,
      update.info,
      update.commit,
    ]) {
      expect(await readKeyPackage(bytes)).toBeUndefined()
    }
    expect(await readKeyPackage(await keyPackageWithIdentity(text('not json')))).toBeUndefined()
    expect(
      await readKeyPackage(await keyPackageWithIdentity(text('{"device":"x","iss":"bob"}'))),
    ).toBeUndefined()
    // The same package made with our credential is read: only the credential made the difference.
    expect(await readKeyPackage(await keyPackageWithIdentity(credentialIdentity(bob)))).toMatchObject(bob)
  })
})

describe('an encrypted group', () => {
  // One story, step by step: each test continues from the state the previous ones left.
  let a: GroupKeys
  let b: GroupKeys
  let c: GroupKeys
  let d: GroupKeys
  let info: Uint8Array
  let removalOfCarol: { carolBefore: GroupKeys; carolAfter: GroupKeys }

  it('is built by adds: A creates it, commits to add B and C, and the two join from the Welcome', async () => {
    a = await groupOf('g1', alice)
    expect(a).toMatchObject({ epoch: 0, leaf: 0 })
    expect(await engine.leaves(a)).toEqual([leaf(0, alice)])
    const [kpB, kpC] = await Promise.all([keyPackageOf(bob), keyPackageOf(carol)])
    const added = await engine.commit(a, { add: [kpB.package, kpC.package] })
    // ts-mls 1.6.4 makes no update path for a commit that only adds.
    expect(await readCommit(added.commit)).toEqual({
      groupId: 'g1',
      epoch: 0,
      sender: { leaf: 0 },
      adds: [named(bob), named(carol)],
      removes: [],
    })
    expect(readGroupInfo(added.info)).toMatchObject({ groupId: 'g1', epoch: 1 })
    const welcome = added.welcome ?? new Uint8Array()
    expect(readWelcome(welcome)).toBe(true)
    expect((await engine.welcomeRefs(welcome)).sort()).toEqual([kpB.ref, kpC.ref].sort())
    a = added.keys
    b = await engine.joinFromWelcome(welcome, kpB.secret)
    c = await engine.joinFromWelcome(welcome, kpC.secret)
    expect([a, b, c].map(({ epoch, leaf }) => ({ epoch, leaf }))).toEqual([
      { epoch: 1, leaf: 0 },
      { epoch: 1, leaf: 1 },
      { epoch: 1, leaf: 2 },
    ])
    const leaves = [leaf(0, alice), leaf(1, bob), leaf(2, carol)]
    for (const keys of [a, b, c]) expect(await engine.leaves(keys)).toEqual(leaves)
    info = added.info
  })

  it('encrypts for every other member, who learns which leaf sent it', async () => {
    const fromA = await say(a, [b, c], 'hello from alice')
    expect(fromA.plaintexts).toEqual(['hello from alice', 'hello from alice'])
    expect(fromA.read.map((r) => r.sender)).toEqual([leaf(0, alice), leaf(0, alice)])
    expect(readApplication(fromA.sent.cipher)).toEqual({ groupId: 'g1', epoch: 1 })
    a = fromA.sent.keys
    ;[b, c] = fromA.read.map((r) => r.keys) as [GroupKeys, GroupKeys]
    const fromC = await say(c, [a, b], 'and from carol')
    expect(fromC.plaintexts).toEqual(['and from carol', 'and from carol'])
    expect(fromC.read.map((r) => r.sender)).toEqual([leaf(2, carol), leaf(2, carol)])
    c = fromC.sent.keys
    ;[a, b] = fromC.read.map((r) => r.keys) as [GroupKeys, GroupKeys]
    // A device cannot read what it sent itself: the app keeps its own plaintext.
    await expect(engine.decrypt(c, fromC.sent.cipher)).rejects.toThrow()
  })

  it('removes a leaf with a commit after which the removed device cannot read the next message', async () => {
    const removal = await engine.commit(a, { remove: [2] })
    expect(await readCommit(removal.commit)).toEqual({
      groupId: 'g1',
      epoch: 1,
      sender: { leaf: 0 },
      path: named(alice),
      adds: [],
      removes: [2],
    })
    expect(removal.welcome).toBeUndefined()
    a = removal.keys
    const atB = await engine.process(b, removal.commit)
    expect(atB).toMatchObject({ added: [], removed: [leaf(2, carol)] })
    expect(atB.keys.epoch).toBe(2)
    b = atB.keys
    const atC = await engine.process(c, removal.commit)
    expect(atC.removed).toEqual([leaf(2, carol)])
    expect(atC.removed.some((removed) => removed.leaf === c.leaf)).toBe(true)
    removalOfCarol = { carolBefore: c, carolAfter: atC.keys }

    const next = await engine.encrypt(a, text('carol is gone'))
    a = next.keys
    const atBob = await engine.decrypt(b, next.cipher)
    expect(new TextDecoder().decode(atBob.plaintext)).toBe('carol is gone')
    b = atBob.keys
    await expect(engine.decrypt(removalOfCarol.carolAfter, next.cipher)).rejects.toThrow()
    await expect(engine.decrypt(removalOfCarol.carolBefore, next.cipher)).rejects.toThrow()
    await expect(engine.encrypt(removalOfCarol.carolAfter, text('still here?'))).rejects.toThrow()
    expect(await engine.leaves(a)).toEqual([leaf(0, alice), leaf(1, bob)])
    info = removal.info
  })

  it('takes an external join into the leftmost blank leaf, and the joiner reads what follows', async () => {
    const joined = await engine.joinExternal(info, dave, await signerOf(dave))
    expect(await readCommit(joined.commit)).toEqual({
      groupId: 'g1',
      epoch: 2,
      sender: 'external',
      path: named(dave),
      adds: [],
      removes: [],
    })
    expect(joined.welcome).toBeUndefined()
    expect(readGroupInfo(joined.info)).toMatchObject({ groupId: 'g1', epoch: 3 })
    d = joined.keys
    expect(d).toMatchObject({ epoch: 3, leaf: 2 })
    for (const keys of [a, b]) {
      const seen = await engine.process(keys, joined.commit)
      expect(seen).toMatchObject({ added: [leaf(2, dave)], removed: [] })
    }
    a = (await engine.process(a, joined.commit)).keys
    b = (await engine.process(b, joined.commit)).keys
    const hello = await say(a, [b, d], 'welcome dave')
    expect(hello.plaintexts).toEqual(['welcome dave', 'welcome dave'])
    a = hello.sent.keys
    ;[b, d] = hello.read.map((r) => r.keys) as [GroupKeys, GroupKeys]
    info = joined.info
  })

  it('lets a device that lost its state rejoin externally, removing its old leaf', async () => {
    const rejoined = await engine.joinExternal(info, bob, await signerOf(bob), 1)
    expect(await readCommit(rejoined.commit)).toEqual({
      groupId: 'g1',
      epoch: 3,
      sender: 'external',
      path: named(bob),
      adds: [],
      removes: [1],
    })
    const atA = await engine.process(a, rejoined.commit)
    expect(atA).toMatchObject({ added: [leaf(1, bob)], removed: [leaf(1, bob)] })
    a = atA.keys
    d = (await engine.process(d, rejoined.commit)).keys
    b = rejoined.keys
    expect(b).toMatchObject({ epoch: 4, leaf: 1 })
    for (const keys of [a, b, d])
      expect(await engine.leaves(keys)).toEqual([leaf(0, alice), leaf(1, bob), leaf(2, dave)])
    const fromB = await say(b, [a, d], 'bob is back')
    expect(fromB.plaintexts).toEqual(['bob is back', 'bob is back'])
    b = fromB.sent.keys
    ;[a, d] = fromB.read.map((r) => r.keys) as [GroupKeys, GroupKeys]
    info = rejoined.info
  })

  it("refuses an external commit that removes another identity's leaf", async () => {
    const mallory = await engine.joinExternal(
      info,
      { iss: 'mallory', device: 'x' },
      await signerOf({ iss: 'mallory', device: 'x' }),
      0,
    )
    expect(await readCommit(mallory.commit)).toMatchObject({ sender: 'external', removes: [0] })
    await expect(engine.process(d, mallory.commit)).rejects.toThrow(/own identity/)
  })

  it('saves and loads a state that still decrypts and commits', async () => {
    const saved = await engine.save(d)
    const loaded = await engine.load(saved)
    expect(loaded).toEqual({ epoch: d.epoch, leaf: d.leaf })
    const after = await say(a, [loaded], 'after a restart')
    expect(after.plaintexts).toEqual(['after a restart'])
    a = after.sent.keys
    d = after.read[0]?.keys ?? d
    const update = await engine.commit(d, {})
    expect(await readCommit(update.commit)).toMatchObject({
      sender: { leaf: 2 },
      path: named(dave),
      epoch: 4,
    })
    a = (await engine.process(a, update.commit)).keys
    b = (await engine.process(b, update.commit)).keys
    d = update.keys
    expect((await say(b, [a, d], 'still fine')).plaintexts).toEqual(['still fine', 'still fine'])
    await expect(engine.load(new Uint8Array([1, 2, 3]))).rejects.toThrow()
  })

  it('orders commits: the second made on an epoch fails after the first, and its maker commits again', async () => {
    const [fromA, fromB] = await Promise.all([engine.commit(a, {}), engine.commit(b, {})])
    expect((await readCommit(fromA.commit))?.epoch).toBe((await readCommit(fromB.commit))?.epoch)
    // The server takes A's: D applies it, and B's then fails (wrong epoch), as it does at A.
    d = (await engine.process(d, fromA.commit)).keys
    await expect(engine.process(d, fromB.commit)).rejects.toThrow()
    await expect(engine.process(fromA.keys, fromB.commit)).rejects.toThrow()
    a = fromA.keys
    // B drops its own commit, processes the winner and commits again.
    b = (await engine.process(b, fromA.commit)).keys
    const retry = await engine.commit(b, {})
    a = (await engine.process(a, retry.commit)).keys
    d = (await engine.process(d, retry.commit)).keys
    b = retry.keys
    expect([a, b, d].map((keys) => keys.epoch)).toEqual([7, 7, 7])
    expect((await say(a, [b, d], 'in order')).plaintexts).toEqual(['in order', 'in order'])
  })

  it('refuses commits for another group, garbage, and adds whose credential is not a device', async () => {
    const other = await groupOf('g2', alice)
    const elsewhere = await engine.commit(other, {})
    await expect(engine.process(a, elsewhere.commit)).rejects.toThrow(/another group/)
    await expect(engine.process(a, text('garbage'))).rejects.toThrow()
    await expect(
      engine.commit(a, { add: [await keyPackageWithIdentity(text('not json'))] }),
    ).rejects.toThrow()
    await expect(engine.joinFromWelcome(text('garbage'), new Uint8Array())).rejects.toThrow()
  })
})

describe('wire readers', () => {
  let messages: { commit: Uint8Array; welcome: Uint8Array; info: Uint8Array; application: Uint8Array }

  beforeAll(async () => {
    const group = await groupOf('g-wire', alice)
    const kp = await keyPackageOf(bob)
    const added = await engine.commit(group, { add: [kp.package] })
    const sent = await engine.encrypt(added.keys, text('hi'))
    messages = {
      commit: added.commit,
      welcome: added.welcome ?? new Uint8Array(),
      info: added.info,
      application: sent.cipher,
    }
  })

  it('read each message for what it is, and refuse the others', async () => {
    const { commit, welcome, info, application } = messages
    expect(readApplication(application)).toEqual({ groupId: 'g-wire', epoch: 1 })
    expect(readGroupInfo(info)).toMatchObject({ groupId: 'g-wire', epoch: 1 })
    expect(readWelcome(welcome)).toBe(true)
    expect(await readCommit(commit)).toMatchObject({ groupId: 'g-wire', epoch: 0, adds: [named(bob)] })
    for (const wrong of [commit, welcome, info]) expect(readApplication(wrong)).toBeUndefined()
    for (const wrong of [commit, welcome, application]) expect(readGroupInfo(wrong)).toBeUndefined()
    for (const wrong of [commit, info, application]) expect(readWelcome(wrong)).toBe(false)
    for (const wrong of [welcome, info, application]) expect(await readCommit(wrong)).toBeUndefined()
    for (const bytes of Object.values(messages)) {
      const longer = new Uint8Array([...bytes, 0])
      expect([readApplication(longer), readGroupInfo(longer), await readCommit(longer)]).toEqual([
        undefined,
        undefined,
        undefined,
      ])
      expect(readWelcome(longer)).toBe(false)
    }
  })

  it('never throw, on random bytes or on cut and altered messages', async () => {
    const all = Object.values(messages)
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(fc.constantFrom(...all), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }))
        .map(([bytes, cut, at, xor]) => {
          const copy = bytes.slice(0, 1 + (cut % bytes.length))
          copy[at % copy.length] = (copy[at % copy.length] ?? 0) ^ xor
          return copy
        }),
    )
    await fc.assert(
      fc.asyncProperty(inputs, async (bytes) => {
        await readCommit(bytes)
        readApplication(bytes)
        readGroupInfo(bytes)
        expect(typeof readWelcome(bytes)).toBe('boolean')
      }),
      { numRuns: 300 },
    )
  })
})

describe('encryption stores', () => {
  let directory: string
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'huddle-encryption-'))
  })
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true })
  })

  async function exercise(store: EncryptionStore) {
    expect(await store.get('keys/g1')).toBeUndefined()
    await store.set('keys/g1', new Uint8Array([1, 2, 3]))
    expect(await store.get('keys/g1')).toEqual(new Uint8Array([1, 2, 3]))
    await store.set('keys/g1', new Uint8Array([4]))
    expect(await store.get('keys/g1')).toEqual(new Uint8Array([4]))
    await store.delete('keys/g1')
    expect(await store.get('keys/g1')).toBeUndefined()
    await store.delete('keys/g1')
    // Names that differ only in case, or that look like paths, are different names.
    const names = ['A', 'a', '../up', '.', '', 'é', 'x'.repeat(300), 'x'.repeat(301)]
    for (const [index, name] of names.entries()) await store.set(name, new Uint8Array([index]))
    for (const [index, name] of names.entries())
      expect(await store.get(name), name).toEqual(new Uint8Array([index]))
  }

  it('keep values in memory, copied in and out', async () => {
    const store = memoryEncryptionStore()
    await exercise(store)
    const value = new Uint8Array([9])
    await store.set('copy', value)
    value[0] = 0
    expect(await store.get('copy')).toEqual(new Uint8Array([9]))
  })

  it('keep values in files, one per name, in a directory made on first write, with no temp file left', async () => {
    const inside = join(directory, 'nested', 'store')
    const store = fileEncryptionStore(inside)
    expect(await store.get('anything')).toBeUndefined()
    expect(existsSync(inside)).toBe(false)
    await exercise(store)
    const files = await readdir(inside)
    expect(files).toHaveLength(8)
    expect(files.every((file) => file.endsWith('.bin') && !file.includes('/'))).toBe(true)
    expect(files).toContain('_41.bin')
    expect((await stat(join(inside, 'a.bin'))).mode & 0o077).toBe(0)
    expect(await readdir(directory)).toEqual(['nested'])
    // A second store over the same directory reads what the first wrote.
    expect(await fileEncryptionStore(inside).get('../up')).toEqual(new Uint8Array([2]))
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.set('busy', new Uint8Array([i]))))
    expect((await store.get('busy'))?.length).toBe(1)
    expect((await readdir(inside)).filter((file) => file.endsWith('.tmp'))).toEqual([])
  })
})
