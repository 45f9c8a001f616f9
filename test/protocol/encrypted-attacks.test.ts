import { firstDeviceList, rosterDigest, signDeviceList } from '@huddle/client/devices'
import type { CommitEvent, DeviceList, MlsBytes, RosterLeaf } from '@huddle/client/protocol'
import {
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type KeyPackage,
  type MLSMessage,
  type RatchetTree,
} from 'ts-mls'
import { treeHashRoot } from 'ts-mls/treeHash.js'
import { describe, expect, it } from 'vitest'
import { SignedPostSender } from '../../lambdas/adapters/management-api.js'
import { functionCredentials, localAccount } from '../../local/grants.js'
import type { Committed, GroupKeys } from '../../packages/client/src/mls.js'
import { credentialIdentity, type DeviceName } from '../../packages/client/src/mls-wire.js'
import { connector } from '../support/clients.js'
import { engine, groupOf, keyPackageOf, signerOf, vouchFor } from '../support/devices.js'
import { approved, device, encryptedGroup, keysSettled, received, savedKeys } from '../support/encrypted.js'
import { groupItems, httpUrl, type TestClient, unique } from '../support/huddle.js'
import { loggedEntries } from '../support/logs.js'
import { connectionIds, waitFor } from '../support/sdk.js'

// Encrypted groups tried as an attacker would, with real MLS bytes: a hostile creator or member, a stolen
// session, a server that lies. Each attack is refused, and no plaintext reaches the attacker.

const connect = connector()
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const inline = (bytes: Uint8Array): MlsBytes => ({ data: b64(bytes) })
const utf8 = (text: string) => new TextEncoder().encode(text)
const parts = (made: Pick<Committed, 'commit' | 'welcome' | 'info'>) => ({
  commit: inline(made.commit),
  ...(made.welcome && { welcome: inline(made.welcome) }),
  info: inline(made.info),
})

let suite: Promise<CiphersuiteImpl> | undefined
const cipherSuite = () => {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'))
  return suite
}

function decoded(bytes: Uint8Array): MLSMessage {
  const message = decodeMlsMessage(bytes, 0)?.[0]
  if (message === undefined) throw new Error('not MLS')
  return message
}

function keyPackage(bytes: Uint8Array): KeyPackage {
  const message = decoded(bytes)
  if (message.wireformat !== 'mls_key_package') throw new Error('not a key package')
  return message.keyPackage
}

const groupInfoBytes = async (state: ClientState) =>
  encodeMlsMessage({
    version: 'mls10',
    wireformat: 'mls_group_info',
    groupInfo: await createGroupInfoWithExternalPubAndRatchetTree(state, [], await cipherSuite()),
  })

/** A hostile creator's own MLS state (ts-mls directly, so it can do what the SDK never would). */
async function rawGroup(gid: string, name: DeviceName): Promise<ClientState> {
  const cs = await cipherSuite()
  const now = BigInt(Math.floor(Date.now() / 1000))
  const made = await generateKeyPackageWithKey(
    { credentialType: 'basic', identity: credentialIdentity(name) },
    defaultCapabilities(),
    { notBefore: now - 60n, notAfter: now + 86_400n },
    [],
    await signerOf(name),
    cs,
  )
  return createGroup(utf8(gid), made.publicPackage, made.privatePackage, [], cs)
}

/** A raw commit of `state` (optionally adding key packages), as a PublicMessage with the tree in its info. */
async function rawCommit(state: ClientState, add: Uint8Array[] = []) {
  const made = await createCommit(
    { state, cipherSuite: await cipherSuite() },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: true,
      extraProposals: add.map((bytes) => ({ proposalType: 'add', add: { keyPackage: keyPackage(bytes) } })),
    },
  )
  return {
    state: made.newState,
    commit: encodeMlsMessage(made.commit),
    ...(made.welcome && {
      welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: made.welcome }),
    }),
    info: await groupInfoBytes(made.newState),
  }
}

/** A GroupInfo of `state` that shows `tree` instead of its real one, signed by its (hostile) signer. */
async function forgedInfo(state: ClientState, tree: RatchetTree): Promise<Uint8Array> {
  const treeHash = await treeHashRoot(tree, (await cipherSuite()).hash)
  return groupInfoBytes({ ...state, ratchetTree: tree, groupContext: { ...state.groupContext, treeHash } })
}

