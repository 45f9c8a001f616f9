import { fromBase64, toBase64 } from './bytes.js'
import { type DeviceKey, type DeviceList, limits, type RosterLeaf } from './protocol.js'

// Device lists: which devices an identity vouches for, each version signed by a device of the one before.
// The server checks them and the SDK checks them again, so neither has to trust the other. Signing and
// verifying are handed in (Ed25519, as MLS leaves sign), so that this module loads no MLS code.

const utf8 = new TextEncoder()
const devicePattern = /^[A-Za-z0-9_-]{1,64}$/

/** Verifies an Ed25519 signature of `message` by `publicKey`. */
export type Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => Promise<boolean>
/** Signs `message` with one device's key. */
export type Sign = (message: Uint8Array) => Promise<Uint8Array>

/** What a list's signature covers: a label of its own (so no MLS signature can pass for one), then the list. */
function signedBytes(list: Omit<DeviceList, 'signature'>): Uint8Array {
  const { iss, version, devices, prev, signer } = list
  return utf8.encode(
    `huddle device list v1\n${JSON.stringify({ iss, version, devices, prev: prev ?? null, signer })}`,
  )
}

/** A version's digest, which the next version names as `prev`. */
export async function deviceListDigest(list: DeviceList): Promise<string> {
  const bytes = utf8.encode(`${toBase64(signedBytes(list))}.${list.signature}`)
  return toBase64(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)))
}

/** The next version of `previous` (or the first), listing `devices`, signed by `signer` with its key. */
export async function signDeviceList(
  iss: string,
  previous: DeviceList | undefined,
  devices: DeviceKey[],
  signer: { device: string; sign: Sign },
): Promise<DeviceList> {
  const unsigned = {
    iss,
    version: (previous?.version ?? 0) + 1,
    devices,
    ...(previous && { prev: await deviceListDigest(previous) }),
    signer: signer.device,
  }
  return { ...unsigned, signature: toBase64(await signer.sign(signedBytes(unsigned))) }
}

/**
 * Why `list` cannot follow `previous` (undefined when it can): version 1 lists one device, signed by it;
 * each later version names its predecessor's digest and is signed by a device on it.
 */
export async function refuseDeviceList(
  list: DeviceList,
  previous: DeviceList | undefined,
  verify: Verify,
): Promise<string | undefined> {
  if (list.version !== (previous?.version ?? 0) + 1) return `version ${list.version} does not follow`
  const names = new Set(list.devices.map((d) => d.device))
  if (names.size !== list.devices.length) return 'a device is listed twice'
  if (list.devices.length === 0 || list.devices.length > limits.devicesPerIdentity) {
    return `a list holds 1 to ${limits.devicesPerIdentity} devices`
  }
  if (list.devices.some((d) => !devicePattern.test(d.device) || fromBase64(d.key)?.length !== 32)) {
    return 'a device name or key is not well formed'
  }
  if (previous === undefined) {
    if (list.prev !== undefined || list.devices.length !== 1) return 'version 1 lists its one device'
  } else if (list.iss !== previous.iss || list.prev !== (await deviceListDigest(previous))) {
    return 'it does not name the version before it'
  }
  const signer = (previous ?? list).devices.find((d) => d.device === list.signer)
  if (signer === undefined) return `${list.signer} is not a device that may sign it`
  const signature = fromBase64(list.signature)
  const key = fromBase64(signer.key)
  if (signature === undefined || key === undefined) return 'its signature is not base64'
  const valid = await verify(key, signedBytes(list), signature).catch(() => false)
  return valid ? undefined : 'its signature does not verify'
}

/** The latest version of a whole chain of lists, each checked against the one before; or why it fails. */
export async function verifyDeviceChain(
  lists: DeviceList[],
  verify: Verify,
): Promise<{ latest: DeviceList | undefined } | { refused: string }> {
  let latest: DeviceList | undefined
  for (const list of lists) {
    const refused = await refuseDeviceList(list, latest, verify)
    if (refused) return { refused: `${list.iss} version ${list.version}: ${refused}` }
    latest = list
  }
  return { latest }
}

/**
 * A safety number over an identity's vouched devices: twelve groups of five digits that two people compare
 * (aloud, or by a code on screen); it changes whenever the identity's devices or their keys change.
 */
export async function fingerprint(list: DeviceList): Promise<string> {
  const keys = list.devices.map((d) => `${d.device}=${d.key}`).sort()
  const bytes = utf8.encode(`huddle fingerprint v1\n${list.iss}\n${keys.join('\n')}`)
  let digest = new Uint8Array(await crypto.subtle.digest('SHA-512', bytes))
  // Iterated, as safety numbers are, so that a matching number is costly to search for.
  for (let i = 0; i < 1024; i++) {
    digest = new Uint8Array(await crypto.subtle.digest('SHA-512', new Uint8Array([...digest, ...bytes])))
  }
  const groups: string[] = []
  for (let i = 0; i < 12; i++) {
    const chunk = digest.slice(i * 5, i * 5 + 5).reduce((n, byte) => n * 256 + byte, 0)
    groups.push(String(chunk % 100_000).padStart(5, '0'))
  }
  return groups.join(' ')
}

/** Whether `leaf`'s device and key are on its owner's list. */
export function vouches(list: DeviceList | undefined, leaf: Pick<RosterLeaf, 'device' | 'key'>): boolean {
  return list?.devices.some((d) => d.device === leaf.device && d.key === leaf.key) ?? false
}

/** The digest of a whole roster, leaf by leaf (index, identity, device, key), that a commit event carries. */
export async function rosterDigest(leaves: readonly RosterLeaf[]): Promise<string> {
  const rows = [...leaves]
    .sort((a, b) => a.leaf - b.leaf)
    .map(({ leaf, iss, device, key }) => [leaf, iss, device, key])
  const digest = await crypto.subtle.digest('SHA-256', utf8.encode(JSON.stringify(rows)))
  return toBase64(new Uint8Array(digest))
}

/** A first device's list: version 1, listing it alone (with its public key), signed by it. */
export async function firstDeviceList(
  iss: string,
  device: string,
  publicKey: Uint8Array,
  sign: Sign,
): Promise<DeviceList> {
  return signDeviceList(iss, undefined, [{ device, key: toBase64(publicKey) }], { device, sign })
}
