import type { Extension } from 'ts-mls/extension.js'
import type { GroupContext } from 'ts-mls/groupContext.js'
import { verifyGroupInfoSignature } from 'ts-mls/groupInfo.js'
import { decodeRatchetTree, type RatchetTree } from 'ts-mls/ratchetTree.js'
import { createInterimHash } from 'ts-mls/transcriptHash.js'
import { type Checked, decodeWhole, ed25519, errorMessage, fail, sha256 } from './mls-verify-common.js'
import { ratchetTreeFault } from './mls-verify-tree.js'

// Reading a GroupInfo the server can trust: its ciphersuite, extensions, signature and ratchet tree.

const ciphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

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

/** A ratchet tree that takes exactly these bytes (the ratchet_tree extension's data). */
function decodeTree(bytes: Uint8Array): RatchetTree | undefined {
  const decoded = decodeRatchetTree(bytes, 0)
  return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined
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
