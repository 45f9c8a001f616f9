import { encode } from 'ts-mls/codec/tlsEncoder.js'
import type { Commit } from 'ts-mls/commit.js'
import { type Extension, extensionEncoder } from 'ts-mls/extension.js'
import { type FramedContentCommit, verifyFramedContentSignature } from 'ts-mls/framedContent.js'
import type { GroupContext } from 'ts-mls/groupContext.js'
import { verifyLeafNodeSignature } from 'ts-mls/leafNode.js'
import type { Proposal } from 'ts-mls/proposal.js'
import { addLeafNode, type RatchetTree, removeLeafNode } from 'ts-mls/ratchetTree.js'
import type { Sender } from 'ts-mls/sender.js'
import { createConfirmedHash } from 'ts-mls/transcriptHash.js'
import { nodeToLeafIndex, rootFromNodeWidth, toLeafIndex } from 'ts-mls/treemath.js'
import { applyUpdatePath } from 'ts-mls/updatePath.js'
import {
  type Checked,
  decodeWhole,
  ed25519,
  errorMessage,
  fail,
  sameBytes,
  sha256,
} from './mls-verify-common.js'
import type { VerifiedGroupInfo } from './mls-verify-group-info.js'
import { commitRulesFault, keyPackageFault } from './mls-verify-proposals.js'
import { treeHashes } from './mls-verify-tree.js'

// Verifying a commit between the GroupInfos of its epoch and the next: its signature, the tree it makes, the
// extensions it leaves and the transcript it extends.

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
