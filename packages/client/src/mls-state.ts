import { type ClientConfig, type ClientState, decodeGroupState, encodeGroupState } from 'ts-mls'
import { decodeUint32, decodeUint64, uint32Encoder, uint64Encoder } from 'ts-mls/codec/number.js'
import { type Decoder, mapDecoders } from 'ts-mls/codec/tlsDecoder.js'
import { contramapBufferEncoders, encode } from 'ts-mls/codec/tlsEncoder.js'
import { decodeVarLenType, varLenTypeEncoder } from 'ts-mls/codec/variableLength.js'
import {
  decodeSecretTreeNode,
  type SecretTree,
  type SecretTreeNode,
  secretTreeNodeEncoder,
} from 'ts-mls/secretTree.js'
import type { GroupKeys } from './mls-handle.js'

// A group's MLS state as the engine holds it, and as it is saved: whole once per epoch, then only the ratchet
// steps taken since (the secret trees' nodes that sending and receiving moved on).

const states = new WeakMap<GroupKeys, ClientState>()

/** The opaque handle of a ts-mls state. */
export function wrap(state: ClientState): GroupKeys {
  const keys = Object.freeze({ epoch: Number(state.groupContext.epoch), leaf: state.privatePath.leafIndex })
  states.set(keys, state)
  return keys
}

/** The ts-mls state behind a handle this engine made. */
export function stateOf(keys: GroupKeys): ClientState {
  const state = states.get(keys)
  if (state === undefined) throw new Error('not GroupKeys made by this engine')
  return state
}

/** The whole state, as ts-mls encodes it. */
export function saveWhole(keys: GroupKeys): Uint8Array {
  return encodeGroupState(stateOf(keys))
}

/** A state saved whole. */
export function loadWhole(bytes: Uint8Array, clientConfig: ClientConfig): GroupKeys {
  // A copy: the state decoded holds views into these bytes.
  const decoded = decodeGroupState(bytes.slice(), 0)
  if (decoded === undefined || decoded[1] !== bytes.length) throw new Error('not a saved group state')
  return wrap({ ...decoded[0], clientConfig })
}

/** One secret-tree node that moved on: of the current epoch's tree, or of an earlier epoch's kept for late messages. */
interface RatchetStep {
  epoch: bigint
  node: number
  value: SecretTreeNode
}

const stepsEncoder = varLenTypeEncoder(
  contramapBufferEncoders<[bigint, number, SecretTreeNode], RatchetStep>(
    [uint64Encoder, uint32Encoder, secretTreeNodeEncoder],
    (step) => [step.epoch, step.node, step.value],
  ),
)

const decodeSteps: Decoder<RatchetStep[]> = decodeVarLenType(
  mapDecoders([decodeUint64, decodeUint32, decodeSecretTreeNode], (epoch, node, value) => ({
    epoch,
    node,
    value,
  })),
)

/**
 * The ratchet steps `keys` took since `base`, to be applied to `base` by `applyRatchetSteps`; undefined when
 * anything but the secret trees changed (another epoch, another tree), so that `keys` must be saved whole.
 */
export function saveRatchetSteps(base: GroupKeys, keys: GroupKeys): Uint8Array | undefined {
  const from = stateOf(base)
  const to = stateOf(keys)
  if (!sameButSecrets(from, to)) return undefined
  const steps = changedNodes(from.groupContext.epoch, from.secretTree, to.secretTree)
  if (steps === undefined) return undefined
  for (const [epoch, data] of to.historicalReceiverData) {
    const before = from.historicalReceiverData.get(epoch)
    if (before === undefined) return undefined
    const kept = changedNodes(epoch, before.secretTree, data.secretTree)
    if (kept === undefined) return undefined
    steps.push(...kept)
  }
  return encode(stepsEncoder)(steps)
}

/** `base` with the ratchet steps `saveRatchetSteps` recorded applied: the state they were taken from. */
export function applyRatchetSteps(base: GroupKeys, bytes: Uint8Array): GroupKeys {
  const state = stateOf(base)
  const decoded = decodeSteps(bytes.slice(), 0)
  if (decoded === undefined || decoded[1] !== bytes.length) throw new Error('not saved ratchet steps')
  const secretTree = state.secretTree.slice()
  const historical = new Map(state.historicalReceiverData)
  const trees = new Map<bigint, SecretTree>()
  for (const { epoch, node, value } of decoded[0]) {
    const tree =
      epoch === state.groupContext.epoch
        ? secretTree
        : (trees.get(epoch) ?? historical.get(epoch)?.secretTree.slice())
    if (tree === undefined || node >= tree.length) throw new Error('ratchet steps of another state')
    tree[node] = value
    if (epoch !== state.groupContext.epoch) trees.set(epoch, tree)
  }
  for (const [epoch, tree] of trees) {
    const data = historical.get(epoch)
    if (data !== undefined) historical.set(epoch, { ...data, secretTree: tree })
  }
  return wrap({ ...state, secretTree, historicalReceiverData: historical })
}

/** Whether two states differ in their secret trees alone (ts-mls makes a new object for whatever changes). */
function sameButSecrets(a: ClientState, b: ClientState): boolean {
  if (
    a.groupContext !== b.groupContext ||
    a.keySchedule !== b.keySchedule ||
    a.ratchetTree !== b.ratchetTree ||
    a.privatePath !== b.privatePath ||
    a.signaturePrivateKey !== b.signaturePrivateKey ||
    a.unappliedProposals !== b.unappliedProposals ||
    a.confirmationTag !== b.confirmationTag ||
    a.groupActiveState !== b.groupActiveState ||
    a.historicalReceiverData.size !== b.historicalReceiverData.size
  ) {
    return false
  }
  for (const [epoch, data] of b.historicalReceiverData) {
    const before = a.historicalReceiverData.get(epoch)
    if (
      before === undefined ||
      before.ratchetTree !== data.ratchetTree ||
      before.groupContext !== data.groupContext ||
      before.senderDataSecret !== data.senderDataSecret ||
      before.resumptionPsk !== data.resumptionPsk
    ) {
      return false
    }
  }
  return true
}

/** The nodes of `to` that are not those of `from`; undefined when the trees differ in size. */
function changedNodes(epoch: bigint, from: SecretTree, to: SecretTree): RatchetStep[] | undefined {
  if (from.length !== to.length) return undefined
  const steps: RatchetStep[] = []
  to.forEach((value, node) => {
    if (value !== from[node]) steps.push({ epoch, node, value })
  })
  return steps
}
