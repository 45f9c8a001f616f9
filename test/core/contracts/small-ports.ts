import { describe, expect, it } from 'vitest'
import type {
  BlockStore,
  ConnectionStore,
  DeviceListStore,
  FanOutSlices,
  GroupPurges,
  GroupStore,
  KeyPackageStore,
  MembershipIndex,
  Quotas,
  RateBuckets,
} from '../../../lambdas/core/ports.js'
import { inAnHour, newGroup, unique } from './fixtures.js'

/** What every membership index must do: an identity's groups in gid order, its pending invites, its notices. */
export function membershipIndexContract(
  make: () => { index: MembershipIndex; groups: GroupStore; purges: GroupPurges },
): void {
  describe('MembershipIndex', () => {
    it("lists an identity's memberships in gid order, a page at a time, and counts its pending invites", async () => {
      const { index, groups } = make()
      const [alice, bob] = [unique('alice'), unique('bob')]
      const gids = [unique('a'), unique('b'), unique('c')].sort()
      for (const gid of gids) await groups.createGroup(...newGroup(gid, alice, [bob]))
      expect((await index.membershipsOf(bob)).map((m) => m.gid)).toEqual(gids)
      expect((await index.membershipsOf(bob, { after: gids[0], limit: 1 })).map((m) => m.gid)).toEqual([
        gids[1],
      ])
      expect(await index.pendingInvites(bob, 10)).toBe(3)
      expect(await index.pendingInvites(bob, 2)).toBe(2)
      expect(await index.pendingInvites(alice, 10)).toBe(0)
    })

    it('keeps the notice a deleted group left each member', async () => {
      const { index, groups, purges } = make()
      const [alice, bob, gid] = [unique('alice'), unique('bob'), unique('g')]
      await groups.createGroup(...newGroup(gid, alice, [bob]))
      await groups.markDeleted(gid, 0, { by: alice, at: '2026-01-01T00:00:00.000Z' })
      await purges.leaveNotices({ gid, by: alice, at: '2026-01-01T00:00:00.000Z' }, [bob])
      expect(await index.deletedGroupsOf(bob, 10)).toEqual([
        { type: 'chat.deleted', gid, iss: alice, iat: '2026-01-01T00:00:00.000Z' },
      ])
    })
  })
}

/** What every key-package directory must do: list the unexpired ones, hand each out once. */
export function keyPackageStoreContract(make: () => KeyPackageStore): void {
  describe('KeyPackageStore', () => {
    it('lists unexpired packages per device and hands each out once', async () => {
      const store = make()
      const iss = unique('alice')
      const now = new Date()
      const later = inAnHour()
      await store.addKeyPackages(iss, 'd1', 'key1', [
        { ref: 'r1', keyPackage: 'kp1', expiresAt: later },
        { ref: 'r2', keyPackage: 'kp2', expiresAt: Math.floor(now.getTime() / 1000) - 1 },
      ])
      await store.addKeyPackages(iss, 'd2', 'key2', [{ ref: 'r3', keyPackage: 'kp3', expiresAt: later }])
      expect(await store.keyPackageRefs(iss, now)).toEqual([
        { device: 'd1', ref: 'r1', key: 'key1' },
        { device: 'd2', ref: 'r3', key: 'key2' },
      ])
      expect(await store.keyPackageRefs(iss, now, 'd2')).toEqual([{ device: 'd2', ref: 'r3', key: 'key2' }])
      const one = { device: 'd1', ref: 'r1', key: 'key1' }
      expect(await store.takeKeyPackage(iss, one, now)).toBe('kp1')
      expect(await store.takeKeyPackage(iss, one, now)).toBeUndefined()
      expect(await store.takeKeyPackage(iss, { device: 'd1', ref: 'r2', key: 'key1' }, now)).toBeUndefined()
    })
  })
}

/** What every device-list store must do: keep each version once, oldest first. */
export function deviceListStoreContract(make: () => DeviceListStore): void {
  describe('DeviceListStore', () => {
    it('stores each version once and lists them oldest first', async () => {
      const store = make()
      const iss = unique('alice')
      const list = (version: number) => ({ iss, version, devices: [], signer: 'd1', signature: 'sig' })
      expect(await store.addDeviceList(list(2))).toBe(true)
      expect(await store.addDeviceList(list(1))).toBe(true)
      expect(await store.addDeviceList(list(1))).toBe(false)
      expect((await store.deviceLists(iss)).map((l) => l.version)).toEqual([1, 2])
      expect(await store.deviceLists(unique('nobody'))).toEqual([])
    })
  })
}

