import type { GroupKeysState, KeysToSave } from './group-keys.js'
import type { MlsEngine } from './mls.js'
import type { ReactionEvent } from './protocol.js'
import { isEmoji } from './reactions.js'
import { boundTo, type SealedReaction } from './sealed-reactions.js'

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Encrypts a reaction under the group's current keys; the keys it leaves must be saved before it is sent. */
export function sealReaction(
  state: GroupKeysState,
  engine: MlsEngine,
  reaction: SealedReaction,
): Promise<{ cipher: Uint8Array; save?: KeysToSave }> {
  const { gid, target, emoji, remove } = reaction
  return state.encrypt(engine, utf8.encode(JSON.stringify({ kind: 'reaction', gid, target, emoji, remove })))
}

/**
 * Decrypts another member's reaction: undefined when it does not decrypt here (this device's own, or sent
 * before it held the keys); `reaction` undefined when it decrypts but is bound to another group, message or
 * member, or holds no emoji.
 */
export async function openReaction(
  state: GroupKeysState,
  engine: MlsEngine,
  event: ReactionEvent,
): Promise<{ reaction: SealedReaction | undefined; save?: KeysToSave } | undefined> {
  const decrypted = await state.decrypt(engine, event.cipher)
  if (decrypted === undefined) return undefined
  const { save } = decrypted
  const reaction = parsed(decrypted.plaintext, decrypted.sender)
  return { reaction: reaction && boundTo(reaction, event) ? reaction : undefined, ...(save && { save }) }
}

/** A reaction's plaintext as sealed by `sealReaction`, from member `iss`; undefined when it is anything else. */
function parsed(plaintext: Uint8Array, iss: string): SealedReaction | undefined {
  let value: unknown
  try {
    value = JSON.parse(text.decode(plaintext))
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { kind, gid, target, emoji, remove } = value as Record<string, unknown>
  if (kind !== 'reaction' || typeof gid !== 'string' || typeof target !== 'number') return undefined
  if (typeof emoji !== 'string' || !isEmoji(emoji) || typeof remove !== 'boolean') return undefined
  return { gid, target, iss, emoji, remove }
}
