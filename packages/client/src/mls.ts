import {
  type AuthenticationService,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type Credential,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  encodeMlsMessage,
  type GroupInfo,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  type KeyPackage,
  type MLSMessage,
  makePskIndex,
  type PrivateKeyPackage,
  type Proposal,
  processPrivateMessage,
  processPublicMessage,
  type RatchetTree,
} from 'ts-mls'
import { composeBufferEncoders, encode } from 'ts-mls/codec/tlsEncoder.js'
import { decodeVarLenData, varLenDataEncoder } from 'ts-mls/codec/variableLength.js'
import { ratchetTreeFromExtension } from 'ts-mls/groupInfo.js'
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js'
import { decryptSenderData } from 'ts-mls/privateMessage.js'
import { toBase64 } from './bytes.js'
import type { GroupKeys } from './mls-handle.js'
import { applyRatchetSteps, loadWhole, saveRatchetSteps, saveWhole, stateOf, wrap } from './mls-state.js'
import {
  type AddedPackage,
  type CommitFacts,
  credentialIdentity,
  type DeviceName,
  deviceOfCredential,
  readCommit,
  readKeyPackage,
  signatures,
  verifyEd25519,
} from './mls-wire.js'
import type { RosterLeaf } from './protocol.js'

export type { GroupKeys } from './mls-handle.js'

// The SDK's MLS engine: Huddle's rules for encrypted groups over ts-mls, behind an interface of ours.

/** A member leaf, the device its credential names and its signature key (base64). */
export type Leaf = RosterLeaf

/** A device's signature key pair (Ed25519): every key package and leaf of the device signs with it. */
export interface Signer {
  publicKey: Uint8Array
  signKey: Uint8Array
}

/** A commit made by this device, with what goes to the server beside it. */
export interface Committed {
  keys: GroupKeys
  commit: Uint8Array
  welcome?: Uint8Array
  info: Uint8Array
}

/** A fresh key package for the directory, and what the device keeps to join from a Welcome made to it. */
export interface KeyPackageMade {
  ref: string
  package: Uint8Array
  secret: Uint8Array
}

/** Everything the SDK does with MLS (and with its signature keys). */
export interface MlsEngine {
  /** A new signature key pair for a device. */
  newSigner(): Promise<Signer>
  /** Signs bytes with a device's key (its device list, say). */
  sign(signKey: Uint8Array, message: Uint8Array): Promise<Uint8Array>
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>
  /** A key package's device, key, ref and lifetime, its signatures checked; undefined for anything else. */
  readKeyPackage(bytes: Uint8Array): Promise<AddedPackage | undefined>
  makeKeyPackage(name: DeviceName, signer: Signer): Promise<KeyPackageMade>
  /** A new group with this device as leaf 0 at epoch 0. */
  createGroup(gid: string, name: DeviceName, signer: Signer): Promise<GroupKeys>
  /** Refs of the key packages a Welcome is encrypted to (none for anything that is not a Welcome). */
  welcomeRefs(welcome: Uint8Array): Promise<string[]>
  joinFromWelcome(welcome: Uint8Array, secret: Uint8Array): Promise<GroupKeys>
  /** An external commit adding this device (resync: also removes this device's old leaf). */
  joinExternal(info: Uint8Array, name: DeviceName, signer: Signer, resync?: number): Promise<Committed>
  /** Adds key packages and removes leaves; with neither, a key update. Has a path unless it only adds (ts-mls 1.6.4). */
  commit(keys: GroupKeys, change: { add?: Uint8Array[]; remove?: number[] }): Promise<Committed>
  /** A commit from another member; throws on anything invalid. Removing this device: `removed` holds its leaf. */
  process(keys: GroupKeys, commit: Uint8Array): Promise<{ keys: GroupKeys; added: Leaf[]; removed: Leaf[] }>
  encrypt(keys: GroupKeys, plaintext: Uint8Array): Promise<{ keys: GroupKeys; cipher: Uint8Array }>
  /** Another member's application message (a device cannot decrypt its own). */
  decrypt(
    keys: GroupKeys,
    cipher: Uint8Array,
  ): Promise<{ keys: GroupKeys; plaintext: Uint8Array; sender: Leaf }>
  leaves(keys: GroupKeys): Promise<Leaf[]>
  /** The whole state, saved once per epoch (and when its ratchet steps grow large). */
  save(keys: GroupKeys): Promise<Uint8Array>
  load(bytes: Uint8Array): Promise<GroupKeys>
  /** The ratchet steps `keys` took since `base` (what a message changes); undefined when more changed: save it whole. */
  saveRatchet(base: GroupKeys, keys: GroupKeys): Promise<Uint8Array | undefined>
  /** `base` moved on by ratchet steps `saveRatchet` made from it. */
  loadRatchet(base: GroupKeys, steps: Uint8Array): Promise<GroupKeys>
}

const suiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'
/** Key packages are valid from an hour back (clocks differ) for four weeks, within the directory's limit. */
const keyPackageLifetime = { back: 3600n, ahead: 28n * 86_400n }
const utf8 = new TextEncoder()

/** Leaf credentials must be basic credentials naming a device; the server ties devices to identities. */
const authService: AuthenticationService = {
  async validateCredential(credential) {
    return deviceOfLeafCredential(credential) !== undefined
  },
}

const clientConfig: ClientConfig = {
  keyRetentionConfig: defaultKeyRetentionConfig,
  // A key package added to a group must be valid now, on every member's clock too.
  lifetimeConfig: { ...defaultLifetimeConfig, validateLifetimeOnReceive: true },
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService,
}

let suite: Promise<CiphersuiteImpl> | undefined

/** The ciphersuite's implementation, made once (a failed attempt is retried next time). */
function cipherSuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(suiteName)).catch((error: unknown) => {
    suite = undefined
    throw error
  })
  return suite
}

/** The MLS engine over ts-mls 1.6.4 (ciphersuite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519). */
export function mlsEngine(): MlsEngine {
  return {
    async newSigner() {
      return (await signatures()).keygen()
    },

    async sign(signKey, message) {
      return (await signatures()).sign(signKey, message)
    },

    verify: verifyEd25519,

    readKeyPackage,

    async makeKeyPackage(name, signer) {
      const cs = await cipherSuite()
      const { publicPackage, privatePackage } = await newKeyPackage(name, signer, cs)
      const bytes = encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_key_package',
        keyPackage: publicPackage,
      })
      return {
        ref: toBase64(await makeKeyPackageRef(publicPackage, cs.hash)),
        package: bytes,
        secret: encodeSecret(bytes, privatePackage),
      }
    },

    async createGroup(gid, name, signer) {
      const cs = await cipherSuite()
      const { publicPackage, privatePackage } = await newKeyPackage(name, signer, cs)
      return wrap(await createGroup(utf8.encode(gid), publicPackage, privatePackage, [], cs, clientConfig))
    },

    async welcomeRefs(welcome) {
      try {
        const message = decodeWhole(welcome)
        if (message?.wireformat !== 'mls_welcome') return []
        return message.welcome.secrets.map((secret) => toBase64(secret.newMember))
      } catch {
        return []
      }
    },

    async joinFromWelcome(welcome, secret) {
      const cs = await cipherSuite()
      const message = decodeWhole(welcome)
      if (message?.wireformat !== 'mls_welcome') throw new Error('not a Welcome')
      const { keyPackage, privatePackage } = decodeSecret(secret.slice())
      const state = await joinGroup(
        message.welcome,
        keyPackage,
        privatePackage,
        emptyPskIndex,
        cs,
        undefined,
        undefined,
        clientConfig,
      )
      return wrap(state)
    },

    async joinExternal(info, name, signer, resync) {
      const cs = await cipherSuite()
      const message = decodeWhole(info)
      if (message?.wireformat !== 'mls_group_info') throw new Error('not a GroupInfo')
      const { publicPackage, privatePackage } = await newKeyPackage(name, signer, cs)
      const joined = await joinGroupExternal(
        message.groupInfo,
        publicPackage,
        privatePackage,
        resync !== undefined,
        cs,
        undefined,
        resync === undefined ? clientConfig : resyncConfig(message.groupInfo, resync),
      )
      const state: ClientState = { ...joined.newState, clientConfig }
      const commit = encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_public_message',
        publicMessage: joined.publicMessage,
      })
      return { keys: wrap(state), commit, info: await groupInfo(state, cs) }
    },

    async commit(keys, change) {
      const cs = await cipherSuite()
      const removes = (change.remove ?? []).map(
        (removed): Proposal => ({ proposalType: 'remove', remove: { removed } }),
      )
      const adds = (change.add ?? []).map((bytes): Proposal => {
        const message = decodeWhole(bytes)
        if (message?.wireformat !== 'mls_key_package') throw new Error('not a KeyPackage')
        return { proposalType: 'add', add: { keyPackage: message.keyPackage } }
      })
      const made = await createCommit(
        { state: stateOf(keys), cipherSuite: cs },
        { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: [...removes, ...adds] },
      )
      return {
        keys: wrap(made.newState),
        commit: encodeMlsMessage(made.commit),
        ...(made.welcome === undefined
          ? {}
          : {
              welcome: encodeMlsMessage({
                version: 'mls10',
                wireformat: 'mls_welcome',
                welcome: made.welcome,
              }),
            }),
        info: await groupInfo(made.newState, cs),
      }
    },

    async process(keys, commit) {
      const cs = await cipherSuite()
      const state = stateOf(keys)
      const facts = await readCommit(commit)
      const message = decodeWhole(commit)
      if (facts === undefined || message?.wireformat !== 'mls_public_message') {
        throw new Error('not a commit Huddle accepts')
      }
      if (!sameBytes(utf8.encode(facts.groupId), state.groupContext.groupId)) throw new Error('another group')
      const removed = facts.removes.map((leaf) => leafAt(state.ratchetTree, leaf))
      if (facts.sender === 'external' && removed.some((leaf) => leaf.iss !== facts.path?.iss)) {
        throw new Error('an external commit may only remove leaves of its own identity')
      }
      if (facts.sender !== 'external' && facts.path !== undefined) {
        const committer = leafAt(state.ratchetTree, facts.sender.leaf)
        if (committer.iss !== facts.path.iss || committer.device !== facts.path.device) {
          throw new Error("a committer's path must name the device of its leaf")
        }
      }
      const { newState } = await processPublicMessage(
        state,
        message.publicMessage,
        makePskIndex(state, {}),
        cs,
      )
      return { keys: wrap(newState), added: addedLeaves(message, facts, newState.ratchetTree), removed }
    },

    async encrypt(keys, plaintext) {
      const cs = await cipherSuite()
      const made = await createApplicationMessage(stateOf(keys), plaintext, cs)
      const cipher = encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_private_message',
        privateMessage: made.privateMessage,
      })
      return { keys: wrap(made.newState), cipher }
    },

    async decrypt(keys, cipher) {
      const cs = await cipherSuite()
      const state = stateOf(keys)
      const message = decodeWhole(cipher)
      if (
        message?.wireformat !== 'mls_private_message' ||
        message.privateMessage.contentType !== 'application'
      ) {
        throw new Error('not an application message')
      }
      const privateMessage = message.privateMessage
      const result = await processPrivateMessage(state, privateMessage, makePskIndex(state, {}), cs)
      if (result.kind !== 'applicationMessage') throw new Error('not an application message')
      // ts-mls does not say who sent it: the sender data (already authenticated above) names the leaf.
      const epoch =
        privateMessage.epoch === state.groupContext.epoch
          ? { secret: state.keySchedule.senderDataSecret, tree: state.ratchetTree }
          : historicalEpoch(state, privateMessage.epoch)
      const senderData = await decryptSenderData(privateMessage, epoch.secret, cs)
      if (senderData === undefined) throw new Error('unreadable sender data')
      return {
        keys: wrap(result.newState),
        plaintext: result.message,
        sender: leafAt(epoch.tree, senderData.leafIndex),
      }
    },

    async leaves(keys) {
      const tree = stateOf(keys).ratchetTree
      const leaves: Leaf[] = []
      for (let leaf = 0; leaf * 2 < tree.length; leaf += 1) {
        if (tree[leaf * 2] !== undefined) leaves.push(leafAt(tree, leaf))
      }
      return leaves
    },

    async save(keys) {
      return saveWhole(keys)
    },

    async load(bytes) {
      return loadWhole(bytes, clientConfig)
    },

    async saveRatchet(base, keys) {
      return saveRatchetSteps(base, keys)
    },

    async loadRatchet(base, steps) {
      return applyRatchetSteps(base, steps)
    },
  }
}

