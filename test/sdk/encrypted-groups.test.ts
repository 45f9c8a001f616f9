import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ScanCommand } from '@aws-sdk/lib-dynamodb'
import { type ChatGroup, fileEncryptionStore, memoryCursorStore, memoryEncryptionStore } from '@huddle/client'
import type { MessageEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { type GroupKeys, mlsEngine } from '../../packages/client/src/mls.js'
import {
  approved,
  commitsOf,
  device,
  encryptedGroup,
  forgetKeys,
  keysSettled,
  log,
  received,
  savedKeys,
} from '../support/encrypted.js'
import { tableClient, unique } from '../support/huddle.js'

// Each test builds a group's keys over several round trips and commits: on a busy machine that takes a while.
describe('end-to-end encrypted groups', { timeout: 120_000 }, () => {
  it('three identities, one on two devices, exchange messages and files; the table and the bucket hold no plaintext', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const carol = await device(unique('carol'))
    const carolPhone = await approved(carol, await device(carol.sub))
    const { gid, group, joined } = await encryptedGroup(alice, bob, carol, carolPhone)
    const [bobs, carols] = joined as [ChatGroup, ChatGroup]

    const secret = `the falcon lands at dawn ${unique('x')}`
    const sent = await group.message(secret)
    for (const who of [bob, carol, carolPhone]) expect((await received(who, secret)).unreadable).toBe(false)

    const reply = `copy that ${unique('y')}`
    await (await received(bob, secret)).respond(reply)
    for (const who of [alice, carol, carolPhone]) {
      const message = await received(who, reply)
      expect(message.iss).toBe(bob.sub)
      expect(message.rid).toBe(sent.jti)
    }
    // A device of the same identity reads what the other device sent.
    const fromCarol = `from carol's laptop ${unique('z')}`
    await carols.message(fromCarol)
    await received(carolPhone, fromCarol)
    await received(alice, fromCarol)

    const photo = new Uint8Array(randomBytes(50_000))
    const caption = `holiday photo ${unique('p')}`
    await bobs.message(caption, { attachments: [{ name: 'beach.jpg', mime: 'image/jpeg', data: photo }] })
    for (const who of [alice, carolPhone]) {
      const [file] = (await received(who, caption)).attachments
      expect(file?.name).toBe('beach.jpg')
      expect(await file?.download()).toEqual(photo)
    }

    // History reads what each device kept when it sent or first opened a message (MLS opens each once).
    const page = await bobs.history()
    expect(page.events.some((event) => event.type === ('chat.commit' as string))).toBe(false)
    const bodies = page.events.flatMap((event) => (event.type === 'chat.message' ? [event.body] : []))
    expect(bodies).toEqual([caption, fromCarol, reply, secret])

    // The server kept ciphertext only: no body, file name or file key in any item; no plaintext in the object.
    const { db, tableName } = tableClient()
    const items = JSON.stringify((await db.send(new ScanCommand({ TableName: tableName }))).Items)
    for (const plain of [secret, reply, fromCarol, caption, 'beach.jpg']) expect(items).not.toContain(plain)
    const [file] = (await received(alice, caption)).attachments
    expect(items).not.toContain(file?.secret)
    const stored = (await log(alice, gid)).find(
      (e): e is MessageEvent => e.type === 'chat.message' && e.attachments !== undefined,
    )
    const link = await alice.client.request('download', { gid, key: stored?.attachments?.[0]?.key ?? '' })
    const object = Buffer.from(await (await fetch(link.url)).arrayBuffer())
    expect(object.byteLength).toBeGreaterThan(photo.byteLength)
    expect(object.includes(Buffer.from(photo.subarray(0, 64)))).toBe(false)
  })

  it('a removed member cannot decrypt what follows: its leaf leaves the keys before the next message', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const carol = await device(unique('carol'))
    const { gid, group, joined } = await encryptedGroup(alice, bob, carol)
    await group.message('before')
    await received(bob, 'before')
    const bobsKeys = await savedKeys(bob.store, gid)
    expect(bobsKeys).toBeDefined()

    await group.remove(bob.sub)
    const after = `after bob ${unique('a')}`
    await (joined[1] as ChatGroup).message(after)
    await received(alice, after)

    const events = await log(alice, gid)
    const removal = commitsOf(events).find((c) => c.removed.some((leaf) => leaf.iss === bob.sub))
    expect(removal).toBeDefined()
    const sealed = events.find(
      (e): e is MessageEvent => e.type === 'chat.message' && e.seq > (removal?.seq ?? 0),
    )
    expect(sealed?.cipher).toBeDefined()
    // Bob's keys as they were before the removal do not open the message that followed it.
    const engine = mlsEngine()
    const keys = bobsKeys as GroupKeys
    await expect(engine.decrypt(keys, Buffer.from(sealed?.cipher ?? '', 'base64'))).rejects.toThrow()
    expect(bob.messages.some((m) => m.body === after)).toBe(false)
  })

  it('two commits made at once: one wins each epoch, the loser commits again, and everyone still reads everyone', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const carol = await device(unique('carol'))
    const { gid, group, joined } = await encryptedGroup(alice, bob, carol)
    const [bobs, carols] = joined as [ChatGroup, ChatGroup]
    const before = commitsOf(await log(alice, gid)).length

    await Promise.all([bobs.rotateKeys(), carols.rotateKeys()])

    const commits = commitsOf(await log(alice, gid))
    expect(commits.length).toBe(before + 2)
    expect(new Set(commits.map((c) => c.epoch)).size).toBe(commits.length)
    expect(new Set(commits.slice(-2).map((c) => c.iss))).toEqual(new Set([bob.sub, carol.sub]))
    for (const [sender, body] of [
      [group, 'from alice'],
      [bobs, 'from bob'],
      [carols, 'from carol'],
    ] as const) {
      await sender.message(body)
    }
    for (const [who, bodies] of [
      [alice, ['from bob', 'from carol']],
      [bob, ['from alice', 'from carol']],
      [carol, ['from alice', 'from bob']],
    ] as const) {
      for (const body of bodies) expect((await received(who, body)).unreadable).toBe(false)
    }
  })

  it('a new device of a member joins the keys by itself (an external commit) and reads what follows', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const { gid, group } = await encryptedGroup(alice, bob)
    const bobsTablet = await approved(bob, await device(bob.sub))
    await keysSettled(gid, alice, bob, bobsTablet)
    const joinedBy = commitsOf(await log(alice, gid)).at(-1)
    expect(joinedBy?.iss).toBe(bob.sub)
    expect(joinedBy?.added.map((leaf) => leaf.iss)).toEqual([bob.sub])

    await group.message('for both of bob’s devices')
    for (const who of [bob, bobsTablet]) {
      expect((await received(who, 'for both of bob’s devices')).unreadable).toBe(false)
    }
    // And the new device sends like any other.
    const [tablets] = await bobsTablet.chat.groups()
    await tablets?.message('from the tablet')
    expect((await received(alice, 'from the tablet')).unreadable).toBe(false)
  })

  it('a device tops its key packages up, before they run out, once members have claimed most of them', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const { gid } = await encryptedGroup(alice, bob)
    const bobsDevice = (await alice.client.request('roster', { gid })).leaves.find((l) => l.iss === bob.sub)
    const left = async () =>
      (await bob.client.request('keys', { device: bobsDevice?.device ?? '', packages: [] })).available
    // Adding bob took one; members adding him elsewhere take more, until fewer than 5 are left.
    while ((await left()) >= 5) await alice.client.request('claim', { gid, iss: bob.sub })
    expect(await left()).toBe(4)
    await bob.chat.catchUp()
    expect(await left()).toBe(20)
  })

  it('a sender renews its own keys by itself once they are older than rotateAfterMs', async () => {
    const alice = await device(unique('alice'), memoryEncryptionStore(), memoryCursorStore(), {
      rotateAfterMs: 200,
    })
    const bob = await device(unique('bob'))
    const { gid, group } = await encryptedGroup(alice, bob)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const before = commitsOf(await log(alice, gid)).length
    await group.message('after a while')
    const events = await log(alice, gid)
    const [renewal, ...more] = commitsOf(events).slice(before)
    expect(more).toEqual([])
    expect(renewal).toMatchObject({ iss: alice.sub, added: [], removed: [] })
    const message = events.find((e) => e.type === 'chat.message')
    expect(message?.seq).toBeGreaterThan(renewal?.seq ?? Number.POSITIVE_INFINITY)
    expect((await received(bob, 'after a while')).unreadable).toBe(false)
  })

  it('a member offline across two epochs catches up and decrypts; a restarted client decrypts with its saved state', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'huddle-keys-'))
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const dave = await device(unique('dave'), fileEncryptionStore(directory))
    const { gid, group } = await encryptedGroup(alice, bob, dave)
    await group.message('all here')
    await received(dave, 'all here')
    await dave.client.close()

    const epochs = async () => commitsOf(await log(alice, gid)).at(-1)?.epoch ?? 0
    const start = await epochs()
    await group.message('in the first epoch')
    await group.rotateKeys()
    await group.message('in the second epoch')
    await group.rotateKeys()
    await group.message('in the third epoch')
    expect(await epochs()).toBe(start + 2)

    // The same device, restarted: a new client over the same files and cursors.
    const again = await device(dave.sub, fileEncryptionStore(directory), dave.cursors)
    for (const body of ['in the first epoch', 'in the second epoch', 'in the third epoch']) {
      expect((await received(again, body)).unreadable).toBe(false)
    }
    await group.message('after the restart')
    expect((await received(again, 'after the restart')).unreadable).toBe(false)
  })

  it('a device that lost a group’s state joins its keys again, in place of its old leaf', async () => {
    const alice = await device(unique('alice'))
    const bob = await device(unique('bob'))
    const { gid, group } = await encryptedGroup(alice, bob)
    const before = await alice.client.request('roster', { gid })
    const bobsLeaf = before.leaves.find((leaf) => leaf.iss === bob.sub)
    await bob.client.close()

    // Its device id survives; the group's MLS state does not.
    await forgetKeys(bob.store, gid)
    const again = await device(bob.sub, bob.store, bob.cursors)
    await keysSettled(gid, alice, again)
    const rejoin = commitsOf(await log(alice, gid)).at(-1)
    expect(rejoin?.removed).toEqual([bobsLeaf])
    expect(rejoin?.added.map(({ iss, device }) => ({ iss, device }))).toEqual([
      { iss: bob.sub, device: bobsLeaf?.device },
    ])

    await group.message('welcome back')
    expect((await received(again, 'welcome back')).unreadable).toBe(false)
  })
})
