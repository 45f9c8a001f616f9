import { encode } from 'ts-mls/codec/tlsEncoder.js'
import { extensionsSupportedByCapabilities } from 'ts-mls/extension.js'
import type { GroupContext } from 'ts-mls/groupContext.js'
import { type LeafNode, verifyLeafNodeSignature, verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js'
import { parentHashInputEncoder } from 'ts-mls/parentHash.js'
import { type RatchetTree, removeLeaves, resolution } from 'ts-mls/ratchetTree.js'
import { decodeRequiredCapabilities } from 'ts-mls/requiredCapabilities.js'
import { leafNodeHashInputEncoder, parentNodeHashInputEncoder, treeHash } from 'ts-mls/treeHash.js'
import { directPath, leafWidth, rootFromNodeWidth, toLeafIndex, toNodeIndex } from 'ts-mls/treemath.js'
import { toBase64 } from './bytes.js'
import { ed25519, errorMessage, sameBytes, sha256 } from './mls-verify-common.js'

// The public checks of a ratchet tree: its shape, keys and capabilities, its tree hash, its leaves'
// signatures and its parent hashes.

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
export async function treeHashes(tree: RatchetTree): Promise<Uint8Array[]> {
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

/** Adds the bytes (as base64) to the set: false when they were there already. */
function addNew(set: Set<string>, bytes: Uint8Array): boolean {
  const key = toBase64(bytes)
  if (set.has(key)) return false
  set.add(key)
  return true
}