/** A key package for this device with fresh HPKE keys, signed with the device's own key. */
async function newKeyPackage(name: DeviceName, signer: Signer, cs: CiphersuiteImpl) {
  const now = BigInt(Math.floor(Date.now() / 1000))
  return generateKeyPackageWithKey(
    { credentialType: 'basic', identity: credentialIdentity(name) },
    defaultCapabilities(),
    { notBefore: now - keyPackageLifetime.back, notAfter: now + keyPackageLifetime.ahead },
    [],
    signer,
    cs,
  )
}

/** The group info published with a commit: with the external pub and the ratchet tree, all a joiner needs. */
async function groupInfo(state: ClientState, cs: CiphersuiteImpl): Promise<Uint8Array> {
  const info = await createGroupInfoWithExternalPubAndRatchetTree(state, [], cs)
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: info })
}

/**
 * ts-mls finds the leaf a resync removes by comparing signature keys with the new key package's, which a device that
 * lost its state cannot match; this config points it at the leaf named instead.
 */
function resyncConfig(info: GroupInfo, resync: number): ClientConfig {
  const old = ratchetTreeFromExtension(info)?.[resync * 2]
  if (old?.nodeType !== 'leaf') throw new Error(`leaf ${resync} is not in the group`)
  const key = old.leaf.signaturePublicKey
  return {
    ...clientConfig,
    keyPackageEqualityConfig: {
      ...defaultKeyPackageEqualityConfig,
      compareKeyPackageToLeafNode: (_keyPackage, leaf) => sameBytes(leaf.signaturePublicKey, key),
    },
  }
}

