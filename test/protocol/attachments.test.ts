import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { groupItems, type TestClient, unique } from '../support/huddle.js'
import { purgeEnded } from '../support/purges.js'

const connect = connector()

async function downloaded(client: TestClient, gid: string, key: string): Promise<Buffer> {
  const link = await client.ok('download', { gid, key })
  const response = await fetch(String(link.url))
  expect(response.status).toBe(200)
  return Buffer.from(await response.arrayBuffer())
}

/** alice's group with bob joined and carol invited. */
async function group() {
  const [alice, bob, carol] = await connect(unique('alice'), unique('bob'), unique('carol'))
  const gid = unique('files')
  await alice.ok('invite', { gid, name: 'Files', members: [bob.iss, carol.iss] })
  await bob.ok('join', { gid })
  return { alice, bob, carol, gid }
}

describe('attachments', () => {
  it('are kept for the group, carried by the message and its history, and downloaded by members only', async () => {
    const { alice, bob, carol, gid } = await group()
    const bytes = randomBytes(300_000)
    const file = await alice.uploadAttachment(gid, bytes, { name: 'notes.bin', mime: 'application/pdf' })
    const sent = await alice.ok('message', { gid, body: 'the report', attachments: [file] })
    const event = await bob.nextEvent('chat.message', (e) => e.jti === sent.jti)
    const [kept] = event.attachments ?? []
    expect(kept).toMatchObject({ name: 'notes.bin', size: bytes.length, digest: file.digest, secret: 'k' })
    expect(kept?.key).toMatch(new RegExp(`^files/${gid}/`))
    expect(await downloaded(bob, gid, String(kept?.key))).toEqual(bytes)
    const history = await bob.ok('history', { gid })
    expect(history.events).toContainEqual(expect.objectContaining({ jti: sent.jti, attachments: [kept] }))

    // Only current members: not an invitee, not a stranger, not one who left, and never another group's.
    const [stranger] = await connect(unique('stranger'))
    for (const client of [carol, stranger]) {
      expect(await client.request('download', { gid, key: kept?.key })).toMatchObject({ code: 'FORBIDDEN' })
      expect(await client.request('attachment', { gid, size: 10 })).toMatchObject({ code: 'FORBIDDEN' })
    }
    expect(await bob.request('download', { gid, key: `files/${unique('other')}/x/0` })).toMatchObject({
      code: 'FORBIDDEN',
    })
    // A member invited after the message cannot read it, nor download its files.
    const [dave] = await connect(unique('dave'))
    await alice.ok('invite', { gid, name: 'Files', members: [dave.iss] })
    await dave.ok('join', { gid })
    expect(await dave.request('download', { gid, key: kept?.key })).toMatchObject({ code: 'FORBIDDEN' })
    await bob.ok('leave', { gid })
    expect(await bob.request('download', { gid, key: kept?.key })).toMatchObject({ code: 'FORBIDDEN' })
  })

  it('refuses an upload not issued to the sender, a missing one, too many and too large, storing nothing', async () => {
    const { alice, bob, gid } = await group()
    const bobs = await bob.uploadAttachment(gid, randomBytes(10), {
      name: 'notes.bin',
      mime: 'application/pdf',
    })
    const before = await groupItems(gid)
    expect(await alice.request('message', { gid, body: 'x', attachments: [bobs] })).toMatchObject({
      code: 'FORBIDDEN',
    })
    const missing = { ...bobs, key: String((await alice.ok('attachment', { gid, size: 10 })).key) }
    expect(await alice.request('message', { gid, body: 'x', attachments: [missing] })).toMatchObject({
      code: 'NOT_FOUND',
    })
    const eleven = Array.from({ length: 11 }, () => bobs)
    expect(await bob.request('message', { gid, body: 'x', attachments: eleven })).toMatchObject({
      code: 'TOO_LARGE',
    })
    expect(await bob.request('attachment', { gid, size: 25 * 1024 * 1024 + 1 })).toMatchObject({
      code: 'TOO_LARGE',
    })
    expect(
      await bob.request('message', { gid, body: 'x', attachments: [{ ...bobs, digest: 'md5' }] }),
    ).toMatchObject({
      code: 'BAD_REQUEST',
    })
    expect(await groupItems(gid)).toEqual(before)
  })

  it('answers a message sent again as stored, and deletes the files with the message', async () => {
    const { alice, bob, gid } = await group()
    const bytes = randomBytes(1000)
    const file = await alice.uploadAttachment(gid, bytes, { name: 'notes.bin', mime: 'application/pdf' })
    const jti = unique('m')
    const sent = await alice.ok('message', { gid, body: 'once', jti, attachments: [file] })
    expect(await alice.ok('message', { gid, body: 'once', jti, attachments: [file] })).toMatchObject({
      seq: sent.seq,
      duplicate: true,
    })
    const event = await bob.nextEvent('chat.message', (e) => e.jti === jti)
    const key = String(event.attachments?.[0]?.key)
    const link = await bob.ok('download', { gid, key })

    await alice.ok('delete', { gid, jti })
    // The link was signed by a function, which may not list the bucket: S3 answers 403 for the gone key.
    expect((await fetch(String(link.url))).status).toBe(403)
    expect(await bob.request('download', { gid, key })).toMatchObject({ code: 'NOT_FOUND' })
    const history = await bob.ok('history', { gid })
    const events = history.events as { type: string; jti?: string }[]
    const tombstone = events.find((e) => e.type === 'chat.message' && e.jti === jti)
    expect(tombstone).toMatchObject({ deleted: expect.any(String) })
    expect(tombstone).not.toHaveProperty('attachments')
  })

  it('go with their group when it is deleted', async () => {
    const { alice, bob, gid } = await group()
    const file = await alice.uploadAttachment(gid, randomBytes(1000), {
      name: 'notes.bin',
      mime: 'application/pdf',
    })
    const sent = await alice.ok('message', { gid, body: 'soon gone', attachments: [file] })
    const event = await bob.nextEvent('chat.message', (e) => e.jti === sent.jti)
    const link = await bob.ok('download', { gid, key: String(event.attachments?.[0]?.key) })
    await alice.ok('deleteGroup', { gid })
    await purgeEnded(gid)
    expect((await fetch(String(link.url))).status).toBe(403)
  })
})
