import { toBase64 } from './bytes.js'
import type { ReactionEvent } from './protocol.js'

/**
 * What an encrypted group's reaction seals, and what a device keeps of it once sent or opened: the emoji and
 * its way, bound to the group, the message and the member, so that a member cannot replay it elsewhere.
 */
export interface SealedReaction {
  gid: string
  target: number
  iss: string
  emoji: string
  remove: boolean
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Whether what a device kept (or opened) of a reaction is the one `event` says: same group, message, member. */
export function boundTo(reaction: SealedReaction, event: ReactionEvent): boolean {
  return reaction.gid === event.gid && reaction.target === event.target && reaction.iss === event.iss
}

/** The event with what its ciphertext held in place of the ciphertext. */
export function openedReaction(event: ReactionEvent, reaction: SealedReaction): ReactionEvent {
  const { cipher: _, remove: __, ...rest } = event
  return { ...rest, emoji: reaction.emoji, ...(reaction.remove && { remove: true }) }
}

/** The name a device keeps a reaction under: its cipher's digest (a reaction has no id before it is stored). */
export async function reactionName(gid: string, cipher: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(cipher)))
  return `reaction/${gid}/${toBase64(digest).replaceAll('+', '-').replaceAll('/', '_')}`
}

/** A kept reaction as its store holds it. */
export function encodeKept(reaction: SealedReaction): Uint8Array {
  return utf8.encode(JSON.stringify(reaction))
}

/** A kept reaction from its store; undefined when the bytes are not one. */
export function decodeKept(bytes: Uint8Array): SealedReaction | undefined {
  try {
    return JSON.parse(text.decode(bytes)) as SealedReaction
  } catch {
    return undefined
  }
}
