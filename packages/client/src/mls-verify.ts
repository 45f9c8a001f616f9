import { encode } from 'ts-mls/codec/tlsEncoder.js'
import type { Commit } from 'ts-mls/commit.js'
import type { Hash } from 'ts-mls/crypto/hash.js'
import { makeHashImpl } from 'ts-mls/crypto/implementation/default/makeHashImpl.js'
import { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js'
import type { Signature } from 'ts-mls/crypto/signature.js'
import { type Extension, extensionEncoder, extensionsSupportedByCapabilities } from 'ts-mls/extension.js'
import { type FramedContentCommit, verifyFramedContentSignature } from 'ts-mls/framedContent.js'
import type { GroupContext } from 'ts-mls/groupContext.js'
import { verifyGroupInfoSignature } from 'ts-mls/groupInfo.js'
import { type KeyPackage, verifyKeyPackage } from 'ts-mls/keyPackage.js'
import { type LeafNode, verifyLeafNodeSignature, verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js'
import { decodeMlsMessage, type MLSMessage } from 'ts-mls/message.js'
import { parentHashInputEncoder } from 'ts-mls/parentHash.js'
import type { Proposal } from 'ts-mls/proposal.js'
import {
  addLeafNode,
  decodeRatchetTree,
  type RatchetTree,
  removeLeafNode,
  removeLeaves,
  resolution,
} from 'ts-mls/ratchetTree.js'
import { decodeRequiredCapabilities } from 'ts-mls/requiredCapabilities.js'
import type { Sender } from 'ts-mls/sender.js'
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js'
import { leafNodeHashInputEncoder, parentNodeHashInputEncoder, treeHash } from 'ts-mls/treeHash.js'
import {
  directPath,
  leafWidth,
  nodeToLeafIndex,
  rootFromNodeWidth,
  toLeafIndex,
  toNodeIndex,
} from 'ts-mls/treemath.js'
import { applyUpdatePath } from 'ts-mls/updatePath.js'
import { toBase64 } from './bytes.js'

// What a delivery service can verify of MLS commits and GroupInfos without any group secret (RFC 9420), over
// ts-mls's own primitives: pure functions over bytes that return a verdict and never throw.
// Not verifiable here, for want of the epoch's secrets: a commit's membership tag and confirmation tag (only
// that it equals the next GroupInfo's), whether its UpdatePath ciphertexts hold the right path secrets,
// whether a GroupInfo's external_pub belongs to its epoch, and anything in a Welcome.

const ciphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const sha256: Hash = makeHashImpl(crypto.subtle, 'SHA-256')

/** A member's leaf in a verified GroupInfo's tree. */
export interface VerifiedLeaf {
  leaf: number
  /** The leaf's BasicCredential identity. */
  identity: Uint8Array
  signatureKey: Uint8Array
}

/** A GroupInfo whose ratchet tree and signature verified: what a commit of its epoch is checked against. */
export interface VerifiedGroupInfo {
  /** The MLS group id, UTF-8 decoded (Huddle's gid). */
  groupId: string
  epoch: number
  /** The non-blank leaves, in index order. */
  leaves: VerifiedLeaf[]
  groupContext: GroupContext
  /** The epoch's public ratchet tree, from the GroupInfo's ratchet_tree extension. */
  tree: RatchetTree
  /** The confirmation tag of the commit that began this epoch. */
  confirmationTag: Uint8Array
  /** What the next commit's confirmed transcript hash extends: H(confirmed_transcript_hash || confirmation_tag). */
  interimTranscriptHash: Uint8Array
}

/** A verdict: what was verified, or the first check that failed, in a few words for the server's log. */
export type Checked<T> = ({ ok: true } & T) | { ok: false; reason: string }

/**
 * A commit's verdict. `committer` is the committer's leaf in the new epoch; `unverified` names what could not be
 * checked at all (only ever for a group's first commit, which has no GroupInfo before it).
 */
export type CommitVerdict = Checked<{ committer: number; unverified: string[] }>

/** Where a commit is applied: an epoch's tree and group context, and its interim transcript hash when known. */
interface EpochBase {
  tree: RatchetTree
  groupContext: GroupContext
  interimTranscriptHash: Uint8Array | undefined
}

/**
 * A GroupInfo message of our ciphersuite with the external_pub and ratchet_tree extensions, signed by its signer
 * leaf, whose tree is valid for its group context (RFC 9420 §12.4.3.1: see ratchetTreeFault) and holds only basic
 * credentials; or the first check it fails.
 */
export async function checkGroupInfo(bytes: Uint8Array): Promise<Checked<{ info: VerifiedGroupInfo }>> {
  try {
    const message = decodeWhole(bytes)
    if (message?.wireformat !== 'mls_group_info' || message.version !== 'mls10') {
      return fail('not an MLS 1.0 GroupInfo message')
    }
    const { groupInfo } = message
    const context = groupInfo.groupContext
    if (context.version !== 'mls10' || context.cipherSuite !== ciphersuiteName) {
      return fail(`not a group of MLS 1.0 with ${ciphersuiteName}`)
    }
    const groupId = utf8(context.groupId)
    const epoch = safeNumber(context.epoch)
    if (groupId === undefined || epoch === undefined) {
      return fail('group id is not UTF-8 or epoch is too large')
    }
    const extensionFault = extensionsFault(groupInfo.extensions)
    if (extensionFault !== undefined) return fail(extensionFault)
    const treeData = groupInfo.extensions.find((e) => e.extensionType === 'ratchet_tree')?.extensionData
    const tree = treeData === undefined ? undefined : decodeTree(treeData)
    if (tree === undefined) return fail('ratchet_tree extension does not decode')
    const signer = tree[groupInfo.signer * 2]
    if (signer?.nodeType !== 'leaf') return fail(`signer leaf ${groupInfo.signer} is blank`)
    if (!(await verifyGroupInfoSignature(groupInfo, signer.leaf.signaturePublicKey, await ed25519()))) {
      return fail(`signature does not verify against signer leaf ${groupInfo.signer}`)
    }
    const fault = await ratchetTreeFault(tree, context)
    if (fault !== undefined) return fail(`ratchet tree: ${fault}`)
    const leaves: VerifiedLeaf[] = []
    for (const [index, node] of tree.entries()) {
      if (node?.nodeType !== 'leaf') continue
      const { credential, signaturePublicKey } = node.leaf
      if (credential.credentialType !== 'basic') return fail(`leaf ${index / 2} has no basic credential`)
      leaves.push({ leaf: index / 2, identity: credential.identity, signatureKey: signaturePublicKey })
    }
    const interimTranscriptHash = await createInterimHash(
      context.confirmedTranscriptHash,
      groupInfo.confirmationTag,
      sha256,
    )
    return {
      ok: true,
      info: {
        groupId,
        epoch,
        leaves,
        groupContext: context,
        tree,
        confirmationTag: groupInfo.confirmationTag,
        interimTranscriptHash,
      },
    }
  } catch (error) {
    return fail(`unreadable: ${errorMessage(error)}`)
  }
}

/** The GroupInfo checkGroupInfo accepts, or undefined. */
export async function readVerifiedGroupInfo(bytes: Uint8Array): Promise<VerifiedGroupInfo | undefined> {
  const checked = await checkGroupInfo(bytes)
  return checked.ok ? checked.info : undefined
}

/**
 * Verifies a PublicMessage commit against the verified GroupInfos of the epoch it was made in (`before`) and of the
 * epoch it begins (`after`): the proposal rules (RFC 9420 §12.2, §12.4.2; all by value), added key packages'
 * signatures, the commit's signature (a member's against its leaf's key in before's tree, an external joiner's
 * against its path leaf's key, both over before's group context), the path leaf's signature at the committer's
 * new leaf and its parent hash, that after's tree is before's with the commit applied (equal tree hashes), after's
 * extensions, after's confirmed transcript hash (RFC 9420 §8.2) and that after's confirmation tag is the commit's.
 *
 * `before` is undefined only for the group's first commit (epoch 0), which is checked against a rebuilt epoch 0:
 * its tree is the creator's one leaf, which after still holds when the commit has no path (then the signature
 * verifies); a path replaces that leaf, so the signature cannot be checked; and epoch 0's interim transcript hash
 * comes from the creator's secret confirmation tag (RFC 9420 §11), so the transcript is never checked.
 */
export async function verifyCommit(
  commitBytes: Uint8Array,
  before: VerifiedGroupInfo | undefined,
  after: VerifiedGroupInfo,
): Promise<CommitVerdict> {
  try {
    const message = decodeWhole(commitBytes)
    if (
      message?.wireformat !== 'mls_public_message' ||
      message.version !== 'mls10' ||
      message.publicMessage.content.contentType !== 'commit' ||
      message.publicMessage.auth.contentType !== 'commit'
    ) {
      return fail('not an MLS 1.0 PublicMessage commit')
    }
    const content: FramedContentCommit = message.publicMessage.content
    const { auth } = message.publicMessage
    const { sender, commit } = content
    if (sender.senderType !== 'member' && sender.senderType !== 'new_member_commit') {
      return fail(`a commit cannot come from a sender of type ${sender.senderType}`)
    }
    const next = after.groupContext
    if (!sameBytes(next.groupId, content.groupId)) return fail('after is a GroupInfo of another group')
    if (next.epoch !== content.epoch + 1n) return fail('after is not of the epoch this commit begins')
    if (!sameBytes(auth.confirmationTag, after.confirmationTag)) {
      return fail("after's confirmation tag is not this commit's")
    }
    const unverified: string[] = []
    let base: EpochBase
    let signatureKnown = true
    if (before !== undefined) {
      const previous = before.groupContext
      if (!sameBytes(previous.groupId, content.groupId)) return fail('before is a GroupInfo of another group')
      if (previous.epoch !== content.epoch) return fail("the commit was not made in before's epoch")
      if (previous.version !== next.version || previous.cipherSuite !== next.cipherSuite) {
        return fail('before and after differ in version or ciphersuite')
      }
      base = before
    } else {
      const first = await firstEpoch(content, after)
      if (!first.ok) return first
      base = first.base
      signatureKnown = first.signatureKnown
      unverified.push(...first.unverified)
    }

    const rulesFault = commitRulesFault(commit, sender, base.tree)
    if (rulesFault !== undefined) return fail(rulesFault)
    const proposals = commit.proposals.flatMap((p) =>
      p.proposalOrRefType === 'proposal' ? [p.proposal] : [],
    )
    const signature = await ed25519()
    for (const [index, proposal] of proposals.entries()) {
      if (proposal.proposalType !== 'add') continue
      const fault = await keyPackageFault(proposal.add.keyPackage, base.groupContext, signature)
      if (fault !== undefined) return fail(`add proposal ${index}: ${fault}`)
    }

    if (signatureKnown) {
      const senderLeaf = sender.senderType === 'member' ? base.tree[sender.leafIndex * 2] : undefined
      const key =
        sender.senderType === 'member'
          ? senderLeaf?.nodeType === 'leaf'
            ? senderLeaf.leaf.signaturePublicKey
            : undefined
          : commit.path?.leafNode.signaturePublicKey
      if (key === undefined) return fail("the sender's leaf is blank")
      const signed = await verifyFramedContentSignature(
        key,
        'mls_public_message',
        content,
        auth,
        base.groupContext,
        signature,
      )
      if (!signed) return fail("signature does not verify against the sender's key and group context")
    }

    const creatorLeafUnknown = before === undefined && commit.path !== undefined
    const applied = await applyCommit(base.tree, content.groupId, sender, commit, creatorLeafUnknown)
    if (!applied.ok) return applied
    const appliedHashes = await treeHashes(applied.tree)
    if (
      !sameBytes(appliedHashes[rootFromNodeWidth(applied.tree.length)] ?? new Uint8Array(), next.treeHash)
    ) {
      return fail("after's tree is not the tree before with this commit applied")
    }
    const extensions = proposals.find((p) => p.proposalType === 'group_context_extensions')
    const expected = extensions?.groupContextExtensions.extensions ?? base.groupContext.extensions
    if (!sameBytes(encodeExtensions(expected), encodeExtensions(next.extensions))) {
      return fail("after's group context extensions are not the ones this commit leaves")
    }
    if (base.interimTranscriptHash !== undefined) {
      const confirmed = await createConfirmedHash(
        base.interimTranscriptHash,
        { wireformat: 'mls_public_message', content, signature: auth.signature },
        sha256,
      )
      if (!sameBytes(confirmed, next.confirmedTranscriptHash)) {
        return fail("after's confirmed transcript hash does not follow from before's and this commit")
      }
    }
    return { ok: true, committer: applied.committer, unverified }
  } catch (error) {
    return fail(`unreadable: ${errorMessage(error)}`)
  }
}

/**
 * The first way a public ratchet tree is invalid for a group context (RFC 9420 §12.4.3.1, §7.3, §7.9.2), or
 * undefined: nodes in their places; encryption keys unique among all nodes, signature keys among leaves; each
 * credential type in use supported by every leaf; each leaf's extensions in its capabilities and the group's
 * required capabilities; unmerged leaves non-blank, below their node and listed by every node between; the tree
 * hash; each leaf's signature (at its leaf index in this group for update and commit leaves); parent hashes.
 * Lifetimes are not checked (RFC 9420 lets a tree keep leaves whose key package expired).
 */
export async function ratchetTreeFault(
  tree: RatchetTree,
  context: Pick<GroupContext, 'groupId' | 'treeHash' | 'extensions'>,
): Promise<string | undefined> {
  try {
    return await treeFault(tree, context)
  } catch (error) {
    return `unreadable: ${errorMessage(error)}`
  }
}

async function treeFault(
  tree: RatchetTree,
  context: Pick<GroupContext, 'groupId' | 'treeHash' | 'extensions'>,
): Promise<string | undefined> {
  if (tree.length === 0 || !Number.isInteger(Math.log2(tree.length + 1))) return 'not a full binary tree'
  const encryptionKeys = new Set<string>()
  const signatureKeys = new Set<string>()
  const credentialTypes = new Set<string>()
  const leaves: [number, LeafNode][] = []
  for (const [index, node] of tree.entries()) {
    if (node === undefined) continue
    if ((node.nodeType === 'leaf') !== (index % 2 === 0)) return `node ${index} is out of place`
    const encryptionKey = node.nodeType === 'leaf' ? node.leaf.hpkePublicKey : node.parent.hpkePublicKey
    if (!addNew(encryptionKeys, encryptionKey)) return `node ${index} repeats an encryption key`
    if (node.nodeType === 'leaf') {
      if (!addNew(signatureKeys, node.leaf.signaturePublicKey)) {
        return `leaf ${index / 2} repeats a signature key`
      }
      credentialTypes.add(String(node.leaf.credential.credentialType))
      leaves.push([index / 2, node.leaf])
    }
  }
  const required = context.extensions.find((e) => e.extensionType === 'required_capabilities')
  const requiredCapabilities =
    required === undefined ? undefined : decodeRequiredCapabilities(required.extensionData, 0)?.[0]
  if (required !== undefined && requiredCapabilities === undefined) {
    return 'required_capabilities does not decode'
  }
  for (const [leaf, node] of leaves) {
    const { capabilities } = node
    const supported = new Set(capabilities.credentials.map(String))
    if (![...credentialTypes].every((type) => supported.has(type))) {
      return `leaf ${leaf} does not support every credential type in use`
    }
    if (!extensionsSupportedByCapabilities(node.extensions, capabilities)) {
      return `leaf ${leaf} carries an extension its capabilities do not list`
    }
    if (
      requiredCapabilities !== undefined &&
      !(
        requiredCapabilities.extensionTypes.every((type) => capabilities.extensions.includes(type)) &&
        requiredCapabilities.proposalTypes.every((type) => capabilities.proposals.includes(type)) &&
        requiredCapabilities.credentialTypes.every((type) => capabilities.credentials.includes(type))
      )
    ) {
      return `leaf ${leaf} lacks a required capability`
    }
  }
  const width = leafWidth(tree.length)
  for (const [index, node] of tree.entries()) {
    if (node?.nodeType !== 'parent') continue
    for (const unmerged of node.parent.unmergedLeaves) {
      if (tree[unmerged * 2]?.nodeType !== 'leaf') {
        return `node ${index} lists blank leaf ${unmerged} as unmerged`
      }
      const path = directPath(toNodeIndex(unmerged * 2), width)
      const at = path.indexOf(toNodeIndex(index))
      if (at < 0) return `node ${index} lists leaf ${unmerged}, not below it, as unmerged`
      const between = path.slice(0, at).find((i) => {
        const node = tree[i]
        return node?.nodeType === 'parent' && !node.parent.unmergedLeaves.includes(unmerged)
      })
      if (between !== undefined) return `node ${between} does not list leaf ${unmerged} as unmerged`
    }
  }
  const hashes = await treeHashes(tree)
  if (!sameBytes(hashes[rootFromNodeWidth(tree.length)] ?? new Uint8Array(), context.treeHash)) {
    return 'tree hash is not the group context tree hash'
  }
  const signature = await ed25519()
  for (const [leaf, node] of leaves) {
    const signed =
      node.leafNodeSource === 'key_package'
        ? await verifyLeafNodeSignatureKeyPackage(node, signature)
        : await verifyLeafNodeSignature(node, context.groupId, leaf, signature)
    if (!signed) return `leaf ${leaf}'s signature does not verify (for its position in this group)`
  }
  return parentHashFault(tree, hashes)
}

/**
 * Every node's tree hash (RFC 9420 §7.8) by node index, computed once, level by level from the leaves: ts-mls's
 * treeHash recomputes each subtree it is asked for, which makes its parent-hash check quadratic in members.
 */
async function treeHashes(tree: RatchetTree): Promise<Uint8Array[]> {
  const hashes: Uint8Array[] = []
  for (let level = 0; 2 ** level <= tree.length; level += 1) {
    const indices: number[] = []
    for (let index = 2 ** level - 1; index < tree.length; index += 2 ** (level + 1)) indices.push(index)
    const digests = await Promise.all(
      indices.map((index) => {
        const node = tree[index]
        if (level === 0) {
          const leafNode = node?.nodeType === 'leaf' ? node.leaf : undefined
          return sha256.digest(
            encode(leafNodeHashInputEncoder)({ nodeType: 'leaf', leafIndex: index / 2, leafNode }),
          )
        }
        const half = 2 ** (level - 1)
        return sha256.digest(
          encode(parentNodeHashInputEncoder)({
            nodeType: 'parent',
            parentNode: node?.nodeType === 'parent' ? node.parent : undefined,
            leftHash: hashes[index - half] ?? new Uint8Array(),
            rightHash: hashes[index + half] ?? new Uint8Array(),
          }),
        )
      }),
    )
    for (const [i, index] of indices.entries()) hashes[index] = digests[i] ?? new Uint8Array()
  }
  return hashes
}

/**
 * The first non-blank parent node that is not parent-hash valid for exactly one descendant (RFC 9420 §7.9.2, top
 * down), or undefined. P is valid for a node D in the resolution of its child C when D's parent_hash is P's parent
 * hash over the tree hash of C's sibling without P's unmerged leaves, and the rest of C's resolution is exactly
 * P's unmerged leaves under C.
 */
async function parentHashFault(tree: RatchetTree, hashes: Uint8Array[]): Promise<string | undefined> {
  for (const [index, node] of tree.entries()) {
    if (node?.nodeType !== 'parent') continue
    const unmerged = node.parent.unmergedLeaves.map((leaf) => leaf * 2)
    const half = 2 ** (level(index) - 1)
    let validFor = 0
    for (const [child, sibling] of [
      [index - half, index + half],
      [index + half, index - half],
    ] as const) {
      const removedFromSibling = node.parent.unmergedLeaves.filter((leaf) => under(leaf * 2, sibling))
      const siblingHash =
        removedFromSibling.length === 0
          ? hashes[sibling]
          : await treeHash(
              removeLeaves(tree, removedFromSibling.map(toLeafIndex)),
              toNodeIndex(sibling),
              sha256,
            )
      const expected = await sha256.digest(
        encode(parentHashInputEncoder)({
          encryptionKey: node.parent.hpkePublicKey,
          parentHash: node.parent.parentHash,
          originalSiblingTreeHash: siblingHash ?? new Uint8Array(),
        }),
      )
      const below = resolution(tree, toNodeIndex(child))
      const unmergedBelow = unmerged.filter((leaf) => under(leaf, child))
      for (const candidate of below) {
        const hash = parentHashOf(tree[candidate])
        if (hash === undefined || !sameBytes(hash, expected)) continue
        const rest = below.filter((other) => other !== candidate)
        if (rest.length === unmergedBelow.length && rest.every((other) => unmergedBelow.includes(other))) {
          validFor += 1
        }
      }
    }
    if (validFor !== 1) {
      return `parent node ${index} is parent-hash valid for ${validFor} descendants, not one`
    }
  }
  return undefined
}

/** The parent_hash a node carries: a parent's, or a leaf's that came from a commit. */
function parentHashOf(node: RatchetTree[number]): Uint8Array | undefined {
  if (node?.nodeType === 'parent') return node.parent.parentHash
  return node?.leaf.leafNodeSource === 'commit' ? node.leaf.parentHash : undefined
}

/** A node's level: 0 for leaves, the number of trailing one bits of its index (RFC 9420 Appendix C). */
function level(index: number): number {
  let k = 0
  while (((index >> k) & 1) === 1) k += 1
  return k
}

/** Whether node `index` is in the subtree under node `top`. */
function under(index: number, top: number): boolean {
  const span = 2 ** level(top) - 1
  return index >= top - span && index <= top + span
}

/**
 * The tree a commit's proposals (all by value) and path make of a tree (RFC 9420 §12.3 order: removes, then
 * adds, then the path), and the committer's leaf in it; the path is applied by ts-mls, which checks its length,
 * that its keys are new and the path leaf's parent hash, and its leaf's signature is checked at that leaf.
 */
export async function treeAfterCommit(
  tree: RatchetTree,
  groupId: Uint8Array,
  sender: Sender,
  commit: Commit,
): Promise<Checked<{ tree: RatchetTree; committer: number }>> {
  try {
    return await applyCommit(tree, groupId, sender, commit, false)
  } catch (error) {
    return fail(`unreadable: ${errorMessage(error)}`)
  }
}

/** treeAfterCommit; with `creatorLeafUnknown`, the committer's leaf is a stand-in its path replaces. */
async function applyCommit(
  tree: RatchetTree,
  groupId: Uint8Array,
  sender: Sender,
  commit: Commit,
  creatorLeafUnknown: boolean,
): Promise<Checked<{ tree: RatchetTree; committer: number }>> {
  const proposals: Proposal[] = []
  for (const item of commit.proposals) {
    if (item.proposalOrRefType !== 'proposal') return fail('a proposal by reference')
    proposals.push(item.proposal)
  }
  let next = tree
  for (const proposal of proposals) {
    if (proposal.proposalType !== 'remove') continue
    const { removed } = proposal.remove
    if (next[removed * 2]?.nodeType !== 'leaf') return fail(`removes blank leaf ${removed}`)
    next = removeLeafNode(next, toLeafIndex(removed))
  }
  for (const proposal of proposals) {
    if (proposal.proposalType === 'add') next = addLeafNode(next, proposal.add.keyPackage.leafNode)[0]
  }
  const { path } = commit
  let committer: number
  if (sender.senderType === 'member') {
    committer = sender.leafIndex
    if (next[committer * 2]?.nodeType !== 'leaf') return fail(`committer leaf ${committer} is blank`)
    if (path !== undefined) {
      next = await applyUpdatePath(next, toLeafIndex(committer), path, sha256, creatorLeafUnknown)
    }
  } else if (sender.senderType === 'new_member_commit') {
    if (path === undefined) return fail('an external commit without a path')
    const [withLeaf, nodeIndex] = addLeafNode(next, path.leafNode)
    committer = nodeToLeafIndex(nodeIndex)
    next = await applyUpdatePath(withLeaf, toLeafIndex(committer), path, sha256, true)
  } else {
    return fail(`a commit cannot come from a sender of type ${sender.senderType}`)
  }
  if (
    path !== undefined &&
    (path.leafNode.leafNodeSource !== 'commit' ||
      !(await verifyLeafNodeSignature(path.leafNode, groupId, committer, await ed25519())))
  ) {
    return fail(`path leaf node's signature does not verify at leaf ${committer}`)
  }
  return { ok: true, tree: next, committer }
}

/**
 * Epoch 0 rebuilt from a group's first commit and the GroupInfo after it: the creator's one-leaf tree (after's
 * leaf 0 when the commit has no path; a stand-in its path replaces otherwise) and its group context.
 */
async function firstEpoch(
  content: FramedContentCommit,
  after: VerifiedGroupInfo,
): Promise<Checked<{ base: EpochBase; signatureKnown: boolean; unverified: string[] }>> {
  const { sender, commit } = content
  if (content.epoch !== 0n) return fail('no GroupInfo of the epoch this commit was made in')
  if (sender.senderType !== 'member' || sender.leafIndex !== 0) {
    return fail("a group's first commit comes from its creator, at leaf 0")
  }
  const creator =
    commit.path === undefined ? after.tree[0] : { nodeType: 'leaf' as const, leaf: commit.path.leafNode }
  if (creator?.nodeType !== 'leaf') return fail("after's leaf 0 is blank")
  const tree: RatchetTree = [creator]
  const changesExtensions = commit.proposals.some(
    (p) => p.proposalOrRefType === 'proposal' && p.proposal.proposalType === 'group_context_extensions',
  )
  const groupContext: GroupContext = {
    version: after.groupContext.version,
    cipherSuite: after.groupContext.cipherSuite,
    groupId: content.groupId,
    epoch: 0n,
    treeHash: (await treeHashes(tree))[0] ?? new Uint8Array(),
    confirmedTranscriptHash: new Uint8Array(),
    extensions: after.groupContext.extensions,
  }
  const unverified = [
    "transcript: epoch 0's interim transcript hash comes from the creator's secret confirmation tag",
  ]
  const signatureKnown = commit.path === undefined && !changesExtensions
  if (commit.path !== undefined) {
    unverified.push(
      "signature: epoch 0's group context holds the creator's first leaf, which the path replaced",
    )
  } else if (changesExtensions) {
    unverified.push("signature: epoch 0's group context extensions were changed by this commit")
  }
  return {
    ok: true,
    base: { tree, groupContext, interimTranscriptHash: undefined },
    signatureKnown,
    unverified,
  }
}

/** Proposal types whose presence makes a commit's path required (RFC 9420 §17.4, "Path Required"). */
const pathRequired = new Set<Proposal['proposalType']>([
  'update',
  'remove',
  'external_init',
  'group_context_extensions',
])

/** The first rule of RFC 9420 §12.2 and §12.4.2 a commit's proposal list breaks, or undefined. */
function commitRulesFault(commit: Commit, sender: Sender, tree: RatchetTree): string | undefined {
  const proposals: Proposal[] = []
  for (const item of commit.proposals) {
    if (item.proposalOrRefType !== 'proposal') {
      return 'a proposal by reference (its content is not in the commit)'
    }
    proposals.push(item.proposal)
  }
  const count = (type: Proposal['proposalType']) => proposals.filter((p) => p.proposalType === type).length
  const custom = proposals.find((p) => typeof p.proposalType === 'number')
  if (custom !== undefined) return `proposal type ${custom.proposalType} is not verified here`
  if (count('update') > 0) return 'an update by value (a committer cannot propose its own update)'
  if (count('reinit') > 0) return 'a reinit (not verified here)'
  if (count('group_context_extensions') > 1) return 'more than one group_context_extensions proposal'
  const removed = proposals.flatMap((p) => (p.proposalType === 'remove' ? [p.remove.removed] : []))
  if (new Set(removed).size !== removed.length) return 'removes a leaf twice'
  const blank = removed.find((leaf) => tree[leaf * 2]?.nodeType !== 'leaf')
  if (blank !== undefined) return `removes blank leaf ${blank}`
  if (sender.senderType === 'new_member_commit') {
    if (count('external_init') !== 1) return 'an external commit needs exactly one external_init'
    if (count('add') > 0 || count('group_context_extensions') > 0) return 'an external commit may not add'
    if (removed.length > 1) return 'an external commit removes at most one leaf'
    if (commit.path === undefined) return 'an external commit without a path'
    return undefined
  }
  if (sender.senderType !== 'member') return `a commit cannot come from a sender of type ${sender.senderType}`
  if (count('external_init') > 0) return 'an external_init in a member commit'
  if (removed.includes(sender.leafIndex)) return 'the committer removes itself'
  const needsPath = proposals.length === 0 || proposals.some((p) => pathRequired.has(p.proposalType))
  if (needsPath && commit.path === undefined) return 'a path is required and missing'
  return undefined
}

/** The first way an added key package is invalid in this group (RFC 9420 §10.1), or undefined. */
async function keyPackageFault(
  keyPackage: KeyPackage,
  context: GroupContext,
  signature: Signature,
): Promise<string | undefined> {
  if (keyPackage.version !== context.version || keyPackage.cipherSuite !== context.cipherSuite) {
    return "key package's version or ciphersuite is not the group's"
  }
  const { leafNode } = keyPackage
  if (leafNode.leafNodeSource !== 'key_package') return 'key package leaf node is not of source key_package'
  if (sameBytes(keyPackage.initKey, leafNode.hpkePublicKey)) {
    return 'key package init key is its encryption key'
  }
  if (!(await verifyKeyPackage(keyPackage, signature))) return 'key package signature does not verify'
  if (!(await verifyLeafNodeSignatureKeyPackage(leafNode, signature))) {
    return "key package leaf node's signature does not verify"
  }
  return undefined
}

/** The first fault in a GroupInfo's own extensions (each type once; external_pub and ratchet_tree present). */
function extensionsFault(extensions: Extension[]): string | undefined {
  const types = extensions.map((e) => e.extensionType)
  if (new Set(types).size !== types.length) return 'an extension type appears twice'
  if (!types.includes('ratchet_tree')) return 'no ratchet_tree extension'
  const externalPub = extensions.find((e) => e.extensionType === 'external_pub')
  // ts-mls 1.6.4 writes the bare X25519 key, without the length prefix of RFC 9420's ExternalPub.
  if (externalPub?.extensionData.length !== 32) return 'no external_pub extension holding an X25519 key'
  return undefined
}

let signatureImpl: Promise<Signature> | undefined

function ed25519(): Promise<Signature> {
  signatureImpl ??= makeNobleSignatureImpl('Ed25519')
  return signatureImpl
}

/** An MLS message that takes exactly these bytes. */
function decodeWhole(bytes: Uint8Array): MLSMessage | undefined {
  const decoded = decodeMlsMessage(bytes, 0)
  return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined
}

/** A ratchet tree that takes exactly these bytes (the ratchet_tree extension's data). */
function decodeTree(bytes: Uint8Array): RatchetTree | undefined {
  const decoded = decodeRatchetTree(bytes, 0)
  return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined
}

function encodeExtensions(extensions: Extension[]): Uint8Array {
  return concat(extensions.map((extension) => encode(extensionEncoder)(extension)))
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Adds the bytes (as base64) to the set: false when they were there already. */
function addNew(set: Set<string>, bytes: Uint8Array): boolean {
  const key = toBase64(bytes)
  if (set.has(key)) return false
  set.add(key)
  return true
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
}

function safeNumber(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index])
}
