import type { DeviceList } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { DeviceTrust, type VerifiedDevices } from '../../packages/client/src/device-trust.js'
import {
  fingerprint,
  firstDeviceList,
  refuseDeviceList,
  signDeviceList,
  verifyDeviceChain,
} from '../../packages/client/src/devices.js'
import { memoryEncryptionStore } from '../../packages/client/src/encryption-store.js'
import { engine } from '../support/devices.js'

// Device lists as both the server and members check them, and a member's trust in them (pure: the server's
// answers are played by a map of lists).

const verify = engine.verify
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

async function device(name: string) {
  const signer = await engine.newSigner()
  return {
    device: name,
    key: b64(signer.publicKey),
    sign: (message: Uint8Array) => engine.sign(signer.signKey, message),
  }
}

describe('device lists', () => {
  it('chain from a first device, each version signed by a device of the one before', async () => {
    const [phone, laptop, tablet] = await Promise.all([device('phone'), device('laptop'), device('tablet')])
    const v1 = await firstDeviceList('alice', 'phone', Buffer.from(phone.key, 'base64'), phone.sign)
    const v2 = await signDeviceList('alice', v1, [...v1.devices, laptop], {
      device: 'phone',
      sign: phone.sign,
    })
    const v3 = await signDeviceList('alice', v2, [...v2.devices, tablet], {
      device: 'laptop',
      sign: laptop.sign,
    })
    expect(await verifyDeviceChain([v1, v2, v3], verify)).toEqual({ latest: v3 })
    expect(v3.devices.map((d) => d.device)).toEqual(['phone', 'laptop', 'tablet'])

    // Signed by a device not on the version before (the new one vouching for itself), or out of order.
    const selfVouched = await signDeviceList('alice', v1, [...v1.devices, tablet], {
      device: 'tablet',
      sign: tablet.sign,
    })
    expect(await refuseDeviceList(selfVouched, v1, verify)).toMatch(/may sign/)
    expect(await refuseDeviceList(v3, v1, verify)).toMatch(/does not follow/)
    const forged = { ...v2, devices: [...v2.devices, tablet] }
    expect(await refuseDeviceList(forged, v1, verify)).toMatch(/signature/)
    const twoFirst = await signDeviceList('alice', undefined, [phone, laptop], {
      device: 'phone',
      sign: phone.sign,
    })
    expect(await refuseDeviceList(twoFirst, undefined, verify)).toMatch(/one device/)
    expect(await verifyDeviceChain([v1, forged], verify)).toMatchObject({ refused: expect.any(String) })
  })

  it('have a fingerprint that changes with their devices and keys, and not with their order', async () => {
    const [phone, laptop] = await Promise.all([device('phone'), device('laptop')])
    const list = (devices: (typeof phone)[]): DeviceList => ({
      iss: 'alice',
      version: 1,
      devices: devices.map(({ device, key }) => ({ device, key })),
      signer: 'phone',
      signature: '',
    })
    const both = await fingerprint(list([phone, laptop]))
    expect(both).toMatch(/^\d{5}( \d{5}){11}$/)
    expect(await fingerprint(list([laptop, phone]))).toBe(both)
    expect(await fingerprint(list([phone]))).not.toBe(both)
    expect(await fingerprint({ ...list([phone, laptop]), iss: 'mallory' })).not.toBe(both)
  })
})

describe("a member's trust in device lists", () => {
  /** A server whose answers the test sets, and a member's trust that asks it. */
  function member() {
    const served = new Map<string, DeviceList[]>()
    const changes: VerifiedDevices[] = []
    const trust = new DeviceTrust(
      async (action, fields) => {
        if (action !== 'devices') throw new Error(`unexpected ${action}`)
        const { iss } = fields as { iss: string }
        return { iss, lists: served.get(iss) ?? [] } as never
      },
      memoryEncryptionStore(),
      async () => engine,
      (devices) => changes.push(devices),
    )
    return { served, changes, trust }
  }

  it('verifies the whole chain, pins what it saw first, and catches a server that shows another', async () => {
    const [phone, laptop, fake] = await Promise.all([device('phone'), device('laptop'), device('phone')])
    const v1 = await firstDeviceList('bob', 'phone', Buffer.from(phone.key, 'base64'), phone.sign)
    const v2 = await signDeviceList('bob', v1, [...v1.devices, laptop], { device: 'phone', sign: phone.sign })
    const { served, changes, trust } = member()
    served.set('bob', [v1])
    expect(await trust.verified('bob')).toEqual(v1)
    expect(await trust.vouched([{ leaf: 0, iss: 'bob', device: 'phone', key: phone.key }])).toBeUndefined()

    // A new version that chains is taken, and the app told of the change.
    served.set('bob', [v1, v2])
    expect(await trust.vouched([{ leaf: 1, iss: 'bob', device: 'laptop', key: laptop.key }])).toBeUndefined()
    expect(changes.map((c) => c.devices.map((d) => d.device))).toEqual([['phone', 'laptop']])

    // A leaf whose key is not the listed one is not vouched for.
    const stranger = { leaf: 2, iss: 'bob', device: 'laptop', key: fake.key }
    expect(await trust.vouched([stranger])).toEqual(stranger)

    // The server rewrites bob's history with a first version of its own: caught, though it verifies alone.
    const rewritten = await firstDeviceList('bob', 'phone', Buffer.from(fake.key, 'base64'), fake.sign)
    served.set('bob', [rewritten])
    await expect(trust.verified('bob', true)).rejects.toMatchObject({ code: 'BAD_KEYS' })
    // And a chain with a forged link does not verify at all.
    served.set('bob', [v1, { ...v2, devices: [...v2.devices, { device: 'evil', key: fake.key }] }])
    await expect(trust.verified('bob', true)).rejects.toMatchObject({ code: 'BAD_KEYS' })
  })
})
