import { describe, expect, it, vi } from 'vitest'
import { type GroupKeys, type Leaf, type MlsEngine, mlsEngine } from '../../packages/client/src/mls.js'
import { serveMlsEngine, type WorkerChannel, workerMlsEngine } from '../../packages/client/src/mls-worker.js'
import { signerOf } from '../support/devices.js'

const text = (value: string) => new TextEncoder().encode(value)
const read = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bob: Leaf = { leaf: 1, iss: 'bob', device: 'laptop', key: 'Ym9i' }
/** A device's signature keys, as they cross the channel. */
const signer = { publicKey: new Uint8Array(32).fill(1), signKey: new Uint8Array(48).fill(2) }

/** One end of an in-memory channel: as a Worker's, messages arrive later, as structured clones. */
class Port implements WorkerChannel {
  peer: Port | undefined
  /** Everything posted from this end, as it crossed. */
  readonly posted: unknown[] = []
  readonly #listeners: Record<'message' | 'error', ((event: { data: unknown }) => void)[]> = {
    message: [],
    error: [],
  }

  postMessage(message: unknown): void {
    // Throws on what a real channel cannot carry (a function, say), as Worker.postMessage does.
    const data = structuredClone(message)
    this.posted.push(data)
    setTimeout(() => {
      if (this.peer) for (const listener of this.peer.#listeners.message) listener({ data })
    })
  }

  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener(type: 'error', listener: (event: unknown) => void): void
  addEventListener(type: 'message' | 'error', listener: (event: { data: unknown }) => void): void {
    this.#listeners[type].push(listener)
  }

  /** What a Worker does when its script failed to load or threw. */
  fail(): void {
    for (const listener of this.#listeners.error) listener({ data: undefined })
  }
}

/** `engine` served in a "worker" at the other end of an in-memory channel: the engine the page uses. */
function bridged(engine: MlsEngine = mlsEngine()) {
  const [page, worker] = [new Port(), new Port()]
  page.peer = worker
  worker.peer = page
  serveMlsEngine(worker, engine)
  return { engine: workerMlsEngine(page), page, worker }
}

/** An engine answering fixed values of every shape, each method a mock that keeps what it was given. */
function fakeEngine() {
  let epoch = 0
  const state = (): GroupKeys => Object.freeze({ epoch: epoch++, leaf: 1 })
  return {
    makeKeyPackage: vi.fn<MlsEngine['makeKeyPackage']>(async () => ({
      ref: 'ref-1',
      package: new Uint8Array([1, 2]),
      secret: new Uint8Array([3]),
    })),
    createGroup: vi.fn<MlsEngine['createGroup']>(async () => state()),
    welcomeRefs: vi.fn<MlsEngine['welcomeRefs']>(async () => ['ref-1', 'ref-2']),
    joinFromWelcome: vi.fn<MlsEngine['joinFromWelcome']>(async () => state()),
    joinExternal: vi.fn<MlsEngine['joinExternal']>(async () => ({
      keys: state(),
      commit: new Uint8Array([4]),
      info: new Uint8Array([5]),
    })),
    commit: vi.fn<MlsEngine['commit']>(async () => ({
      keys: state(),
      commit: new Uint8Array([6]),
      welcome: undefined,
      info: new Uint8Array([7]),
    })),
    process: vi.fn<MlsEngine['process']>(async () => ({ keys: state(), added: [bob], removed: [] })),
    encrypt: vi.fn<MlsEngine['encrypt']>(async () => ({ keys: state(), cipher: new Uint8Array([8]) })),
    decrypt: vi.fn<MlsEngine['decrypt']>(async () => ({
      keys: state(),
      plaintext: text('hi'),
      sender: bob,
    })),
    leaves: vi.fn<MlsEngine['leaves']>(async () => [
      { leaf: 0, iss: 'alice', device: 'phone', key: 'YWxpY2U=' },
      bob,
    ]),
    save: vi.fn<MlsEngine['save']>(async () => new Uint8Array([9, 9])),
    load: vi.fn<MlsEngine['load']>(async () => state()),
    saveRatchet: vi.fn<MlsEngine['saveRatchet']>(async () => new Uint8Array([7])),
    loadRatchet: vi.fn<MlsEngine['loadRatchet']>(async () => state()),
    newSigner: vi.fn<MlsEngine['newSigner']>(async () => signer),
    sign: vi.fn<MlsEngine['sign']>(async () => new Uint8Array([10])),
    verify: vi.fn<MlsEngine['verify']>(async () => true),
    readKeyPackage: vi.fn<MlsEngine['readKeyPackage']>(async () => undefined),
  } satisfies MlsEngine
}

describe('the MLS engine across a worker channel', () => {
  it('answers arrays as arrays: welcomeRefs and leaves', async () => {
    const { engine } = bridged(fakeEngine())
    const refs = await engine.welcomeRefs(new Uint8Array([1]))
    expect(Array.isArray(refs)).toBe(true)
    expect(refs).toEqual(['ref-1', 'ref-2'])
    const leaves = await engine.leaves(await engine.createGroup('g', bob, signer))
    expect(Array.isArray(leaves)).toBe(true)
    expect(leaves).toEqual([{ leaf: 0, iss: 'alice', device: 'phone', key: 'YWxpY2U=' }, bob])
  })

  it('carries nested objects, bytes and undefined both ways as the engine gives and takes them', async () => {
    const fake = fakeEngine()
    const { engine } = bridged(fake)
    expect(await engine.makeKeyPackage(bob, signer)).toEqual({
      ref: 'ref-1',
      package: new Uint8Array([1, 2]),
      secret: new Uint8Array([3]),
    })
    expect(fake.makeKeyPackage).toHaveBeenCalledWith(bob, signer)

    const keys = await engine.createGroup('g', bob, signer)
    const change = { add: [new Uint8Array([1]), new Uint8Array([2, 3])], remove: [4, 5] }
    const committed = await engine.commit(keys, change)
    expect(fake.commit.mock.calls[0]?.[1]).toEqual(change)
    expect(committed).toEqual({
      keys: { epoch: 1, leaf: 1 },
      commit: new Uint8Array([6]),
      welcome: undefined,
      info: new Uint8Array([7]),
    })
    expect(committed.commit).toBeInstanceOf(Uint8Array)

    // An argument left undefined arrives as one, in its place.
    await engine.joinExternal(new Uint8Array([1]), bob, signer, undefined)
    expect(fake.joinExternal.mock.calls[0]).toEqual([new Uint8Array([1]), bob, signer, undefined])
    await engine.joinExternal(new Uint8Array([1]), bob, signer, 0)
    expect(fake.joinExternal.mock.calls[1]?.[3]).toBe(0)

    const decrypted = await engine.decrypt(committed.keys, new Uint8Array([8]))
    expect([read(decrypted.plaintext), decrypted.sender]).toEqual(['hi', bob])
    expect(await engine.process(decrypted.keys, new Uint8Array())).toMatchObject({
      added: [bob],
      removed: [],
    })
    expect(await engine.save(decrypted.keys)).toEqual(new Uint8Array([9, 9]))
  })

  it("hands the page a handle for each state, and the worker's engine gets its own state back for it", async () => {
    const fake = fakeEngine()
    const { engine } = bridged(fake)
    const created = await engine.createGroup('g', bob, signer)
    const inWorker = await fake.createGroup.mock.results[0]?.value
    // The page sees the epoch and leaf, and nothing it could change.
    expect(created).toEqual({ epoch: 0, leaf: 1 })
    expect(Object.isFrozen(created)).toBe(true)
    expect(created).not.toBe(inWorker)

    const encrypted = await engine.encrypt(created, text('x'))
    expect(fake.encrypt.mock.calls[0]?.[0]).toBe(inWorker)
    // A state answered inside `{ keys, … }` is a handle too, and so is one from joinFromWelcome and load.
    await engine.leaves(encrypted.keys)
    expect(fake.leaves.mock.calls[0]?.[0]).toBe((await fake.encrypt.mock.results[0]?.value)?.keys)
    await engine.save(await engine.joinFromWelcome(new Uint8Array(), new Uint8Array()))
    expect(fake.save.mock.calls[0]?.[0]).toBe(await fake.joinFromWelcome.mock.results[0]?.value)
    await engine.save(await engine.load(new Uint8Array()))
    expect(fake.save.mock.calls[1]?.[0]).toBe(await fake.load.mock.results[0]?.value)
    // Ratchet steps are saved from two states the worker holds, and loaded onto one into a new handle.
    expect(await engine.saveRatchet(created, encrypted.keys)).toEqual(new Uint8Array([7]))
    expect(fake.saveRatchet.mock.calls[0]).toEqual([
      inWorker,
      (await fake.encrypt.mock.results[0]?.value)?.keys,
    ])
    await engine.save(await engine.loadRatchet(created, new Uint8Array([7])))
    expect(fake.loadRatchet.mock.calls[0]?.[0]).toBe(inWorker)
    expect(fake.save.mock.calls[2]?.[0]).toBe(await fake.loadRatchet.mock.results[0]?.value)

    // A look-alike the worker never made crosses as the plain value it is, which a real engine refuses.
    const real = bridged().engine
    await expect(real.leaves({ epoch: 0, leaf: 0 })).rejects.toThrow('MLS: not GroupKeys made by this engine')
  })

  it("rejects a call with the engine's error, and goes on serving the next", async () => {
    const fake = fakeEngine()
    fake.welcomeRefs.mockRejectedValueOnce(new Error('not a Welcome'))
    fake.save.mockRejectedValueOnce('a string thrown')
    const { engine } = bridged(fake)
    await expect(engine.welcomeRefs(new Uint8Array())).rejects.toThrow('MLS: not a Welcome')
    const keys = await engine.createGroup('g', bob, signer)
    await expect(engine.save(keys)).rejects.toThrow('MLS: a string thrown')
    expect(await engine.welcomeRefs(new Uint8Array())).toEqual(['ref-1', 'ref-2'])
  })

  it('fails the calls waiting, and every later one, once the worker fails', async () => {
    const fake = fakeEngine()
    fake.makeKeyPackage.mockReturnValueOnce(new Promise(() => {}))
    const { engine, page } = bridged(fake)
    const waiting = engine.makeKeyPackage(bob, signer)
    await vi.waitFor(() => expect(fake.makeKeyPackage).toHaveBeenCalled())
    page.fail()
    await expect(waiting).rejects.toThrow('MLS: the worker failed')
    await expect(engine.welcomeRefs(new Uint8Array())).rejects.toThrow('MLS: the worker failed')
  })

  it('drops a released state, and refuses a call naming it or a method the engine does not have', async () => {
    const { page, worker } = bridged(fakeEngine())
    const reply = (id: number) =>
      vi.waitFor(() => {
        const found = worker.posted.find((message) => (message as { id: number }).id === id)
        expect(found).toBeDefined()
        return found
      })
    page.postMessage({
      id: 101,
      method: 'createGroup',
      args: [{ value: 'g' }, { value: bob }, { value: signer }],
    })
    expect(await reply(101)).toEqual({ id: 101, result: { handle: 1, epoch: 0, leaf: 1 } })
    page.postMessage({ id: 102, method: 'save', args: [{ state: 1 }] })
    expect(await reply(102)).toEqual({ id: 102, result: new Uint8Array([9, 9]) })
    page.postMessage({ release: 1 })
    page.postMessage({ id: 103, method: 'save', args: [{ state: 1 }] })
    expect(await reply(103)).toEqual({ id: 103, error: 'a group state the worker no longer holds' })
    page.postMessage({ id: 104, method: 'toString', args: [] })
    expect(await reply(104)).toEqual({ id: 104, error: 'no method toString' })
  })

  it('runs a real group between two devices, each with its own worker: add, join, and talk both ways', async () => {
    const alice = bridged().engine
    const bobs = bridged().engine
    const aliceName = { iss: 'alice', device: 'phone' }
    const bobName = { iss: 'bob', device: 'laptop' }

    let a = await alice.createGroup('g-worker', aliceName, await signerOf(aliceName))
    expect(a).toEqual({ epoch: 0, leaf: 0 })
    const made = await bobs.makeKeyPackage(bobName, await signerOf(bobName))
    const added = await alice.commit(a, { add: [made.package] })
    expect(added.keys).toEqual({ epoch: 1, leaf: 0 })
    a = added.keys
    const welcome = added.welcome ?? new Uint8Array()
    expect(await bobs.welcomeRefs(welcome)).toEqual([made.ref])
    expect(await bobs.welcomeRefs(text('not a Welcome'))).toEqual([])
    let b = await bobs.joinFromWelcome(welcome, made.secret)
    expect(b).toEqual({ epoch: 1, leaf: 1 })
    const keyOf = async (name: typeof aliceName) =>
      Buffer.from((await signerOf(name)).publicKey).toString('base64')
    const roster = [
      { leaf: 0, ...aliceName, key: await keyOf(aliceName) },
      { leaf: 1, ...bobName, key: await keyOf(bobName) },
    ]
    expect(await alice.leaves(a)).toEqual(roster)
    expect(await bobs.leaves(b)).toEqual(roster)

    const fromAlice = await alice.encrypt(a, text('hello bob'))
    a = fromAlice.keys
    const atBob = await bobs.decrypt(b, fromAlice.cipher)
    expect([read(atBob.plaintext), atBob.sender]).toEqual(['hello bob', roster[0]])
    b = atBob.keys

    // Saved and loaded again (as after a reload), bob's state still talks.
    b = await bobs.load(await bobs.save(b))
    const fromBob = await bobs.encrypt(b, text('hello alice'))
    const atAlice = await alice.decrypt(a, fromBob.cipher)
    expect([read(atAlice.plaintext), atAlice.sender]).toEqual(['hello alice', roster[1]])

    // A key update: bob processes alice's commit and reads what she says next.
    const update = await alice.commit(atAlice.keys, {})
    const processed = await bobs.process(fromBob.keys, update.commit)
    expect(processed).toMatchObject({ keys: { epoch: 2, leaf: 1 }, added: [], removed: [] })
    const after = await alice.encrypt(update.keys, text('new keys'))
    expect(read((await bobs.decrypt(processed.keys, after.cipher)).plaintext)).toBe('new keys')
  })
})
