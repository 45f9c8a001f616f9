import { PutObjectCommand } from '@aws-sdk/client-s3'
import type { MessageEvent } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { GroupPurge } from '../../lambdas/core/group-purge.js'
import type { GroupPurges, ObjectStore, PurgeRun } from '../../lambdas/core/ports.js'
import { bucketPrefixes } from '../../lambdas/routes.js'
import { localNames } from '../../local/stack.js'
import { emulatorBucket } from '../support/buckets.js'
import { groupItems, png, tableClient, unique } from '../support/huddle.js'
import { newGroup } from './contracts/fixtures.js'

// A deleted group's purge, driven directly against DynamoDB Local and the S3 emulator (the developer's own
// credentials), with pages far smaller than the worker's, so that a small group spans many.

const { store } = tableClient()
const { s3, bucket } = emulatorBucket()

const pageSize = 16
const prefixesOf = (gid: string) =>
  [bucketPrefixes.avatars, bucketPrefixes.files, bucketPrefixes.mls].map((prefix) => `${prefix}${gid}/`)
const objectsOf = async (gid: string) =>
  (await Promise.all(prefixesOf(gid).map((p) => bucket.list(p)))).flat()
const put = (key: string) => s3.send(new PutObjectCommand({ Bucket: localNames.bucket, Key: key, Body: png }))

/**
 * A deleted group of 40 members (one joined) and 30 messages, each with one or two files, an avatar, and an
 * object under its prefix that no item names: about 100 items, several pages.
 */
async function deletedGroup() {
  const [alice, gid] = [unique('alice'), unique('big')]
  const invited = Array.from({ length: 39 }, (_, i) => `${alice}-friend-${i}`)
  const [group, members] = newGroup(gid, alice, invited)
  const avatar = `${bucketPrefixes.avatars}${gid}/${crypto.randomUUID()}`
  expect(await store.createGroup({ ...group, avatar: { key: avatar, mime: 'image/png' } }, members)).toBe(
    true,
  )
  const files = new Map<string, number>()
  for (let seq = 1; seq <= 30; seq++) {
    const jti = `m${seq}`
    const keys = Array.from({ length: 1 + (seq % 2) }, (_, i) => `${bucketPrefixes.files}${gid}/${jti}/${i}`)
    for (const key of keys) files.set(key, seq)
    const message: MessageEvent = {
      type: 'chat.message',
      gid,
      iss: alice,
      jti,
      body: `message ${seq}`,
      seq,
      iat: new Date().toISOString(),
      attachments: keys.map((key) => ({ key, size: png.length, digest: 'sha256:x' })),
    }
    expect(await store.appendMessage(message, Math.ceil(Date.now() / 1000) + 3600)).toBe('appended')
  }
  const orphan = `${bucketPrefixes.avatars}${gid}/${crypto.randomUUID()}`
  await Promise.all([avatar, orphan, ...files.keys()].map(put))
  const at = new Date().toISOString()
  expect(await store.markDeleted(gid, 30, { by: alice, at })).toBe(true)
  return { gid, alice, invited, avatar, orphan, files, at }
}

/** The store, with each page's removal recorded in `order` as the removal of its items. */
function recording(order: string[], from: GroupPurges = store): GroupPurges {
  return {
    ...from,
    removePurgePage: async (page) => {
      order.push(...page.items.map((sk) => `item ${sk}`))
      await from.removePurgePage(page)
    },
  }
}

/** The bucket, with each deletion recorded in `order`, failing from the `failFrom`th on. */
function recordingObjects(order: string[], failFrom = Number.POSITIVE_INFINITY): ObjectStore {
  let deletes = 0
  return Object.assign(Object.create(bucket) as ObjectStore, {
    delete: async (key: string) => {
      if (++deletes >= failFrom) throw new Error('the worker died')
      order.push(`object ${key}`)
      await bucket.delete(key)
    },
    list: (prefix: string) => bucket.list(prefix),
  })
}

const eventKey = (seq: number) => `E#${String(seq).padStart(12, '0')}`

