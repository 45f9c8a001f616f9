import type { Commit } from 'ts-mls/commit.js'
import type { Signature } from 'ts-mls/crypto/signature.js'
import type { GroupContext } from 'ts-mls/groupContext.js'
import { type KeyPackage, verifyKeyPackage } from 'ts-mls/keyPackage.js'
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js'
import type { Proposal } from 'ts-mls/proposal.js'
import type { RatchetTree } from 'ts-mls/ratchetTree.js'
import type { Sender } from 'ts-mls/sender.js'
import { sameBytes } from './mls-verify-common.js'

// The rules a commit's proposals must keep, checked before the commit is applied.

/** Proposal types whose presence makes a commit's path required (RFC 9420 §17.4, "Path Required"). */
const pathRequired = new Set<Proposal['proposalType']>([
  'update',
  'remove',
  'external_init',
  'group_context_extensions',
])

/** The first rule of RFC 9420 §12.2 and §12.4.2 a commit's proposal list breaks, or undefined. */
export function commitRulesFault(commit: Commit, sender: Sender, tree: RatchetTree): string | undefined {
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
export async function keyPackageFault(
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
