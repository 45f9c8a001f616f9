import { refuseDeviceList, vouches } from '@huddle/client/devices'
import { verifyEd25519 } from '@huddle/client/mls-wire'
import type { AckResults } from '@huddle/client/protocol'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import type { DeviceListStore, KeyPackageStore } from './ports.js'

/**
 * Which devices each identity vouches for: a chain of signed lists, each version signed by a device of the
 * one before. The server keeps and checks the chain; members check it again, so a server that forges a
 * list is caught by them.
 */
export class DeviceLists {
  constructor(
    private readonly context: ChatContext<DeviceListStore & Pick<KeyPackageStore, 'keyPackageRefs'>> &
      WithDelivery,
  ) {}

  /** Every version of `iss`'s list; for the caller's own identity, also the devices awaiting approval. */
  async read(caller: Caller, frame: Frames['devices']): Promise<AckResults['devices']> {
    const { store } = this.context
    const lists = await store.deviceLists(frame.iss)
    if (frame.iss !== caller.iss) return { iss: frame.iss, lists }
    const latest = lists.at(-1)
    const pending = new Map<string, string>()
    for (const { device, key } of await store.keyPackageRefs(caller.iss, this.context.now())) {
      if (!vouches(latest, { device, key })) pending.set(device, key)
    }
    return { iss: frame.iss, lists, pending: [...pending].map(([device, key]) => ({ device, key })) }
  }

  /** Publishes the next version of the caller's list, and tells the caller's other devices. */
  async vouch(caller: Caller, frame: Frames['vouch']): Promise<AckResults['vouch']> {
    const { store, delivery } = this.context
    const { list } = frame
    if (list.iss !== caller.iss) throw new ChatError('FORBIDDEN', 'vouch: a list of your own identity only')
    const previous = (await store.deviceLists(caller.iss)).at(-1)
    if (previous !== undefined && list.version <= previous.version) {
      throw new ChatError(
        'CONFLICT',
        `vouch: version ${previous.version} exists already: read it, then sign the next`,
      )
    }
    const refused = await refuseDeviceList(list, previous, verifyEd25519)
    if (refused) {
      this.context.security('device-list-refused', { iss: caller.iss, version: list.version })
      throw new ChatError('BAD_REQUEST', `vouch: ${refused}`)
    }
    if (!(await store.addDeviceList(list))) {
      throw new ChatError('CONFLICT', `vouch: version ${list.version} was published meanwhile`)
    }
    await delivery.deliver(
      { type: 'chat.devices', iss: caller.iss, version: list.version },
      [caller.iss],
      caller,
    )
    return { iss: caller.iss, version: list.version }
  }
}
