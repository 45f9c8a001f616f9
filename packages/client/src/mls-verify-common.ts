import type { Hash } from 'ts-mls/crypto/hash.js'
import { makeHashImpl } from 'ts-mls/crypto/implementation/default/makeHashImpl.js'
import { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js'
import type { Signature } from 'ts-mls/crypto/signature.js'
import { decodeMlsMessage, type MLSMessage } from 'ts-mls/message.js'

// What every public MLS check shares: the verdict, the ciphersuite's hash and signature, whole messages.

/** The SHA-256 of the one ciphersuite Huddle's groups use. */
export const sha256: Hash = makeHashImpl(crypto.subtle, 'SHA-256')

/** A verdict: what was verified, or the first check that failed, in a few words for the server's log. */
export type Checked<T> = ({ ok: true } & T) | { ok: false; reason: string }

let signatureImpl: Promise<Signature> | undefined

/** Ed25519 signature checks, made once. */
export function ed25519(): Promise<Signature> {
  signatureImpl ??= makeNobleSignatureImpl('Ed25519')
  return signatureImpl
}

/** An MLS message that takes exactly these bytes. */
export function decodeWhole(bytes: Uint8Array): MLSMessage | undefined {
  const decoded = decodeMlsMessage(bytes, 0)
  return decoded !== undefined && decoded[1] === bytes.length ? decoded[0] : undefined
}

/** A failed verdict with its reason. */
export function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason }
}

/** A thrown value's message, for a verdict's reason. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Whether two byte strings are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index])
}
