import { encode } from 'ts-mls/codec/tlsEncoder.js'
import type { Credential } from 'ts-mls/credential.js'
import { makeHashImpl } from 'ts-mls/crypto/implementation/default/makeHashImpl.js'
import { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js'
import type { Signature } from 'ts-mls/crypto/signature.js'
import { type KeyPackage, makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js'
import { type LeafNode, verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js'
import { decodeMlsMessage, type MLSMessage, mlsMessageEncoder } from 'ts-mls/message.js'
import { toBase64 } from './bytes.js'
import { identityPattern } from './protocol.js'

// Decode-only readers of MLS wire messages for the server: no secrets, and never a throw on garbage.

const ciphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'

/** A device of an identity, as an MLS leaf's credential names it. */
export interface DeviceName {
  iss: string
  device: string
}

/** A device as a leaf names it: with the leaf's signature key (base64). */
export interface SignedDevice extends DeviceName {
  key: string
}

/** A key package's validity, in seconds since the epoch. */
export interface Lifetime {
  notBefore: number
  notAfter: number
}

/** A key package a commit adds: the device it names, its KeyPackageRef (base64) and its lifetime. */
export interface AddedPackage extends SignedDevice {
  ref: string
  lifetime: Lifetime
}

/** What the server learns from a commit without any keys. */
export interface CommitFacts {
  /** The Huddle gid (the MLS group id, UTF-8 decoded). */
  groupId: string
  /** The epoch the commit was made in. */
  epoch: number
  sender: { leaf: number } | 'external'
  /** The committer's new leaf when the commit carries an update path (always for external commits). */
  path?: SignedDevice
  /** By-value Add proposals' key packages, in proposal order. */
  adds: AddedPackage[]
  /** Leaf indices of by-value Remove proposals, in proposal order. */
  removes: number[]
}

const devicePattern = /^[A-Za-z0-9_-]{1,64}$/
const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The BasicCredential identity naming a device: the UTF-8 of `{"iss":…,"device":…}`. */
export function credentialIdentity(name: DeviceName): Uint8Array {
  return utf8.encode(JSON.stringify({ iss: name.iss, device: name.device }))
}

/** The device a credential identity names; undefined unless it is exactly what credentialIdentity makes. */
export function deviceOfCredential(identity: Uint8Array): DeviceName | undefined {
  try {
    const parsed: unknown = JSON.parse(strictUtf8.decode(identity))
    if (typeof parsed !== 'object' || parsed === null) return undefined
    const { iss, device } = parsed as Record<string, unknown>
    if (typeof iss !== 'string' || !identityPattern.test(iss)) return undefined
    if (typeof device !== 'string' || !devicePattern.test(device)) return undefined
    const name = { iss, device }
    return sameBytes(credentialIdentity(name), identity) ? name : undefined
  } catch {
    return undefined
  }
}

/** The device a leaf credential names, when it is a basic credential of ours. */
function deviceOfLeafCredential(credential: Credential): DeviceName | undefined {
  return credential.credentialType === 'basic' ? deviceOfCredential(credential.identity) : undefined
}

/** The device a leaf node names, with its signature key. */
function signedDeviceOf(leaf: LeafNode): SignedDevice | undefined {
  const name = deviceOfLeafCredential(leaf.credential)
  return name && { ...name, key: toBase64(leaf.signaturePublicKey) }
}

/**
 * A KeyPackage message of our ciphersuite whose credential names a device, with its signatures (the package's
 * and its leaf node's) verified; `ref` is its KeyPackageRef in base64. Async: verifying uses WebCrypto.
 */
export async function readKeyPackage(bytes: Uint8Array): Promise<AddedPackage | undefined> {
  try {
    const message = decodeWhole(bytes)
    if (message?.wireformat !== 'mls_key_package') return undefined
    // Only a canonical encoding: its ref, hashed from the decoded package, must be the ref of these very bytes.
    if (!sameBytes(encode(mlsMessageEncoder)(message), bytes)) return undefined
    const read = await packageFacts(message.keyPackage)
    return read && (await verifiedKeyPackage(message.keyPackage)) ? read : undefined
  } catch {
    return undefined
  }
}

/** A key package's device, key, ref and lifetime, when it is of our ciphersuite and names a device. */
async function packageFacts(keyPackage: KeyPackage): Promise<AddedPackage | undefined> {
  const { leafNode } = keyPackage
  if (keyPackage.version !== 'mls10' || keyPackage.cipherSuite !== ciphersuiteName) return undefined
  if (leafNode.leafNodeSource !== 'key_package') return undefined
  const device = signedDeviceOf(leafNode)
  // Seconds as numbers (a lifetime past 2^53 s is read approximately: it is refused as too long anyway).
  const notBefore = Number(leafNode.lifetime.notBefore)
  const notAfter = Number(leafNode.lifetime.notAfter)
  if (device === undefined) return undefined
  const ref = await makeKeyPackageRef(keyPackage, makeHashImpl(crypto.subtle, 'SHA-256'))
  return { ...device, ref: toBase64(ref), lifetime: { notBefore, notAfter } }
}

/** A PublicMessage carrying a commit whose proposals are all by value and only adds, removes and an external init. */
export async function readCommit(bytes: Uint8Array): Promise<CommitFacts | undefined> {
  try {
    const message = decodeWhole(bytes)
    if (message?.wireformat !== 'mls_public_message') return undefined
    const content = message.publicMessage.content
    if (content.contentType !== 'commit') return undefined
    const groupId = strictUtf8.decode(content.groupId)
    const epoch = safeNumber(content.epoch)
    const { sender } = content
    const external = sender.senderType === 'new_member_commit'
    if (epoch === undefined || (!external && sender.senderType !== 'member')) return undefined
    const adds: AddedPackage[] = []
    const removes: number[] = []
    let externalInits = 0
    for (const item of content.commit.proposals) {
      if (item.proposalOrRefType !== 'proposal') return undefined
      const proposal = item.proposal
      if (proposal.proposalType === 'add') {
        const added = await packageFacts(proposal.add.keyPackage)
        if (added === undefined) return undefined
        adds.push(added)
      } else if (proposal.proposalType === 'remove') {
        removes.push(proposal.remove.removed)
      } else if (proposal.proposalType === 'external_init') {
        externalInits += 1
      } else {
        return undefined
      }
    }
    const pathLeaf = content.commit.path?.leafNode
    const path = pathLeaf === undefined ? undefined : signedDeviceOf(pathLeaf)
    if (pathLeaf !== undefined && path === undefined) return undefined
    if (external ? externalInits !== 1 || path === undefined || adds.length > 0 : externalInits > 0)
      return undefined
    return {
      groupId,
      epoch,
      sender: sender.senderType === 'member' ? { leaf: sender.leafIndex } : 'external',
      ...(path === undefined ? {} : { path }),
      adds,
      removes,
    }
  } catch {
    return undefined
  }
}

/** A PrivateMessage of content type application. */
export function readApplication(bytes: Uint8Array): { groupId: string; epoch: number } | undefined {
  try {
    const message = decodeWhole(bytes)
    if (message?.wireformat !== 'mls_private_message') return undefined
    const { privateMessage } = message
    if (privateMessage.contentType !== 'application') return undefined
    return groupAndEpoch(privateMessage.groupId, privateMessage.epoch)
  } catch {
    return undefined
  }
}

/** A Welcome of our ciphersuite for at least one new member. */
export function readWelcome(bytes: Uint8Array): boolean {
  try {
    const message = decodeWhole(bytes)
    return (
      message?.wireformat === 'mls_welcome' &&
      message.welcome.cipherSuite === ciphersuiteName &&
      message.welcome.secrets.length > 0
    )
  } catch {
    return false
  }
}

/** A GroupInfo of our ciphersuite carrying the external pub and the ratchet tree (all an external joiner needs). */
export function readGroupInfo(bytes: Uint8Array): { groupId: string; epoch: number } | undefined {
  try {
    const message = decodeWhole(bytes)
    if (message?.wireformat !== 'mls_group_info') return undefined
    const { groupContext, extensions } = message.groupInfo
    if (groupContext.cipherSuite !== ciphersuiteName) return undefined
    const types = new Set(extensions.map((extension) => extension.extensionType))
    if (!types.has('external_pub') || !types.has('ratchet_tree')) return undefined
    return groupAndEpoch(groupContext.groupId, groupContext.epoch)
  } catch {
    return undefined
  }
}

/** An MLS message that takes exactly these bytes. */
function decodeWhole(bytes: Uint8Array): MLSMessage | undefined {
  const decoded = decodeMlsMessage(bytes, 0)
  return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined
}

let ed25519: Promise<Signature> | undefined

/** Ed25519 as MLS leaves sign with it (noble: the same in Node, browsers and workers). */
export function signatures(): Promise<Signature> {
  ed25519 ??= makeNobleSignatureImpl('Ed25519')
  return ed25519
}

/** Verifies an Ed25519 signature (a device list's, say). */
export async function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return (await signatures()).verify(publicKey, message, signature)
}

/** Both signatures a key package carries: the package's own and its leaf node's. */
async function verifiedKeyPackage(keyPackage: KeyPackage): Promise<boolean> {
  const signature = await signatures()
  return (
    (await verifyKeyPackage(keyPackage, signature)) &&
    (await verifyLeafNodeSignatureKeyPackage(keyPackage.leafNode, signature))
  )
}

function groupAndEpoch(groupId: Uint8Array, epoch: bigint): { groupId: string; epoch: number } | undefined {
  const number = safeNumber(epoch)
  return number === undefined ? undefined : { groupId: strictUtf8.decode(groupId), epoch: number }
}

function safeNumber(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index])
}