/** The leaves a processed commit filled: its adds', or an external joiner's, found by signature key. */
function addedLeaves(message: MLSMessage, facts: CommitFacts, tree: RatchetTree): Leaf[] {
  if (message.wireformat !== 'mls_public_message' || message.publicMessage.content.contentType !== 'commit')
    return []
  const { commit } = message.publicMessage.content
  const keys =
    facts.sender === 'external'
      ? [commit.path?.leafNode.signaturePublicKey]
      : commit.proposals.map((item) =>
          item.proposalOrRefType === 'proposal' && item.proposal.proposalType === 'add'
            ? item.proposal.add.keyPackage.leafNode.signaturePublicKey
            : undefined,
        )
  return keys.flatMap((key) => {
    if (key === undefined) return []
    const index = tree.findIndex(
      (node) => node?.nodeType === 'leaf' && sameBytes(node.leaf.signaturePublicKey, key),
    )
    return index < 0 ? [] : [leafAt(tree, index / 2)]
  })
}

function historicalEpoch(state: ClientState, epoch: bigint): { secret: Uint8Array; tree: RatchetTree } {
  const data = state.historicalReceiverData.get(epoch)
  if (data === undefined) throw new Error(`no keys kept for epoch ${epoch}`)
  return { secret: data.senderDataSecret, tree: data.ratchetTree }
}

function leafAt(tree: RatchetTree, leaf: number): Leaf {
  const node = tree[leaf * 2]
  const name = node?.nodeType === 'leaf' ? deviceOfLeafCredential(node.leaf.credential) : undefined
  if (node?.nodeType !== 'leaf' || name === undefined) throw new Error(`leaf ${leaf} holds no device`)
  return { leaf, ...name, key: toBase64(node.leaf.signaturePublicKey) }
}

function deviceOfLeafCredential(credential: Credential): DeviceName | undefined {
  return credential.credentialType === 'basic' ? deviceOfCredential(credential.identity) : undefined
}

const secretEncoder = composeBufferEncoders([
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
])

/** The key package message and its private keys, each as MLS variable-length data. */
function encodeSecret(keyPackage: Uint8Array, keys: PrivateKeyPackage): Uint8Array {
  return encode(secretEncoder)([
    keyPackage,
    keys.initPrivateKey,
    keys.hpkePrivateKey,
    keys.signaturePrivateKey,
  ])
}

function decodeSecret(secret: Uint8Array): { keyPackage: KeyPackage; privatePackage: PrivateKeyPackage } {
  const fields: Uint8Array[] = []
  let offset = 0
  while (offset < secret.length && fields.length < 4) {
    const field = decodeVarLenData(secret, offset)
    if (field === undefined) break
    fields.push(field[0])
    offset += field[1]
  }
  const [bytes, initPrivateKey, hpkePrivateKey, signaturePrivateKey] = fields
  const message = bytes === undefined ? undefined : decodeWhole(bytes)
  if (
    offset !== secret.length ||
    message?.wireformat !== 'mls_key_package' ||
    initPrivateKey === undefined ||
    hpkePrivateKey === undefined ||
    signaturePrivateKey === undefined
  ) {
    throw new Error('not a key package secret')
  }
  return {
    keyPackage: message.keyPackage,
    privatePackage: { initPrivateKey, hpkePrivateKey, signaturePrivateKey },
  }
}

/** An MLS message that takes exactly these bytes. */
function decodeWhole(bytes: Uint8Array): MLSMessage | undefined {
  const decoded = decodeMlsMessage(bytes, 0)
  return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index])
}
