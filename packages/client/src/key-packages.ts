import { toBase64 } from './bytes.js'
import type { KeyPersistence } from './key-persistence.js'
import type { KeyServer } from './key-server.js'
import type { MlsEngine, Signer } from './mls.js'
import type { DeviceName } from './mls-wire.js'

/** Below this many key packages in the directory, a device publishes a batch. */
const lowOnKeyPackages = 5
/** How many key packages a device keeps in the directory after topping up. */
const keyPackageBatch = 20

/** What topping up a device's key packages uses: the server, where secrets are kept, and who signs. */
export interface KeyPackageRefill {
  server: KeyServer
  persistence: KeyPersistence
  engine: MlsEngine
  name: DeviceName
  signer: Signer
}

/**
 * Publishes key packages when fewer than a few are left, keeping their secrets to join by Welcome, and
 * forgets the secrets of packages past their lifetime (nobody can add them any more).
 */
export async function refillKeyPackages({ server, persistence, engine, name, signer }: KeyPackageRefill) {
  const index = await persistence.keyPackageIndex()
  const now = Date.now() / 1000
  for (const [ref, notAfter] of Object.entries(index)) {
    if (notAfter > now) continue
    await persistence.forgetKeyPackage(ref)
    delete index[ref]
  }
  const available = await server.publish(name.device, [])
  if (available < lowOnKeyPackages) {
    const made = []
    for (let i = available; i < keyPackageBatch; i++) made.push(await engine.makeKeyPackage(name, signer))
    for (const { ref, secret, package: bytes } of made) {
      await persistence.saveKeyPackageSecret(ref, secret)
      index[ref] = (await engine.readKeyPackage(bytes))?.lifetime.notAfter ?? now
    }
    await server.publish(
      name.device,
      made.map((item) => toBase64(item.package)),
    )
  }
  await persistence.saveKeyPackageIndex(index)
}
