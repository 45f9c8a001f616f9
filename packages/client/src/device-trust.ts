import { toBase64 } from './bytes.js'
import { fingerprint, type Sign, signDeviceList, verifyDeviceChain, vouches } from './devices.js'
import type { EncryptionStore } from './encryption-store.js'
import { ChatError } from './error.js'
import type { MlsEngine, Signer } from './mls.js'
import type { AckResults, DeviceKey, DeviceList, Requests, RosterLeaf } from './protocol.js'

/** The one server call device trust needs. */
export type DeviceRequest = <A extends 'devices' | 'vouch'>(
  action: A,
  fields: Requests[A],
) => Promise<AckResults[A]>

/** An identity's devices as this device verified them, and the safety number two people compare. */
export interface VerifiedDevices {
  iss: string
  version: number
  devices: DeviceKey[]
  fingerprint: string
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

/**
 * Which devices each identity vouches for, as this device verified it: every list's chain of signatures
 * checked, and the first version seen of each identity pinned, so that a server showing another chain later
 * is caught (trust on first use, as safety numbers are; people compare fingerprints to close that gap).
 */
export class DeviceTrust {
  readonly #request: DeviceRequest
  readonly #store: EncryptionStore
  readonly #engine: () => Promise<MlsEngine>
  readonly #changed: (devices: VerifiedDevices) => void
  readonly #latest = new Map<string, DeviceList>()
  #signer: Promise<Signer> | undefined

  constructor(
    request: DeviceRequest,
    store: EncryptionStore,
    engine: () => Promise<MlsEngine>,
    changed: (devices: VerifiedDevices) => void,
  ) {
    this.#request = request
    this.#store = store
    this.#engine = engine
    this.#changed = changed
  }

  /** This device's signature key pair, made once and kept in the store. */
  signer(): Promise<Signer> {
    this.#signer ??= (async () => {
      const saved = await this.#store.get('device-key')
      // The public key's 32 bytes, then the signing key.
      if (saved !== undefined) return { publicKey: saved.slice(0, 32), signKey: saved.slice(32) }
      const made = await (await this.#engine()).newSigner()
      await this.#store.set('device-key', new Uint8Array([...made.publicKey, ...made.signKey]))
      return made
    })()
    return this.#signer
  }

  /**
   * Puts this device on its identity's list: the first device starts the list; a later one waits for a
   * device on it to approve it (true once it is on the list).
   */
  async enroll(me: string, device: string): Promise<boolean> {
    const key = toBase64((await this.signer()).publicKey)
    const latest = await this.verified(me)
    if (vouches(latest, { device, key })) return true
    if (latest !== undefined) return false
    const first = await signDeviceList(me, undefined, [{ device, key }], { device, sign: await this.#sign() })
    try {
      await this.#request('vouch', { list: first })
    } catch (error) {
      // Another device of this identity started the list first: this one waits for its approval.
      if (error instanceof ChatError && error.code === 'CONFLICT')
        return vouches(await this.verified(me), { device, key })
      throw error
    }
    await this.#accept(first)
    return true
  }

  /** Devices of this identity that ask to be approved (they published key packages but are on no list). */
  async pending(me: string): Promise<DeviceKey[]> {
    return (await this.#request('devices', { iss: me })).pending ?? []
  }

  /** Approves a device of this identity that asks for it: this device signs the list's next version. */
  async approve(me: string, myDevice: string, device: string): Promise<VerifiedDevices> {
    const asking = (await this.pending(me)).find((d) => d.device === device)
    if (asking === undefined) throw new ChatError('NOT_FOUND', `no device ${device} asks to be approved`)
    const latest = await this.verified(me, true)
    if (latest === undefined || !latest.devices.some((d) => d.device === myDevice)) {
      throw new ChatError('FORBIDDEN', 'only a device already on the list approves another')
    }
    const next = await signDeviceList(me, latest, [...latest.devices, asking], {
      device: myDevice,
      sign: await this.#sign(),
    })
    await this.#request('vouch', { list: next })
    await this.#accept(next)
    return this.describe(next)
  }

  /** `iss`'s devices as verified now, with its fingerprint. */
  async devices(iss: string): Promise<VerifiedDevices | undefined> {
    const latest = await this.verified(iss, true)
    return latest && this.describe(latest)
  }

  /** Whether each leaf is a device its owner vouches for with that key (lists read again when one is not). */
  async vouched(leaves: readonly RosterLeaf[]): Promise<RosterLeaf | undefined> {
    for (const leaf of leaves) {
      if (vouches(await this.verified(leaf.iss), leaf)) continue
      if (!vouches(await this.verified(leaf.iss, true), leaf)) return leaf
    }
    return undefined
  }

  /**
   * The latest verified list of `iss` (read from the server when not known, or when `fresh`): its whole chain
   * checked, and the version pinned before must be in it unchanged.
   */
  async verified(iss: string, fresh = false): Promise<DeviceList | undefined> {
    const known = this.#latest.get(iss) ?? (await this.#pinned(iss))
    if (known && !fresh) return known
    const { lists } = await this.#request('devices', { iss })
    const chain = await verifyDeviceChain(
      lists.filter((list) => list.iss === iss),
      (await this.#engine()).verify,
    )
    if ('refused' in chain)
      throw new ChatError('BAD_KEYS', `the device lists of ${iss} do not verify: ${chain.refused}`)
    const pinned = known && lists.find((list) => list.version === known.version)
    if (known && (pinned === undefined || pinned.signature !== known.signature)) {
      throw new ChatError(
        'BAD_KEYS',
        `the server shows ${iss} a device list other than the one this device saw`,
      )
    }
    if (chain.latest && chain.latest.version !== known?.version) await this.#accept(chain.latest)
    return chain.latest
  }

  describe = async (list: DeviceList): Promise<VerifiedDevices> => ({
    iss: list.iss,
    version: list.version,
    devices: list.devices,
    fingerprint: await fingerprint(list),
  })

  /** Signs with this device's key. */
  async #sign(): Promise<Sign> {
    const [engine, { signKey }] = await Promise.all([this.#engine(), this.signer()])
    return (message) => engine.sign(signKey, message)
  }

  async #accept(list: DeviceList): Promise<void> {
    const known = this.#latest.get(list.iss)
    if (known && known.version >= list.version) return
    this.#latest.set(list.iss, list)
    await this.#store.set(`devices/${list.iss}`, utf8.encode(JSON.stringify(list)))
    if (known) this.#changed(await this.describe(list))
  }

  async #pinned(iss: string): Promise<DeviceList | undefined> {
    const saved = await this.#store.get(`devices/${iss}`)
    if (saved === undefined) return undefined
    const list = JSON.parse(text.decode(saved)) as DeviceList
    this.#latest.set(iss, list)
    return list
  }
}