/** Key packages of a vouched device, published; the secrets its device keeps. */
async function published(client: TestClient, device: string) {
  await vouchFor(client, device)
  const made = await keyPackageOf({ iss: client.iss, device })
  await client.ok('keys', { device, packages: [b64(made.package)] })
  return made
}

/** The bytes of a claimed key package. */
async function claimed(by: TestClient, gid: string, iss: string): Promise<Uint8Array> {
  const ack = await by.ok('claim', { gid, iss })
  const [first] = ack.packages as { package: string }[]
  return new Uint8Array(Buffer.from(String(first?.package), 'base64'))
}

/** A plaintext opened by a device, or undefined when it cannot open it. */
async function opens(keys: GroupKeys, cipher: string): Promise<string | undefined> {
  try {
    const opened = await engine.decrypt(keys, Buffer.from(cipher, 'base64'))
    return new TextDecoder().decode(opened.plaintext)
  } catch {
    return undefined
  }
}

describe('a hidden leaf', { timeout: 120_000 }, () => {
  it("at epoch 0: a creator whose first commit's tree holds another's device is refused, nothing stored", async () => {
    const [alice, bob, mallory] = await connect(unique('alice'), unique('bob'), unique('mallory'))
    const gid = unique('sealed')
    await alice.ok('invite', { gid, name: 'Sealed', members: [bob.iss], encrypted: true })
    await bob.ok('join', { gid })
    await vouchFor(alice, 'a1')
    const hers = await published(mallory, 'm1')
    // Mallory's device in alice's tree, the state then relabelled as epoch 0, and a first commit made from it.
    const withMallory = await rawCommit(await rawGroup(gid, { iss: alice.iss, device: 'a1' }), [hers.package])
    const relabelled = {
      ...withMallory.state,
      groupContext: { ...withMallory.state.groupContext, epoch: 0n },
    }
    const first = await rawCommit(relabelled)
    const before = await groupItems(gid)
    const refused = await alice.request('commit', { gid, ...parts(first) })
    expect(refused).toMatchObject({ code: 'BAD_REQUEST' })
    // Showing a tree of alice alone instead does not make it pass either: that tree is not the commit's.
    const forged = await forgedInfo(first.state, [first.state.ratchetTree[0]])
    const hidden = await alice.request('commit', { gid, commit: inline(first.commit), info: inline(forged) })
    expect(hidden).toMatchObject({ code: 'BAD_REQUEST' })
    expect(await groupItems(gid)).toEqual(before)
  })

  it('at a later Welcome: the server is shown a forged tree, and the joiner refuses the real one', async () => {
    const [alice, mallory] = await connect(unique('alice'), unique('mallory'))
    // Bob's device waits for the Welcome however long alice's hand-made commits take on a busy host,
    // instead of joining the keys by itself.
    const bob = await device(unique('bob'), undefined, undefined, { welcomeWaitMs: 120_000 })
    const gid = unique('sealed')
    await alice.ok('invite', { gid, name: 'Sealed', members: [bob.sub], encrypted: true })
    await vouchFor(alice, 'a1')
    const start = await rawCommit(await rawGroup(gid, { iss: alice.iss, device: 'a1' }))
    await alice.ok('commit', { gid, ...parts(start) })
    const hers = await published(mallory, 'm1')
    const joined = await bob.chat.join(gid)

    // Alice slips mallory's leaf into her own tree, then adds bob's device, claimed as it should be.
    const aliceLeaf = start.state.ratchetTree[0]
    const malloryLeaf = { nodeType: 'leaf', leaf: keyPackage(hers.package).leafNode } as const
    const slipped = { ...start.state, ratchetTree: [aliceLeaf, undefined, malloryLeaf] }
    const adding = await rawCommit(slipped, [await claimed(alice, gid, bob.sub)])
    const real = adding.state.ratchetTree
    expect(real[2]).toEqual(malloryLeaf)
    // The server is shown the tree it expects (bob at leaf 1), with a matching hash and a valid signature.
    const shown = await forgedInfo(adding.state, [real[0], undefined, real[4]])
    await alice.ok('commit', { gid, ...parts({ ...adding, info: shown }) })

    // Bob's device compares its whole tree with the roster the server vouches for: it refuses to join.
    await waitFor(() =>
      expect(bob.security).toContainEqual(expect.objectContaining({ kind: 'refused', gid })),
    )
    expect(await savedKeys(bob.store, gid)).toBeUndefined()
    await expect(joined.message('for alice only')).rejects.toMatchObject({ code: 'KEYS_REFUSED' })
    // Nothing bob said was ever encrypted: the group's log holds no message for mallory's leaf to open.
    const history = await alice.ok('history', { gid })
    expect((history.events as { type: string }[]).filter((e) => e.type === 'chat.message')).toEqual([])
  })
})