/** What every block store must do: remember and forget blocks, find pairs, page a blocker's list. */
export function blockStoreContract(make: () => BlockStore): void {
  describe('BlockStore', () => {
    it('finds the pairs that are blocks and pages what one identity blocks, in order', async () => {
      const store = make()
      const blocker = unique('alice')
      const [bob, carol, dave] = [`bob-${blocker}`, `carol-${blocker}`, `dave-${blocker}`]
      for (const iss of [dave, bob, carol]) await store.setBlock({ blocker, iss }, true)
      await store.setBlock({ blocker, iss: carol }, false)
      expect(await store.findBlocks([])).toEqual([])
      expect(
        await store.findBlocks([
          { blocker, iss: bob },
          { blocker, iss: carol },
          { blocker: bob, iss: blocker },
        ]),
      ).toEqual([{ blocker, iss: bob }])
      expect(await store.blocksOf(blocker, { limit: 10 })).toEqual([bob, dave])
      expect(await store.blocksOf(blocker, { after: bob, limit: 10 })).toEqual([dave])
      expect(await store.blocksOf(blocker, { limit: 1 })).toEqual([bob])
    })
  })
}

/** What every quota must do: count up to the limit in a window, then say how long until it ends. */
export function quotasContract(make: () => Quotas): void {
  describe('Quotas', () => {
    it('counts up to the limit in a window, then refuses until the next window', async () => {
      const quotas = make()
      const iss = unique('alice')
      const at = new Date(Date.UTC(2026, 0, 1, 10, 30, 0))
      expect(await quotas.spend(iss, 'create', 2, 3600, at)).toBeUndefined()
      expect(await quotas.spend(iss, 'create', 2, 3600, at)).toBeUndefined()
      expect(await quotas.spend(iss, 'create', 2, 3600, at)).toBe(1800)
      expect(await quotas.spend(iss, 'upload', 2, 3600, at)).toBeUndefined()
      expect(await quotas.spend(iss, 'create', 2, 3600, new Date(at.getTime() + 1800_000))).toBeUndefined()
    })
  })
}

/** What every rate bucket must do: a burst at once, then one token per interval. */
export function rateBucketsContract(make: () => RateBuckets): void {
  describe('RateBuckets', () => {
    it('gives a burst at once, then one token per interval, shared by every instance', async () => {
      const [one, other] = [make(), make()]
      const iss = unique('alice')
      const limit = { perSecond: 10, burst: 3 }
      const at = new Date()
      expect(await one.takeToken(iss, 'messages', limit, at)).toBeUndefined()
      expect(await other.takeToken(iss, 'messages', limit, at)).toBeUndefined()
      expect(await one.takeToken(iss, 'messages', limit, at)).toBeUndefined()
      expect(await other.takeToken(iss, 'messages', limit, at)).toBe(0.1)
      expect(await one.takeToken(iss, 'writes', limit, at)).toBeUndefined()
      expect(await other.takeToken(iss, 'messages', limit, new Date(at.getTime() + 100))).toBeUndefined()
    })
  })
}

/** What every connection store must do: an identity's open connections, forgotten by id alone too. */
export function connectionStoreContract(make: () => ConnectionStore): void {
  describe('ConnectionStore', () => {
    it("keeps each identity's open connections and forgets one by its id, with or without its identity", async () => {
      const store = make()
      const [alice, bob] = [unique('alice'), unique('bob')]
      const connection = (connectionId: string, iss: string) => ({
        connectionId,
        iss,
        connectedAt: new Date().toISOString(),
        expiresAt: inAnHour(),
      })
      const [a1, a2, b1] = [unique('a1'), unique('a2'), unique('b1')]
      await store.saveConnection(connection(a1, alice))
      await store.saveConnection(connection(a2, alice))
      await store.saveConnection(connection(b1, bob))
      const all = await store.connectionsOf([alice, bob, unique('nobody')])
      expect(all.get(alice)?.sort()).toEqual([a1, a2].sort())
      expect(all.get(bob)).toEqual([b1])
      expect(all.size).toBe(2)
      await store.deleteConnection(a1)
      await store.deleteConnection(b1, bob)
      await store.deleteConnection(unique('never'))
      const left = await store.connectionsOf([alice, bob])
      expect(left.get(alice)).toEqual([a2])
      expect(left.has(bob)).toBe(false)
    })
  })
}

/** What every slice lease must do: one owner at a time, its progress kept, nothing more once done. */
export function fanOutSlicesContract(make: () => FanOutSlices): void {
  describe('FanOutSlices', () => {
    it('leases a slice to one owner at a time, keeps how far it got, and hands out a done slice no more', async () => {
      const slices = make()
      const id = unique('slice')
      const now = Date.now()
      expect(await slices.claimSlice(id, 'first', now, now + 1000, inAnHour())).toBe(0)
      expect(await slices.claimSlice(id, 'second', now, now + 1000, inAnHour())).toBeUndefined()
      await slices.recordSlice(id, 'first', 5, false)
      await expect(slices.recordSlice(id, 'second', 6, false)).rejects.toThrow()
      expect(await slices.claimSlice(id, 'second', now + 1, now + 1000, inAnHour())).toBe(5)
      // The first owner's lease ended: the second holds it now.
      await expect(slices.recordSlice(id, 'first', 9, true)).rejects.toThrow()
      await slices.recordSlice(id, 'second', 9, true)
      expect(await slices.claimSlice(id, 'third', now + 2000, now + 3000, inAnHour())).toBeUndefined()
    })
  })
}
