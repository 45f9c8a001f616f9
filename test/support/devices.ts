import { signDeviceList } from '@huddle/client/devices'
import type { DeviceList } from '@huddle/client/protocol'
import { mlsEngine, type Signer } from '../../packages/client/src/mls.js'
import type { DeviceName } from '../../packages/client/src/mls-wire.js'
import type { TestClient } from './huddle.js'

// Devices as a raw client drives them: a signature key each, and each identity's signed device list.

export const engine = mlsEngine()
const signers = new Map<string, Promise<Signer>>()
const lists = new Map<string, DeviceList>()

/** The signature key pair of device `name` (made once per test run). */
export function signerOf(name: DeviceName): Promise<Signer> {
  const id = `${name.iss}/${name.device}`
  let signer = signers.get(id)
  if (signer === undefined) {
    signer = engine.newSigner()
    signers.set(id, signer)
  }
  return signer
}

/**
 * Puts `device` on `client`'s device list: the first device starts it; a later one is added by the first
 * (as an approval on that device would).
 */
export async function vouchFor(client: TestClient, device: string): Promise<DeviceList> {
  const name = { iss: client.iss, device }
  const key = Buffer.from((await signerOf(name)).publicKey).toString('base64')
  const latest = lists.get(client.iss)
  if (latest?.devices.some((d) => d.device === device)) return latest
  const signer = latest?.devices[0]?.device ?? device
  const { signKey } = await signerOf({ iss: client.iss, device: signer })
  const list = await signDeviceList(client.iss, latest, [...(latest?.devices ?? []), { device, key }], {
    device: signer,
    sign: (message) => engine.sign(signKey, message),
  })
  await client.ok('vouch', { list })
  lists.set(client.iss, list)
  return list
}

/** A key package of device `name`, signed with its key. */
export async function keyPackageOf(name: DeviceName) {
  return engine.makeKeyPackage(name, await signerOf(name))
}

/** A new group's state with device `name` as its only leaf, at epoch 0. */
export async function groupOf(gid: string, name: DeviceName) {
  return engine.createGroup(gid, name, await signerOf(name))
}