describe('devices nobody vouches for', { timeout: 120_000 }, () => {
  it("a ghost device another member made in bob's name is refused, and the removed member reads nothing after", async () => {
    const group = await encryptedGroup2()
    const { alice, bob, carol, gid } = group
    // Carol makes a key package naming a device of bob's that does not exist, signed with a key of her own.
    const ghost = await engine.makeKeyPackage(
      { iss: bob.iss, device: 'ghost' },
      await signerOf({ iss: carol.iss, device: 'ghost-of-bob' }),
    )
    expect(await carol.request('keys', { device: 'ghost', packages: [b64(ghost.package)] })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    const before = await groupItems(gid)
    const adding = await engine.commit(group.carolKeys, { add: [ghost.package] })
    expect(await carol.request('commit', { gid, ...parts(adding) })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await groupItems(gid)).toEqual(before)
    expect((await alice.ok('roster', { gid })).leaves).toHaveLength(3)

    // An admin removes carol; her leaf goes with the next commit, and she opens nothing said after it.
    await alice.ok('remove', { gid, iss: carol.iss })
    const roster = await alice.ok('roster', { gid })
    const removal = await engine.commit(group.aliceKeys, { remove: roster.stale as number[] })
    await alice.ok('commit', { gid, ...parts(removal) })
    const bobs = await engine.process(group.bobKeys, removal.commit)
    const said = await engine.encrypt(removal.keys, utf8('after carol left'))
    await alice.ok('message', { gid, body: '', cipher: b64(said.cipher) })
    expect(await opens(bobs.keys, b64(said.cipher))).toBe('after carol left')
    expect(await opens(group.carolKeys, b64(said.cipher))).toBeUndefined()
    expect(await opens(adding.keys, b64(said.cipher))).toBeUndefined()
  })

  it("a stolen session cannot add a device: the owner's devices must vouch for it", async () => {
    const group = await encryptedGroup2()
    const { alice, bob, gid } = group
    const [thief] = await connect(bob.iss)
    const roster = await thief.ok('roster', { gid })
    const info = Buffer.from((roster.info as { data: string }).data, 'base64')
    const evil = { iss: bob.iss, device: 'evil' }
    const joining = await engine.joinExternal(info, evil, await signerOf(evil))
    const before = await groupItems(gid)
    expect(await thief.request('commit', { gid, ...parts(joining) })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await groupItems(gid)).toEqual(before)

    // Nor can it put the device on bob's list: it holds no key of bob's devices.
    const { lists } = (await thief.ok('devices', { iss: bob.iss })) as unknown as { lists: DeviceList[] }
    const evilKey = await signerOf(evil)
    const key = b64(evilKey.publicKey)
    const sign = (message: Uint8Array) => engine.sign(evilKey.signKey, message)
    const selfSigned = await signDeviceList(
      bob.iss,
      lists.at(-1),
      [...(lists.at(-1)?.devices ?? []), { device: 'evil', key }],
      { device: 'evil', sign },
    )
    expect(await thief.request('vouch', { list: selfSigned })).toMatchObject({ code: 'BAD_REQUEST' })
    const anotherFirst = await firstDeviceList(bob.iss, 'evil', evilKey.publicKey, sign)
    expect(await thief.request('vouch', { list: anotherFirst })).toMatchObject({ code: 'CONFLICT' })

    // It may ask for approval (bob's device is told), but no claim hands its packages out meanwhile.
    const asking = await keyPackageOf(evil)
    await thief.ok('keys', { device: 'evil', packages: [b64(asking.package)] })
    const told = await bob.nextEvent('chat.devices', (e) => e.pending?.device === 'evil')
    expect(told.pending).toEqual({ device: 'evil', key })
    expect(await alice.request('claim', { gid, iss: bob.iss, have: ['b1'] })).toMatchObject({
      code: 'NO_KEY_PACKAGES',
    })
    const tryAnyway = await engine.commit(group.aliceKeys, { add: [asking.package] })
    expect(await alice.request('commit', { gid, ...parts(tryAnyway) })).toMatchObject({ code: 'FORBIDDEN' })
  })
})

describe('a commit members cannot take in', { timeout: 120_000 }, () => {
  it('with a corrupted membership tag is refused by a member and undone, naming its committer', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const [mallory] = await connect(unique('mallory'))
    const hers = await published(mallory, 'm1')
    const gid = unique('sealed')
    const group = await alice.chat.invite(gid, 'Sealed', [bob.sub, mallory.iss], undefined, {
      encrypted: true,
    })
    const bobs = await bob.chat.join(gid)
    await mallory.ok('join', { gid })
    // Alice's device adds bob's and mallory's; mallory's own client takes the Welcome.
    const added = await mallory.nextEvent('chat.commit', (e) => e.added.some((l) => l.iss === mallory.iss))
    let keys = await engine.joinFromWelcome(
      Buffer.from((added.welcome as { data: string }).data, 'base64'),
      hers.secret,
    )
    await waitFor(async () => {
      const roster = await alice.client.request('roster', { gid })
      expect(roster.missing).toEqual([])
      expect(roster.leaves).toHaveLength(3)
    })
    for (let epoch = keys.epoch + 1; ; epoch++) {
      const next = mallory.events('chat.commit', gid).find((e) => e.epoch === epoch)
      if (next === undefined) break
      keys = (await engine.process(keys, Buffer.from((next.commit as { data: string }).data, 'base64'))).keys
    }

    // A key update whose membership tag (the last bytes of a member's PublicMessage) no member can check.
    const update = await engine.commit(keys, {})
    const broken = update.commit.slice()
    broken[broken.length - 1] = (broken[broken.length - 1] ?? 0) ^ 0xff
    const sent = (await mallory.ok('commit', {
      gid,
      ...parts({ ...update, commit: broken }),
    })) as unknown as {
      epoch: number
    }

    const reverted = await mallory.nextEvent('chat.revert', (e) => e.epoch === sent.epoch)
    expect(reverted).toMatchObject({ iss: mallory.iss, epoch: sent.epoch, by: expect.any(String) })
    expect([alice.sub, bob.sub]).toContain(reverted.by)
    await waitFor(() =>
      expect([...alice.security, ...bob.security]).toContainEqual(
        expect.objectContaining({ kind: 'refused', gid, iss: mallory.iss, epoch: sent.epoch }),
      ),
    )
    for (const member of [alice, bob]) {
      await waitFor(() =>
        expect(member.security).toContainEqual(
          expect.objectContaining({ kind: 'reverted', gid, iss: mallory.iss }),
        ),
      )
    }
    expect((await alice.client.request('roster', { gid })).epoch).toBe(sent.epoch - 1)
    // Operators see the refusal: a security event naming the group and both sides, never keys.
    await waitFor(() =>
      expect(loggedEntries({ message: 'security event', kind: 'commit-refused', gid })).toContainEqual(
        expect.objectContaining({ level: 'WARN', iss: mallory.iss, by: reverted.by, epoch: sent.epoch }),
      ),
    )
    // The group goes on without the committer's help.
    await bobs.message('still talking')
    expect((await received(alice, 'still talking')).unreadable).toBe(false)
    await group.message('and back')
    expect((await received(bob, 'and back')).unreadable).toBe(false)
  })

  it('whose added devices the server misreports is refused by the member, and never applied', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const { gid } = await encryptedGroup(alice, bob)
    const [carol] = await connect(unique('carol'))
    await alice.chat.invite(gid, 'Sealed', [carol.iss])
    await carol.ok('join', { gid })
    const roster = await alice.client.request('roster', { gid })
    const aliceKeys = (await savedKeys(alice.store, gid)) as GroupKeys
    // The server's side, through the management API: a commit of alice's adding carol, with `added` naming
    // another device of carol's than the one MLS adds (and a roster to match the lie). Carol's key package
    // is published only now, once the members' devices found none at her join: none of them adds her first.
    await alice.client.close()
    // Bob's device looks for carol's key packages within 300 ms of her join (group-keys-sync.ts); on a busy
    // host it may look only after they are published, claim the one below and add her itself. Let it look first.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await published(carol, 'c1')
    const adding = await engine.commit(aliceKeys, { add: [await claimed(carol, gid, carol.iss)] })
    const lie: RosterLeaf = { leaf: 2, iss: carol.iss, device: 'c2', key: roster.leaves[0]?.key ?? '' }
    const head = Number((await bob.client.request('history', { gid, limit: 1 })).head)
    const forged: CommitEvent = {
      type: 'chat.commit',
      gid,
      iss: alice.sub,
      epoch: roster.epoch + 1,
      ...parts(adding),
      added: [lie],
      removed: [],
      tree: await rosterDigest([...roster.leaves, lie]),
      seq: head + 1,
      iat: new Date().toISOString(),
    }
    const poster = new SignedPostSender({
      endpoint: httpUrl(),
      region: localAccount.region,
      credentials: async () => functionCredentials('commit'),
    })
    for (const id of await connectionIds(bob.sub)) await poster.send(id, JSON.stringify(forged))
    poster.close()
    await waitFor(() =>
      expect(bob.security).toContainEqual(
        expect.objectContaining({ kind: 'refused', gid, epoch: roster.epoch + 1 }),
      ),
    )
    const kept = await savedKeys(bob.store, gid)
    expect(kept?.epoch).toBe(roster.epoch)
  })
})

