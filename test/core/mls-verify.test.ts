import { readFileSync } from 'node:fs'
import {
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls'
import { decodeAuthenticatedContent } from 'ts-mls/authenticatedContent.js'
import { encode } from 'ts-mls/codec/tlsEncoder.js'
import { commitEncoder } from 'ts-mls/commit.js'
import { makeHashImpl } from 'ts-mls/crypto/implementation/default/makeHashImpl.js'
import { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js'
import {
  type FramedContentCommit,
  signFramedContentTBS,
  verifyConfirmationTag,
  verifyFramedContentSignature,
} from 'ts-mls/framedContent.js'
import type { GroupContext } from 'ts-mls/groupContext.js'
import { type GroupInfo, signGroupInfo } from 'ts-mls/groupInfo.js'
import { decodeMlsMessage, type MLSMessage } from 'ts-mls/message.js'
import { verifyParentHashes } from 'ts-mls/parentHash.js'
import { decodeProposal } from 'ts-mls/proposal.js'
import { addLeafNode, decodeRatchetTree, encodeRatchetTree, type RatchetTree } from 'ts-mls/ratchetTree.js'
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js'
import { treeHash, treeHashRoot } from 'ts-mls/treeHash.js'
import { toNodeIndex } from 'ts-mls/treemath.js'
import { decodeUpdatePath } from 'ts-mls/updatePath.js'
import { beforeAll, describe, expect, it } from 'vitest'
import { type Committed, type GroupKeys, mlsEngine, type Signer } from '../../packages/client/src/mls.js'
import {
  checkGroupInfo,
  ratchetTreeFault,
  readVerifiedGroupInfo,
  treeAfterCommit,
  type VerifiedGroupInfo,
  verifyCommit,
} from '../../packages/client/src/mls-verify.js'
import { credentialIdentity, type DeviceName } from '../../packages/client/src/mls-wire.js'

// The delivery service's checks of commits and GroupInfos: over the MLS working group's RFC 9420 test vectors
// (cipher suite 1, trimmed copies in test/vectors), and over real bytes from the SDK's engine, valid and tampered.

const hex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'))
const sha256 = makeHashImpl(crypto.subtle, 'SHA-256')
const vector = <T>(name: string): T[] =>
  JSON.parse(readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8')) as T[]

/** A ratchet tree that takes exactly these bytes. */
function decodeTree(bytes: Uint8Array): RatchetTree {
  const decoded = decodeRatchetTree(bytes, 0)
  if (decoded === undefined || decoded[1] !== bytes.length) throw new Error('not a ratchet tree')
  return decoded[0]
}

function decodeMessage(bytes: Uint8Array): MLSMessage {
  const decoded = decodeMlsMessage(bytes, 0)
  if (decoded === undefined || decoded[1] !== bytes.length) throw new Error('not an MLS message')
  return decoded[0]
}

function flipped(bytes: Uint8Array, at = 0): Uint8Array {
  const copy = bytes.slice()
  copy[at] = (copy[at] ?? 0) ^ 1
  return copy
}

describe('RFC 9420 test vectors, cipher suite 1', () => {
  interface TreeValidation {
    group_id: string
    tree: string
    tree_hashes: string[]
  }
  const trees = vector<TreeValidation>('tree-validation')

  it('tree-validation: every node hash, the parent hashes and every leaf signature verify', async () => {
    expect(trees).toHaveLength(11)
    for (const [index, item] of trees.entries()) {
      const tree = decodeTree(hex(item.tree))
      expect(tree).toHaveLength(item.tree_hashes.length)
      for (const [node, hash] of item.tree_hashes.entries()) {
        expect(
          Buffer.from(await treeHash(tree, toNodeIndex(node), sha256)).toString('hex'),
          `${index}/${node}`,
        ).toBe(hash)
      }
      const root = (tree.length - 1) / 2
      const context = {
        groupId: hex(item.group_id),
        treeHash: hex(item.tree_hashes[root] ?? ''),
        extensions: [],
      }
      expect(await ratchetTreeFault(tree, context), `tree ${index}`).toBeUndefined()
      // ts-mls's own (bottom-up) parent-hash check agrees with ours (top-down).
      expect(await verifyParentHashes(tree, sha256)).toBe(true)
    }
  })

  it('tree-validation: a leaf out of its group or position, a flipped signature, a wrong hash all fail', async () => {
    let unmergedTrees = 0
    for (const [index, item] of trees.entries()) {
      const tree = decodeTree(hex(item.tree))
      const context = {
        groupId: hex(item.group_id),
        treeHash: await treeHashRoot(tree, sha256),
        extensions: [],
      }
      // Each of these trees was grown by commits, so its leaves are bound to this group id.
      expect(
        await ratchetTreeFault(tree, { ...context, groupId: flipped(context.groupId) }),
        `${index}`,
      ).toMatch(/signature does not verify/)
      expect(await ratchetTreeFault(tree, { ...context, treeHash: flipped(context.treeHash) })).toBe(
        'tree hash is not the group context tree hash',
      )
      const leaf = tree[0]
      if (leaf?.nodeType !== 'leaf') throw new Error('leaf 0 is blank')
      const forged: RatchetTree = [
        { nodeType: 'leaf', leaf: { ...leaf.leaf, signature: flipped(leaf.leaf.signature, 5) } },
        ...tree.slice(1),
      ]
      const forgedContext = { ...context, treeHash: await treeHashRoot(forged, sha256) }
      expect(await ratchetTreeFault(forged, forgedContext)).toMatch(/^leaf 0's signature does not verify/)
      const parent = tree.findIndex((node) => node?.nodeType === 'parent')
      const node = tree[parent]
      if (node?.nodeType !== 'parent') throw new Error('no parent node')
      const unchained = tree.map((n, i) =>
        i === parent
          ? {
              nodeType: 'parent' as const,
              parent: {
                ...node.parent,
                parentHash: flipped(
                  node.parent.parentHash.length > 0 ? node.parent.parentHash : new Uint8Array(32),
                ),
              },
            }
          : n,
      )
      const unchainedContext = { ...context, treeHash: await treeHashRoot(unchained, sha256) }
      expect(await ratchetTreeFault(unchained, unchainedContext)).toMatch(
        /^parent node \d+ is parent-hash valid for 0 descendants, not one$/,
      )
      expect(await verifyParentHashes(unchained, sha256)).toBe(false)
      // A parent node that forgets its unmerged leaves no longer explains its resolution.
      const listing = tree.findIndex((n) => n?.nodeType === 'parent' && n.parent.unmergedLeaves.length > 0)
      const lister = tree[listing]
      if (lister?.nodeType === 'parent') {
        unmergedTrees += 1
        const forgetful = tree.map((n, i) =>
          i === listing
            ? { nodeType: 'parent' as const, parent: { ...lister.parent, unmergedLeaves: [] } }
            : n,
        )
        const forgetfulContext = { ...context, treeHash: await treeHashRoot(forgetful, sha256) }
        expect(await ratchetTreeFault(forgetful, forgetfulContext), `tree ${index}`).toBeDefined()
      }
    }
    expect(unmergedTrees).toBe(2)
  })

  interface TreeOperation {
    tree_before: string
    tree_hash_before: string
    proposal: string
    proposal_sender: number
    tree_after: string
    tree_hash_after: string
  }

  it('tree-operations: an add and two removes give the tree and tree hash after', async () => {
    const operations = vector<TreeOperation>('tree-operations')
    expect(operations).toHaveLength(3)
    for (const item of operations) {
      const before = decodeTree(hex(item.tree_before))
      expect(await treeHashRoot(before, sha256)).toEqual(hex(item.tree_hash_before))
      const proposal = decodeProposal(hex(item.proposal), 0)?.[0]
      if (proposal === undefined) throw new Error('not a proposal')
      const applied = await treeAfterCommit(
        before,
        new Uint8Array(),
        { senderType: 'member', leafIndex: item.proposal_sender },
        { proposals: [{ proposalOrRefType: 'proposal', proposal }], path: undefined },
      )
      if (!applied.ok) throw new Error(applied.reason)
      expect(Buffer.from(encodeRatchetTree(applied.tree)).toString('hex')).toBe(item.tree_after)
      expect(await treeHashRoot(applied.tree, sha256)).toEqual(hex(item.tree_hash_after))
    }
  })

  interface TreeKem {
    group_id: string
    ratchet_tree: string
    update_paths: { sender: number; update_path: string; tree_hash_after: string }[]
  }

  it('treekem: each update path applies publicly to the tree hash after, with valid parent hashes', async () => {
    const items = vector<TreeKem>('treekem')
    expect(items.flatMap((item) => item.update_paths)).toHaveLength(5)
    for (const item of items) {
      const tree = decodeTree(hex(item.ratchet_tree))
      const groupId = hex(item.group_id)
      for (const { sender, update_path, tree_hash_after } of item.update_paths) {
        const path = decodeUpdatePath(hex(update_path), 0)?.[0]
        if (path === undefined) throw new Error('not an update path')
        const commit = { proposals: [], path }
        const applied = await treeAfterCommit(
          tree,
          groupId,
          { senderType: 'member', leafIndex: sender },
          commit,
        )
        if (!applied.ok) throw new Error(applied.reason)
        expect(applied.committer).toBe(sender)
        const treeHashAfter = hex(tree_hash_after)
        expect(await treeHashRoot(applied.tree, sha256)).toEqual(treeHashAfter)
        const context = { groupId, treeHash: treeHashAfter, extensions: [] }
        expect(await ratchetTreeFault(applied.tree, context)).toBeUndefined()

        const elsewhere = (sender + 1) % 2
        const moved = await treeAfterCommit(
          tree,
          groupId,
          { senderType: 'member', leafIndex: elsewhere },
          commit,
        )
        expect(moved.ok).toBe(false)
        const forged = {
          proposals: [],
          path: { ...path, leafNode: { ...path.leafNode, signature: flipped(path.leafNode.signature) } },
        }
        const unsigned = await treeAfterCommit(
          tree,
          groupId,
          { senderType: 'member', leafIndex: sender },
          forged,
        )
        expect(unsigned).toEqual({
          ok: false,
          reason: `path leaf node's signature does not verify at leaf ${sender}`,
        })
      }
    }
  })

  interface TranscriptHashes {
    confirmation_key: string
    authenticated_content: string
    interim_transcript_hash_before: string
    confirmed_transcript_hash_after: string
    interim_transcript_hash_after: string
  }

  it('transcript-hashes: the confirmed and interim hashes follow from the commit; its tag needs a secret', async () => {
    const [item] = vector<TranscriptHashes>('transcript-hashes')
    if (item === undefined) throw new Error('no vector')
    const content = decodeAuthenticatedContent(hex(item.authenticated_content), 0)?.[0]
    if (content?.auth.contentType !== 'commit' || content.content.contentType !== 'commit') {
      throw new Error('not a commit')
    }
    const confirmed = await createConfirmedHash(
      hex(item.interim_transcript_hash_before),
      { wireformat: content.wireformat, content: content.content, signature: content.auth.signature },
      sha256,
    )
    expect(confirmed).toEqual(hex(item.confirmed_transcript_hash_after))
    expect(await createInterimHash(confirmed, content.auth.confirmationTag, sha256)).toEqual(
      hex(item.interim_transcript_hash_after),
    )
    // The confirmation tag is a MAC under the epoch's confirmation key, which a delivery service never has.
    const key = hex(item.confirmation_key)
    expect(await verifyConfirmationTag(key, content.auth.confirmationTag, confirmed, sha256)).toBe(true)
    expect(await verifyConfirmationTag(flipped(key), content.auth.confirmationTag, confirmed, sha256)).toBe(
      false,
    )
  })

  interface MessageProtection {
    group_id: string
    epoch: number
    tree_hash: string
    confirmed_transcript_hash: string
    signature_pub: string
    commit: string
    commit_pub: string
  }

  it("message-protection: a PublicMessage commit's signature verifies over its group context, and only so", async () => {
    const [item] = vector<MessageProtection>('message-protection')
    if (item === undefined) throw new Error('no vector')
    const message = decodeMessage(hex(item.commit_pub))
    if (
      message.wireformat !== 'mls_public_message' ||
      message.publicMessage.content.contentType !== 'commit'
    ) {
      throw new Error('not a PublicMessage commit')
    }
    const { content, auth } = message.publicMessage
    expect(encode(commitEncoder)(content.commit)).toEqual(hex(item.commit))
    const context: GroupContext = {
      version: 'mls10',
      cipherSuite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
      groupId: hex(item.group_id),
      epoch: BigInt(item.epoch),
      treeHash: hex(item.tree_hash),
      confirmedTranscriptHash: hex(item.confirmed_transcript_hash),
      extensions: [],
    }
    const signature = await makeNobleSignatureImpl('Ed25519')
    const key = hex(item.signature_pub)
    const verify = (c: GroupContext, a = auth) =>
      verifyFramedContentSignature(key, 'mls_public_message', content, a, c, signature)
    expect(await verify(context)).toBe(true)
    expect(await verify({ ...context, epoch: context.epoch + 1n })).toBe(false)
    expect(await verify({ ...context, treeHash: flipped(context.treeHash) })).toBe(false)
    expect(await verify(context, { ...auth, signature: flipped(auth.signature) })).toBe(false)
  })
})

describe('commits and GroupInfos made by the engine', () => {
  const engine = mlsEngine()
  const alice: DeviceName = { iss: 'alice', device: 'phone' }
  const bob: DeviceName = { iss: 'bob', device: 'laptop' }
  const carol: DeviceName = { iss: 'carol', device: 'tablet' }
  const dave: DeviceName = { iss: 'dave', device: 'desktop' }
  const signers = new Map<string, Signer>()
  let ed25519: Awaited<ReturnType<typeof makeNobleSignatureImpl>>

  /** A signer per identity, made once: the device's key every leaf of it signs with. */
  async function signer(name: DeviceName): Promise<Signer> {
    const key = `${name.iss}/${name.device}`
    const known = signers.get(key)
    if (known !== undefined) return known
    const made = await ed25519.keygen()
    signers.set(key, made)
    return made
  }

  async function verified(bytes: Uint8Array): Promise<VerifiedGroupInfo> {
    const checked = await checkGroupInfo(bytes)
    if (!checked.ok) throw new Error(checked.reason)
    return checked.info
  }

  /** Epoch by epoch: alice adds bob and carol; bob updates; alice removes carol; dave joins externally. */
  const epochs: { made: Committed; info: VerifiedGroupInfo }[] = []
  let aliceAt1: GroupKeys
  let bobAt1: GroupKeys

  beforeAll(async () => {
    ed25519 = await makeNobleSignatureImpl('Ed25519')
    const created = await engine.createGroup('g-verify', alice, await signer(alice))
    const forBob = await engine.makeKeyPackage(bob, await signer(bob))
    const forCarol = await engine.makeKeyPackage(carol, await signer(carol))
    const adds = await engine.commit(created, { add: [forBob.package, forCarol.package] })
    aliceAt1 = adds.keys
    if (adds.welcome === undefined) throw new Error('no welcome')
    bobAt1 = await engine.joinFromWelcome(adds.welcome, forBob.secret)
    const update = await engine.commit(bobAt1, {})
    const aliceAt2 = (await engine.process(adds.keys, update.commit)).keys
    const remove = await engine.commit(aliceAt2, { remove: [2] })
    const external = await engine.joinExternal(remove.info, dave, await signer(dave))
    for (const made of [adds, update, remove, external])
      epochs.push({ made, info: await verified(made.info) })
  })

  const at = (epoch: number) => {
    const found = epochs[epoch - 1]
    if (found === undefined) throw new Error(`no epoch ${epoch}`)
    return found
  }

  it('GroupInfos verify, with their leaves, identities and signature keys', async () => {
    const leaves = await Promise.all(
      epochs.map(({ info }) =>
        info.leaves.map(({ leaf, identity }) => [leaf, new TextDecoder().decode(identity)]),
      ),
    )
    const named = (name: DeviceName) => new TextDecoder().decode(credentialIdentity(name))
    expect(leaves).toEqual([
      [
        [0, named(alice)],
        [1, named(bob)],
        [2, named(carol)],
      ],
      [
        [0, named(alice)],
        [1, named(bob)],
        [2, named(carol)],
      ],
      [
        [0, named(alice)],
        [1, named(bob)],
      ],
      [
        [0, named(alice)],
        [1, named(bob)],
        [2, named(dave)],
      ],
    ])
    expect(at(4).info.leaves[2]?.signatureKey).toEqual((await signer(dave)).publicKey)
    expect(epochs.map(({ info }) => [info.groupId, info.epoch])).toEqual([
      ['g-verify', 1],
      ['g-verify', 2],
      ['g-verify', 3],
      ['g-verify', 4],
    ])
    expect(await readVerifiedGroupInfo(at(2).made.info)).toMatchObject({ groupId: 'g-verify', epoch: 2 })
  })

  it('each commit verifies against the GroupInfos before and after it: adds, update, remove, external join', async () => {
    expect(await verifyCommit(at(2).made.commit, at(1).info, at(2).info)).toEqual({
      ok: true,
      committer: 1,
      unverified: [],
    })
    expect(await verifyCommit(at(3).made.commit, at(2).info, at(3).info)).toEqual({
      ok: true,
      committer: 0,
      unverified: [],
    })
    expect(await verifyCommit(at(4).made.commit, at(3).info, at(4).info)).toEqual({
      ok: true,
      committer: 2,
      unverified: [],
    })
  })

  it('an external rejoin in place of an old leaf verifies', async () => {
    const rejoin = await engine.joinExternal(
      at(4).made.info,
      dave,
      await signer({ ...dave, device: 'new' }),
      2,
    )
    const after = await verified(rejoin.info)
    expect(await verifyCommit(rejoin.commit, at(4).info, after)).toEqual({
      ok: true,
      committer: 2,
      unverified: [],
    })
  })

  it("a group's first commit verifies as far as epoch 0 can be rebuilt", async () => {
    const transcript = expect.stringMatching(/^transcript: /)
    expect(await verifyCommit(at(1).made.commit, undefined, at(1).info)).toEqual({
      ok: true,
      committer: 0,
      unverified: [transcript],
    })
    // Its signature is checked: the creator's leaf is unchanged by a commit that only adds.
    const forged = await resignedCommit(at(1).made.commit, undefined, async (content) => content, bob)
    expect(await verifyCommit(forged, undefined, at(1).info)).toEqual({
      ok: false,
      reason: "signature does not verify against the sender's key and group context",
    })
    // A first commit with a path replaces the creator's leaf: its signature cannot be checked, its tree can.
    const created = await engine.createGroup('g-first-path', alice, await signer(alice))
    const update = await engine.commit(created, {})
    expect(await verifyCommit(update.commit, undefined, await verified(update.info))).toEqual({
      ok: true,
      committer: 0,
      unverified: [transcript, expect.stringMatching(/^signature: /)],
    })
    expect(await verifyCommit(at(2).made.commit, undefined, at(2).info)).toEqual({
      ok: false,
      reason: 'no GroupInfo of the epoch this commit was made in',
    })
  })

  it("with a GroupInfo of epoch 0 (made with ts-mls itself), the first commit's transcript verifies too", async () => {
    const cs = await getCiphersuiteImpl(
      getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'),
    )
    const keyPackage = async (name: DeviceName) =>
      generateKeyPackageWithKey(
        { credentialType: 'basic', identity: credentialIdentity(name) },
        defaultCapabilities(),
        defaultLifetime,
        [],
        await signer(name),
        cs,
      )
    const creator = await keyPackage(alice)
    const state = await createGroup(
      new TextEncoder().encode('g-epoch-0'),
      creator.publicPackage,
      creator.privatePackage,
      [],
      cs,
    )
    const infoBytes = async (info: GroupInfo) =>
      encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: info })
    const epoch0 = await verified(
      await infoBytes(await createGroupInfoWithExternalPubAndRatchetTree(state, [], cs)),
    )
    const joiner = await keyPackage(bob)
    const made = await createCommit(
      { state, cipherSuite: cs },
      {
        wireAsPublicMessage: true,
        extraProposals: [{ proposalType: 'add', add: { keyPackage: joiner.publicPackage } }],
      },
    )
    const epoch1 = await verified(
      await infoBytes(await createGroupInfoWithExternalPubAndRatchetTree(made.newState, [], cs)),
    )
    const commit = encodeMlsMessage(made.commit)
    expect(await verifyCommit(commit, epoch0, epoch1)).toEqual({ ok: true, committer: 0, unverified: [] })
    // An empty interim transcript hash (as if epoch 0 had none) does not give epoch 1's confirmed hash.
    const message = decodeMessage(commit)
    if (
      message.wireformat !== 'mls_public_message' ||
      message.publicMessage.content.contentType !== 'commit'
    ) {
      throw new Error('not a PublicMessage commit')
    }
    const input = {
      wireformat: 'mls_public_message' as const,
      content: message.publicMessage.content,
      signature: message.publicMessage.auth.signature,
    }
    expect(await createConfirmedHash(new Uint8Array(), input, sha256)).not.toEqual(
      epoch1.groupContext.confirmedTranscriptHash,
    )
  })

  it('a flipped signature byte fails the commit; a flipped byte anywhere in a GroupInfo fails it', async () => {
    const message = decodeMessage(at(2).made.commit)
    if (message.wireformat !== 'mls_public_message') throw new Error('not a PublicMessage')
    const { auth } = message.publicMessage
    const tampered = encodeMlsMessage({
      ...message,
      publicMessage: { ...message.publicMessage, auth: { ...auth, signature: flipped(auth.signature, 7) } },
    })
    expect(await verifyCommit(tampered, at(1).info, at(2).info)).toEqual({
      ok: false,
      reason: "signature does not verify against the sender's key and group context",
    })
    const info = at(3).made.info
    for (const index of [0, 10, 40, Math.floor(info.length / 2), info.length - 20, info.length - 1]) {
      expect(await readVerifiedGroupInfo(flipped(info, index)), `byte ${index}`).toBeUndefined()
    }
  })

  it('a GroupInfo whose tree has an extra leaf fails, however its signer signs it', async () => {
    const stranger = await engine.makeKeyPackage(carol, await signer({ ...carol, device: 'other' }))
    const message = decodeMessage(stranger.package)
    if (message.wireformat !== 'mls_key_package') throw new Error('not a key package')
    const extraLeaf = (tree: RatchetTree) => addLeafNode(tree, message.keyPackage.leafNode)[0]
    // Signed as sent: the signature no longer covers it.
    expect(await checkGroupInfo(await retreed(at(3).made.info, extraLeaf))).toEqual({
      ok: false,
      reason: 'signature does not verify against signer leaf 0',
    })
    // Signed again by its signer: the tree no longer has the group context's tree hash.
    const resigned = await retreed(at(3).made.info, extraLeaf, { sign: await signer(alice) })
    expect(await checkGroupInfo(resigned)).toEqual({
      ok: false,
      reason: 'ratchet tree: tree hash is not the group context tree hash',
    })
    // Its tree hash put right too: a valid GroupInfo on its own, but not the one the commit makes.
    const consistent = await retreed(at(3).made.info, extraLeaf, { sign: await signer(alice), rehash: true })
    const after = await verified(consistent)
    expect(after.leaves).toHaveLength(3)
    expect(await verifyCommit(at(3).made.commit, at(2).info, after)).toEqual({
      ok: false,
      reason: "after's tree is not the tree before with this commit applied",
    })
  })

  it('a GroupInfo with a repeated signature or encryption key fails', async () => {
    // Another key package of bob's device: a new encryption key, the same signature key.
    const again = decodeMessage((await engine.makeKeyPackage(bob, await signer(bob))).package)
    if (again.wireformat !== 'mls_key_package') throw new Error('not a key package')
    const repeated = await retreed(
      at(3).made.info,
      (tree) => addLeafNode(tree, again.keyPackage.leafNode)[0],
      { sign: await signer(alice), rehash: true },
    )
    expect(await checkGroupInfo(repeated)).toEqual({
      ok: false,
      reason: 'ratchet tree: leaf 2 repeats a signature key',
    })
    const bobLeaf = at(3).info.tree[2]
    if (bobLeaf?.nodeType !== 'leaf') throw new Error('leaf 1 is blank')
    const twice = await retreed(at(3).made.info, (tree) => addLeafNode(tree, bobLeaf.leaf)[0], {
      sign: await signer(alice),
      rehash: true,
    })
    expect(await checkGroupInfo(twice)).toEqual({
      ok: false,
      reason: 'ratchet tree: node 4 repeats an encryption key',
    })
  })

  it('a GroupInfo of another commit of the same epoch fails', async () => {
    // Alice and bob both commit at epoch 1, each adding the same device: the two trees are the same.
    const forDave = await engine.makeKeyPackage(dave, await signer(dave))
    const byAlice = await engine.commit(aliceAt1, { add: [forDave.package] })
    const byBob = await engine.commit(bobAt1, { add: [forDave.package] })
    const aliceInfo = await verified(byAlice.info)
    const bobInfo = await verified(byBob.info)
    expect(await verifyCommit(byAlice.commit, at(1).info, aliceInfo)).toMatchObject({ ok: true })
    expect(bobInfo.groupContext.treeHash).toEqual(aliceInfo.groupContext.treeHash)
    expect(await verifyCommit(byAlice.commit, at(1).info, bobInfo)).toEqual({
      ok: false,
      reason: "after's confirmation tag is not this commit's",
    })
    // Even with alice's confirmation tag copied into it, bob's GroupInfo has another transcript.
    const copied = await retagged(byBob.info, aliceInfo.confirmationTag, await signer(bob))
    expect(await verifyCommit(byAlice.commit, at(1).info, await verified(copied))).toEqual({
      ok: false,
      reason: "after's confirmed transcript hash does not follow from before's and this commit",
    })
    // And a GroupInfo of a commit of another epoch.
    expect(await verifyCommit(at(3).made.commit, at(2).info, at(4).info)).toEqual({
      ok: false,
      reason: 'after is not of the epoch this commit begins',
    })
  })

  it("a commit signed by another leaf's key fails, and so does a path leaf signed for another place", async () => {
    // Bob's update, claimed for alice's leaf 0 and signed by bob.
    const claimed = await resignedCommit(
      at(2).made.commit,
      at(1).info.groupContext,
      async (content) => ({ ...content, sender: { senderType: 'member', leafIndex: 0 } }),
      bob,
    )
    expect(await verifyCommit(claimed, at(1).info, at(2).info)).toEqual({
      ok: false,
      reason: "signature does not verify against the sender's key and group context",
    })
    // Bob's update with its path leaf's signature broken, the commit signed again by bob.
    const broken = await resignedCommit(
      at(2).made.commit,
      at(1).info.groupContext,
      async (content) => {
        const path = content.commit.path
        if (path === undefined) throw new Error('no path')
        const leafNode = { ...path.leafNode, signature: flipped(path.leafNode.signature) }
        return { ...content, commit: { ...content.commit, path: { ...path, leafNode } } }
      },
      bob,
    )
    expect(await verifyCommit(broken, at(1).info, at(2).info)).toEqual({
      ok: false,
      reason: "path leaf node's signature does not verify at leaf 1",
    })
    // Dave's external commit, its signature made by bob's key instead of its path leaf's.
    const external = await resignedCommit(at(4).made.commit, at(3).info.groupContext, async (c) => c, bob)
    expect(await verifyCommit(external, at(3).info, at(4).info)).toEqual({
      ok: false,
      reason: "signature does not verify against the sender's key and group context",
    })
  })

  it('a commit breaking the proposal rules fails, though signed by its sender', async () => {
    const byReference = await resignedCommit(
      at(2).made.commit,
      at(1).info.groupContext,
      async (content) => ({
        ...content,
        commit: {
          ...content.commit,
          proposals: [{ proposalOrRefType: 'reference', reference: new Uint8Array(32) }],
        },
      }),
      bob,
    )
    expect(await verifyCommit(byReference, at(1).info, at(2).info)).toEqual({
      ok: false,
      reason: 'a proposal by reference (its content is not in the commit)',
    })
    const withoutPath = await resignedCommit(
      at(3).made.commit,
      at(2).info.groupContext,
      async (content) => ({ ...content, commit: { ...content.commit, path: undefined } }),
      alice,
    )
    expect(await verifyCommit(withoutPath, at(2).info, at(3).info)).toEqual({
      ok: false,
      reason: 'a path is required and missing',
    })
    const removingItself = await resignedCommit(
      at(3).made.commit,
      at(2).info.groupContext,
      async (content) => ({
        ...content,
        commit: {
          ...content.commit,
          proposals: [
            { proposalOrRefType: 'proposal', proposal: { proposalType: 'remove', remove: { removed: 0 } } },
          ],
        },
      }),
      alice,
    )
    expect(await verifyCommit(removingItself, at(2).info, at(3).info)).toEqual({
      ok: false,
      reason: 'the committer removes itself',
    })
    const forgedPackage = await resignedCommit(
      at(1).made.commit,
      undefined,
      async (content) => ({
        ...content,
        commit: {
          ...content.commit,
          proposals: content.commit.proposals.map((item) =>
            item.proposalOrRefType === 'proposal' && item.proposal.proposalType === 'add'
              ? {
                  ...item,
                  proposal: {
                    ...item.proposal,
                    add: {
                      keyPackage: {
                        ...item.proposal.add.keyPackage,
                        signature: flipped(item.proposal.add.keyPackage.signature),
                      },
                    },
                  },
                }
              : item,
          ),
        },
      }),
      alice,
    )
    expect(await verifyCommit(forgedPackage, undefined, at(1).info)).toEqual({
      ok: false,
      reason: 'add proposal 0: key package signature does not verify',
    })
  })

  it('never throws on garbage, and tells a GroupInfo from a commit', async () => {
    const samples = [
      new Uint8Array(),
      new Uint8Array([0, 1]),
      crypto.getRandomValues(new Uint8Array(300)),
      at(2).made.commit.slice(0, 100),
      at(2).made.info.slice(0, at(2).made.info.length - 1),
    ]
    for (const bytes of samples) {
      expect(await readVerifiedGroupInfo(bytes)).toBeUndefined()
      expect((await checkGroupInfo(bytes)).ok).toBe(false)
      expect((await verifyCommit(bytes, at(1).info, at(2).info)).ok).toBe(false)
    }
    expect(await checkGroupInfo(at(2).made.commit)).toEqual({
      ok: false,
      reason: 'not an MLS 1.0 GroupInfo message',
    })
    expect(await verifyCommit(at(2).made.info, at(1).info, at(2).info)).toEqual({
      ok: false,
      reason: 'not an MLS 1.0 PublicMessage commit',
    })
    const other = await engine.createGroup('g-other', alice, await signer(alice))
    const otherInfo = await verified((await engine.commit(other, {})).info)
    expect(await verifyCommit(at(2).made.commit, at(1).info, otherInfo)).toEqual({
      ok: false,
      reason: 'after is a GroupInfo of another group',
    })
  })

  /** A GroupInfo with its tree changed; signed again by `sign`, with its context's tree hash put right (`rehash`). */
  async function retreed(
    bytes: Uint8Array,
    change: (tree: RatchetTree) => RatchetTree,
    options: { sign?: Signer; rehash?: boolean } = {},
  ): Promise<Uint8Array> {
    const message = decodeMessage(bytes)
    if (message.wireformat !== 'mls_group_info') throw new Error('not a GroupInfo')
    const info = message.groupInfo
    const current = info.extensions.find((e) => e.extensionType === 'ratchet_tree')
    if (current === undefined) throw new Error('no tree')
    const tree = change(decodeTree(current.extensionData))
    const extensions = info.extensions.map((e) =>
      e === current ? { extensionType: e.extensionType, extensionData: encodeRatchetTree(tree) } : e,
    )
    const groupContext = options.rehash
      ? { ...info.groupContext, treeHash: await treeHashRoot(tree, sha256) }
      : info.groupContext
    const changed: GroupInfo = { ...info, extensions, groupContext }
    const signed = options.sign ? await signGroupInfo(changed, options.sign.signKey, ed25519) : changed
    return encodeMlsMessage({ ...message, groupInfo: signed })
  }

  /** A GroupInfo with another confirmation tag, signed again by `sign`. */
  async function retagged(bytes: Uint8Array, tag: Uint8Array, sign: Signer): Promise<Uint8Array> {
    const message = decodeMessage(bytes)
    if (message.wireformat !== 'mls_group_info') throw new Error('not a GroupInfo')
    const signed = await signGroupInfo({ ...message.groupInfo, confirmationTag: tag }, sign.signKey, ed25519)
    return encodeMlsMessage({ ...message, groupInfo: signed })
  }

  /**
   * A commit with its content changed and signed by `by` over `context` (for a first commit, epoch 0's context
   * as verifyCommit rebuilds it).
   */
  async function resignedCommit(
    bytes: Uint8Array,
    context: GroupContext | undefined,
    change: (content: FramedContentCommit) => Promise<FramedContentCommit>,
    by: DeviceName,
  ): Promise<Uint8Array> {
    const message = decodeMessage(bytes)
    if (
      message.wireformat !== 'mls_public_message' ||
      message.publicMessage.content.contentType !== 'commit'
    ) {
      throw new Error('not a PublicMessage commit')
    }
    const content = await change(message.publicMessage.content)
    const groupContext = context ?? (await rebuiltEpoch0(content))
    const signature = await signFramedContentTBS(
      (await signer(by)).signKey,
      {
        protocolVersion: 'mls10',
        wireformat: 'mls_public_message',
        content,
        senderType: content.sender.senderType,
        context: groupContext,
      },
      ed25519,
    )
    const auth = { ...message.publicMessage.auth, signature }
    return encodeMlsMessage({ ...message, publicMessage: { ...message.publicMessage, content, auth } })
  }

  /** Epoch 0's group context for the first commit of the scenario: alice's leaf 0 alone. */
  async function rebuiltEpoch0(content: FramedContentCommit): Promise<GroupContext> {
    const creator = at(1).info.tree[0]
    if (creator === undefined) throw new Error('leaf 0 is blank')
    return {
      ...at(1).info.groupContext,
      groupId: content.groupId,
      epoch: 0n,
      treeHash: await treeHashRoot([creator], sha256),
      confirmedTranscriptHash: new Uint8Array(),
    }
  }
})
