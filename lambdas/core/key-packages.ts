import { vouches } from '@huddle/client/devices'
import { readKeyPackage } from '@huddle/client/mls-wire'
import type { AckResults } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Caller, ChatContext, WithDelivery } from './context.js'
import { fromBase64, refuseLifetime, requireEncrypted } from './encrypted-groups.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import { isJoined, requireJoined } from './group-log.js'
import type { KeyPackageRef } from './model.js'
import type { DeviceListStore, GroupStore, KeyPackageStore, Quotas } from './ports.js'

/** How long a claim lets its claimant add the package it was handed. */
const claimSeconds = 24 * 60 * 60
/** A claim's packages leave this much of a reply for the rest of it; `have` asks for the others. */
const replyBudget = limits.postBytes - 4 * 1024

/**
 * The key-package directory: each device of an identity publishes single-use MLS key packages naming
 * itself, and a member adding an identity to a group's keys claims one of each of its devices, each
 * handed out once.
 */
export class KeyPackages {
  constructor(
    private readonly context: ChatContext<
      KeyPackageStore &
        Pick<DeviceListStore, 'deviceLists'> &
        Quotas &
        Pick<GroupStore, 'readMembers' | 'recordClaims'>
    > &
      WithDelivery,
  ) {}

  /** Stores key packages of one of the caller's devices (all or none) and answers how many it has. */
  async publish(caller: Caller, frame: Frames['keys']): Promise<AckResults['keys']> {
    const { store } = this.context
    const at = this.context.now()
    if (frame.packages.length > 0) {
      const perHour = limits.keyPublishesPerHour
      const refusal = await store.spend(caller.iss, 'keys', perHour, 60 * 60, at)
      if (refusal !== undefined) {
        throw new ChatError('RATE_LIMITED', `keys: at most ${perHour} publishes an hour`, refusal)
      }
    }
    const read = await Promise.all(
      frame.packages.map(async (keyPackage, i) => {
        const named = await readKeyPackage(fromBase64(keyPackage))
        if (named?.iss !== caller.iss || named.device !== frame.device) {
          throw new ChatError(
            'BAD_REQUEST',
            `keys: packages.${i} is not a key package of your device ${frame.device}`,
          )
        }
        const refused = refuseLifetime(named.lifetime, at)
        if (refused) throw new ChatError('BAD_REQUEST', `keys: packages.${i} ${refused}`)
        return { ref: named.ref, keyPackage, key: named.key, expiresAt: named.lifetime.notAfter }
      }),
    )
    // One device signs with one key: the one its owner's list vouches for, once it is on it.
    const [key, ...others] = new Set(read.map((p) => p.key))
    const listed = (await store.deviceLists(caller.iss))
      .at(-1)
      ?.devices.find((d) => d.device === frame.device)
    if (others.length > 0 || (key !== undefined && listed !== undefined && listed.key !== key)) {
      throw new ChatError(
        'BAD_REQUEST',
        `keys: the packages are not signed with device ${frame.device}'s key`,
      )
    }
    const held = await store.keyPackageRefs(caller.iss, at, frame.device)
    if (key !== undefined && held.some((p) => p.key !== key)) {
      throw new ChatError(
        'BAD_REQUEST',
        `keys: device ${frame.device} published packages with another key; use another device name`,
      )
    }
    // Publishing a package again stores nothing new.
    const known = new Set(held.map((p) => p.ref))
    const fresh = [...new Map(read.map((p) => [p.ref, p])).values()].filter((p) => !known.has(p.ref))
    const available = held.length + fresh.length
    if (available > limits.keyPackagesPerDevice) {
      throw new ChatError(
        'TOO_LARGE',
        `keys: a device keeps at most ${limits.keyPackagesPerDevice} key packages; ${frame.device} has ${held.length}`,
      )
    }
    if (key !== undefined && fresh.length > 0) {
      await store.addKeyPackages(caller.iss, frame.device, key, fresh)
      // A device no list vouches for yet asks the identity's other devices to approve it.
      if (listed === undefined) {
        await this.context.delivery.deliver(
          { type: 'chat.devices', iss: caller.iss, pending: { device: frame.device, key } },
          [caller.iss],
          caller,
        )
      }
    }
    return { device: frame.device, available }
  }

  /**
   * One key package of each device of joined member `iss` (but those named in `have`), for a joined
   * member of the encrypted group to add it; each is taken out of the directory as it is handed out, and a
   * device whose package another claim took first gives its next one.
   */
  async claim(caller: Caller, frame: Frames['claim']): Promise<AckResults['claim']> {
    const { store } = this.context
    const state = await store.readMembers(frame.gid, [...new Set([caller.iss, frame.iss])])
    if (state === undefined) throw new ChatError('NOT_FOUND', `claim: no group ${frame.gid}`)
    requireJoined(state.members, caller.iss, 'claim')
    requireEncrypted(state.group, 'claim')
    if (!isJoined(state.members, frame.iss)) {
      throw new ChatError('FORBIDDEN', `claim: ${frame.iss} is not a joined member of ${frame.gid}`)
    }
    const at = this.context.now()
    const perHour = limits.claimsPerHour
    const refusal = await store.spend(caller.iss, 'claim', perHour, 60 * 60, at)
    if (refusal !== undefined) {
      throw new ChatError('RATE_LIMITED', `claim: at most ${perHour} claims an hour`, refusal)
    }
    const have = new Set(frame.have ?? [])
    // Only devices their owner vouches for, with the key it vouches for.
    const [refs, lists] = await Promise.all([
      store.keyPackageRefs(frame.iss, at),
      store.deviceLists(frame.iss),
    ])
    const devices = new Map<string, KeyPackageRef[]>()
    for (const ref of refs) {
      if (have.has(ref.device) || !vouches(lists.at(-1), ref)) continue
      devices.set(ref.device, [...(devices.get(ref.device) ?? []), ref])
    }
    const packages: AckResults['claim']['packages'] = []
    const claimed: string[] = []
    let bytes = 0
    for (const [device, refs] of devices) {
      for (const ref of refs) {
        const keyPackage = await store.takeKeyPackage(frame.iss, ref, at)
        if (keyPackage === undefined) continue
        packages.push({ device, package: keyPackage })
        claimed.push(ref.ref)
        bytes += keyPackage.length + device.length + 32
        break
      }
      if (bytes > replyBudget - limits.mlsInlineChars) break
    }
    if (packages.length === 0) {
      throw new ChatError('NO_KEY_PACKAGES', `claim: no device of ${frame.iss} has a key package left`)
    }
    // A commit may add these, and only these, once each, and only this caller's.
    await store.recordClaims(frame.gid, caller.iss, claimed, Math.ceil(at.getTime() / 1000) + claimSeconds)
    return { iss: frame.iss, packages }
  }
}