describe("the creator's devices", { timeout: 120_000 }, () => {
  it('are all in the keys before the first message, which its second device reads', async () => {
    const alice = await device(unique('alice'))
    const phone = await approved(alice, await device(alice.sub))
    const bob = await device(unique('bob'))
    const gid = unique('sealed')
    const group = await alice.chat.invite(gid, 'Sealed', [bob.sub], undefined, { encrypted: true })
    await group.message('said at once')
    expect((await received(phone, 'said at once')).unreadable).toBe(false)
    await bob.chat.join(gid)
    await keysSettled(gid, alice, phone, bob)
  })
})

describe('key packages', () => {
  it('are valid now and for at most the directory limit, on publishing', async () => {
    const [alice] = await connect(unique('alice'))
    await vouchFor(alice, 'a1')
    const name = { iss: alice.iss, device: 'a1' }
    const cs = await cipherSuite()
    const now = BigInt(Math.floor(Date.now() / 1000))
    const made = async (notBefore: bigint, notAfter: bigint) => {
      const { publicPackage } = await generateKeyPackageWithKey(
        { credentialType: 'basic', identity: credentialIdentity(name) },
        defaultCapabilities(),
        { notBefore, notAfter },
        [],
        await signerOf(name),
        cs,
      )
      return b64(
        encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }),
      )
    }
    const year = 365n * 86_400n
    for (const [what, notBefore, notAfter] of [
      ['a hundred years', now - 60n, now + 100n * year],
      ['expired', now - 2n * 86_400n, now - 86_400n],
      ['not yet valid', now + 3600n, now + 86_400n],
    ] as const) {
      expect(
        await alice.request('keys', { device: 'a1', packages: [await made(notBefore, notAfter)] }),
        what,
      ).toMatchObject({
        code: 'BAD_REQUEST',
      })
    }
    expect(
      await alice.ok('keys', { device: 'a1', packages: [await made(now - 60n, now + 86_400n)] }),
    ).toMatchObject({
      available: 1,
    })
  })
})