describe("a deleted group's purge", () => {
  it('pages through the group, deletes the objects each page names before its items, and leaves the mark alone', async () => {
    const { gid, alice, invited, avatar, orphan, files, at } = await deletedGroup()
    expect((await objectsOf(gid)).length).toBe(files.size + 2)
    const order: string[] = []
    const purge = new GroupPurge({
      store: recording(order),
      objects: recordingObjects(order),
      newId: () => crypto.randomUUID(),
      pageSize,
    })
    await purge.start(gid)

    // Every file was deleted while the message naming it was still there.
    for (const [key, seq] of files) {
      const deleted = order.indexOf(`object ${key}`)
      expect(deleted, key).toBeGreaterThanOrEqual(0)
      expect(deleted, key).toBeLessThan(order.indexOf(`item ${eventKey(seq)}`))
    }
    // The avatar its mark named, and the object nothing named, go once every item has.
    const lastItem = order.length - 1 - [...order].reverse().findIndex((entry) => entry.startsWith('item '))
    expect(order.indexOf(`object ${avatar}`)).toBeGreaterThan(lastItem)
    expect(order.indexOf(`object ${orphan}`)).toBeGreaterThan(lastItem)
    expect(order.filter((entry) => entry.startsWith('item ')).length).toBeGreaterThan(3 * pageSize)

    expect(await groupItems(gid)).toEqual([
      expect.objectContaining({ SK: 'META', deleted: true, purged: true, deletedBy: alice }),
    ])
    expect(await objectsOf(gid)).toEqual([])
    const deletion = { type: 'chat.deleted', gid, iss: alice, iat: at }
    expect(await store.deletedGroupsOf(invited[17] as string, 10)).toEqual([deletion])
    expect(await store.deletedGroupsOf(alice, 10)).toEqual([deletion])
    // Asked again, it has nothing left to do.
    expect((await purge.run({ gid, run: 'again' })).outcome).toBe('not ours')
  })

  it('hands the rest over near its deadline, and a run that died midway is finished by the next', async () => {
    const { gid, alice, invited, files, at } = await deletedGroup()
    const handed: PurgeRun[] = []
    const workers = { dispatch: async (run: PurgeRun) => void handed.push(run) }
    const order: string[] = []
    const cut = new GroupPurge({
      store: recording(order),
      objects: recordingObjects(order),
      workers,
      newId: () => crypto.randomUUID(),
      pageSize,
      leaseMs: 1_000,
    })
    // Out of time after four pages: three of its 40 memberships (every member told), then one of items.
    let checks = 0
    const first = await cut.run({ gid, run: 'first' }, () => (++checks >= 4 ? 0 : Number.POSITIVE_INFINITY))
    expect(first).toMatchObject({ outcome: 'handed over', pages: 4, items: pageSize })
    expect(handed).toEqual([{ gid, run: 'first', phase: 'items', after: expect.any(String) }])
    expect(await store.deletedGroupsOf(invited[38] as string, 10)).toEqual([
      { type: 'chat.deleted', gid, iss: alice, iat: at },
    ])

    // Midway: what the first page named is gone with it; what the rest name is still there.
    const left = (await groupItems(gid)) as { SK: string }[]
    expect(left.length).toBeGreaterThan(pageSize)
    const stored = new Set(await objectsOf(gid))
    for (const [key, seq] of files) {
      expect(stored.has(key), key).toBe(left.some((item) => item.SK === eventKey(seq)))
    }

    // The next invocation dies on its second page, between deleting objects and the items naming them.
    const dying = new GroupPurge({
      store: recording(order),
      objects: recordingObjects(order, 3),
      newId: () => crypto.randomUUID(),
      pageSize,
      leaseMs: 1_000,
    })
    await expect(dying.run(handed[0] as PurgeRun)).rejects.toThrow('the worker died')
    // A new run waits while the dead one's lease lasts, then starts again from the partition's start.
    const next = new GroupPurge({
      store,
      objects: bucket,
      newId: () => crypto.randomUUID(),
      pageSize,
    })
    expect((await next.run({ gid, run: 'second' })).outcome).toBe('not ours')
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const rest = await next.run({ gid, run: 'second' })
    expect(rest.outcome).toBe('purged')
    expect(rest.pages).toBeGreaterThan(1)

    expect(await groupItems(gid)).toEqual([expect.objectContaining({ SK: 'META', purged: true })])
    expect(await objectsOf(gid)).toEqual([])
  })
})
