import {
  type ChatGroup,
  type ChatMessage,
  type EncryptionStore,
  memoryCursorStore,
  memoryEncryptionStore,
} from '@huddle/client'
import type { CommitEvent, GroupEvent } from '@huddle/client/protocol'
import { expect, vi } from 'vitest'
import type { EncryptionOptions } from '../../packages/client/src/encryption.js'
import { KeyPersistence } from '../../packages/client/src/key-persistence.js'
import { type GroupKeys, mlsEngine } from '../../packages/client/src/mls.js'
import { unique } from './huddle.js'
import { participant, waitFor } from './sdk.js'

// Encrypted groups as SDK clients make them: devices, approvals, and waiting for the keys to settle.

export type Participant = Awaited<ReturnType<typeof participant>>
export type Device = Awaited<ReturnType<typeof device>>

/** A participant whose device keeps its encryption state in `store` (its own memory store by default). */
export async function device(
  sub: string,
  store: EncryptionStore = memoryEncryptionStore(),
  cursors = memoryCursorStore(),
  options: Pick<EncryptionOptions, 'rotateAfterMs' | 'welcomeWaitMs'> = {},
) {
  const encryption = { store, welcomeWaitMs: 1500, ...options }
  const seen = await participant(sub, { encryption, cursors })
  // Its first catch-up publishes its key packages, so members can add it.
  await seen.chat.catchUp()
  return { ...seen, store, cursors }
}

/** A second device of an identity, approved on its first (as its user would, on the device they hold). */
export async function approved(first: Device, second: Device): Promise<Device> {
  const [asking] = await waitFor(async () => {
    const pending = await first.chat.pendingDevices()
    expect(pending).toHaveLength(1)
    return pending
  })
  const devices = await first.chat.approveDevice(asking?.device ?? '')
  expect(devices.devices.map((d) => d.device)).toContain(asking?.device)
  // Both devices show the same safety number for the identity.
  await waitFor(async () =>
    expect((await second.chat.devices(second.sub))?.fingerprint).toBe(devices.fingerprint),
  )
  return second
}

/** The one message a participant was handed with this body. */
export function received(who: Participant, body: string): Promise<ChatMessage> {
  return waitFor(() => {
    const message = who.messages.find((m) => m.body === body)
    expect(message).toBeDefined()
    return message as ChatMessage
  })
}

/** Every event of the group's log, ascending, as a member reads it. */
export async function log(who: Participant, gid: string): Promise<GroupEvent[]> {
  const events: GroupEvent[] = []
  let after = 0
  for (;;) {
    const page = await who.client.request('history', { gid, after, limit: 100 })
    events.push(...page.events)
    if (page.next === undefined) return events
    after = page.next
  }
}

/** Group `gid`'s keys as a device's store holds them, loaded as the SDK loads them (undefined: none). */
export function savedKeys(store: EncryptionStore, gid: string): Promise<GroupKeys | undefined> {
  const engine = mlsEngine()
  return new KeyPersistence(store, async () => engine).loadGroup(gid)
}

/** Forgets group `gid`'s keys in a device's store, as a device that lost them. */
export function forgetKeys(store: EncryptionStore, gid: string): Promise<void> {
  const engine = mlsEngine()
  return new KeyPersistence(store, async () => engine).dropGroup(gid)
}

export const commitsOf = (events: GroupEvent[]) =>
  events.filter((e): e is CommitEvent => e.type === 'chat.commit')

/** An encrypted group the owner created, with the others joined and holding the keys (each can send). */
export async function encryptedGroup(owner: Device, ...others: Device[]) {
  const gid = unique('sealed')
  const group = await owner.chat.invite(gid, 'Sealed', [...new Set(others.map((p) => p.sub))], undefined, {
    encrypted: true,
  })
  const joined: ChatGroup[] = []
  for (const other of others) {
    joined.push(other.sub === owner.sub ? group : await other.chat.join(gid))
  }
  await keysSettled(gid, owner, ...others)
  return { gid, group, joined }
}

/** Waits until every device holds the group's keys at the server's epoch, with nobody missing or stale. */
export async function keysSettled(gid: string, ...devices: Device[]) {
  // Several commits, each verified by the server and taken in by every device: on a busy host, a while.
  await vi.waitFor(
    async () => {
      const roster = await devices[0]?.client.request('roster', { gid })
      expect(roster?.missing).toEqual([])
      expect(roster?.stale).toEqual([])
      expect(roster?.leaves.length).toBe(devices.length)
      for (const { store } of devices) {
        expect((await savedKeys(store, gid))?.epoch).toBe(roster?.epoch)
      }
    },
    { timeout: 30_000, interval: 100 },
  )
}