/** An encrypted group of raw clients: alice (creator), bob and carol, each holding a leaf. */
async function encryptedGroup2() {
  const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
  const gid = unique('sealed')
  await alice.ok('invite', { gid, name: 'Sealed', members: [bob.iss, carol.iss], encrypted: true })
  await bob.ok('join', { gid })
  await carol.ok('join', { gid })
  await vouchFor(alice, 'a1')
  const started = await engine.commit(await groupOf(gid, { iss: alice.iss, device: 'a1' }), {})
  await alice.ok('commit', { gid, ...parts(started) })
  const bobs = await published(bob, 'b1')
  const carols = await published(carol, 'c1')
  const adding = await engine.commit(started.keys, {
    add: [await claimed(alice, gid, bob.iss), await claimed(alice, gid, carol.iss)],
  })
  const ack = await alice.ok('commit', { gid, ...parts(adding) })
  const event = await bob.nextEvent('chat.commit', (e) => e.seq === ack.seq)
  const welcome = Buffer.from((event.welcome as { data: string }).data, 'base64')
  return {
    alice,
    bob,
    carol,
    gid,
    aliceKeys: adding.keys,
    bobKeys: await engine.joinFromWelcome(welcome, bobs.secret),
    carolKeys: await engine.joinFromWelcome(welcome, carols.secret),
  }
}
