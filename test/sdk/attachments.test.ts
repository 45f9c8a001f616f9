import { createHash, randomBytes } from 'node:crypto'
import type { ChatMessage } from '@huddle/client'
import { describe, expect, it } from 'vitest'
import { unique } from '../support/huddle.js'
import { participant, waitFor } from '../support/sdk.js'

type Participant = Awaited<ReturnType<typeof participant>>

/** SDK participants with fresh identities, connected side by side. */
async function participants<const T extends string[]>(...names: T): Promise<{ [K in keyof T]: Participant }> {
  const all = await Promise.all(names.map((name) => participant(unique(name))))
  return all as { [K in keyof T]: Participant }
}

/** A group the owner created, with every other participant joined. */
async function clubOf(owner: Participant, ...others: Participant[]) {
  const gid = unique('files')
  const group = await owner.chat.invite(
    gid,
    'Files',
    others.map((p) => p.sub),
  )
  const joined = await Promise.all(others.map((other) => other.chat.join(gid)))
  return { gid, group, joined }
}

/** The one message a participant was handed with this body. */
async function received(who: Participant, body: string): Promise<ChatMessage> {
  return waitFor(() => {
    const message = who.messages.find((m) => m.body === body)
    expect(message).toBeDefined()
    return message as ChatMessage
  })
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('base64')}`

describe('attachments through the SDK', () => {
  it('encrypts and uploads files with a message; members download the same bytes, live and from history', async () => {
    const [alice, bob, carol] = await participants('alice', 'bob', 'carol')
    const {
      group,
      joined: [, carols],
    } = await clubOf(alice, bob, carol)
    const photo = new Uint8Array(randomBytes(300_000))
    const notes = new TextEncoder().encode('minutes of the meeting\n')

    const sent = await group.message('two files', {
      attachments: [
        { name: 'photo.bin', mime: 'application/octet-stream', data: photo },
        { name: 'notes.txt', mime: 'text/plain', data: new Blob([notes]) },
      ],
    })
    expect(sent.duplicate).toBe(false)

    const live = await received(bob, 'two files')
    expect(live.attachments.map(({ name, mime, size }) => ({ name, mime, size }))).toEqual([
      { name: 'photo.bin', mime: 'application/octet-stream', size: photo.byteLength },
      { name: 'notes.txt', mime: 'text/plain', size: notes.byteLength },
    ])
    const [livePhoto, liveNotes] = await Promise.all(live.attachments.map((a) => a.download()))
    expect(livePhoto).toEqual(photo)
    expect(new TextDecoder().decode(liveNotes)).toBe('minutes of the meeting\n')

    // Carol reads it from history instead: the page carries the same files.
    if (!carols) throw new Error('carol did not join')
    const { events } = await carols.history({ limit: 10 })
    const kept = events.find((e): e is ChatMessage => e.type === 'chat.message' && e.jti === sent.jti)
    expect(kept?.attachments.map((a) => [a.key, a.digest, a.secret])).toEqual(
      live.attachments.map((a) => [a.key, a.digest, a.secret]),
    )
    const fromHistory = await Promise.all((kept?.attachments ?? []).map((a) => a.download()))
    expect(fromHistory).toEqual([photo, notes])
  })

  it('stores only ciphertext: the object behind a download link is not the file, and matches the digest', async () => {
    const [alice, bob] = await participants('alice', 'bob')
    const { gid, group } = await clubOf(alice, bob)
    const text = new TextEncoder().encode('a secret plan, in plain words. '.repeat(100))
    const [upload] = await group.upload([{ name: 'plan.txt', mime: 'text/plain', data: text }])
    if (!upload) throw new Error('upload resolved with no file')
    await group.message('plan', { attachments: [upload] })

    const [file] = (await received(bob, 'plan')).attachments
    if (!file) throw new Error('the message carries no file')
    const link = await bob.client.request('download', { gid, key: file.key })
    expect(link).toMatchObject({ gid, key: file.key, url: expect.stringMatching(/^http/) })
    const stored = new Uint8Array(await (await fetch(link.url)).arrayBuffer())
    // AES-GCM: as long as the file and its 16-byte tag, with none of its text in it.
    expect(stored.byteLength).toBe(text.byteLength + 16)
    expect(Buffer.from(stored).includes(Buffer.from('secret plan'))).toBe(false)
    expect(sha256(stored)).toBe(file.digest)
    // The group keeps it under a key of its own: the server copied the upload.
    expect(file.key).not.toBe(upload.key)
    expect(file).toMatchObject({ digest: upload.digest, secret: upload.secret, size: text.byteLength })
    expect(await file.download()).toEqual(text)
  })

  it('refuses an object that does not match its digest or does not decrypt with its secret', async () => {
    const [alice, bob] = await participants('alice', 'bob')
    const { group } = await clubOf(alice, bob)
    const [first, second] = await group.upload([
      { name: 'a.bin', mime: 'application/octet-stream', data: new Uint8Array(randomBytes(1000)) },
      { name: 'b.bin', mime: 'application/octet-stream', data: new Uint8Array(randomBytes(1000)) },
    ])
    if (!first || !second) throw new Error('upload resolved with fewer files than given')
    const otherDigest = sha256(new Uint8Array(randomBytes(32)))
    const otherSecret = randomBytes(44).toString('base64')
    // The sender's app names the uploads wrongly: readers must not take the bytes for the file.
    await group.message('wrong digest', { attachments: [{ ...first, digest: otherDigest }] })
    await group.message('wrong secret', { attachments: [{ ...second, secret: otherSecret }] })

    const [wrongDigest] = (await received(bob, 'wrong digest')).attachments
    await expect(wrongDigest?.download()).rejects.toMatchObject({
      name: 'ChatError',
      code: 'BAD_ATTACHMENT',
      message: expect.stringContaining('digest'),
    })
    const [wrongSecret] = (await received(bob, 'wrong secret')).attachments
    await expect(wrongSecret?.download()).rejects.toMatchObject({
      code: 'BAD_ATTACHMENT',
      message: expect.stringContaining('decrypt'),
    })
  })

  it('keeps messages in call order while one waits for its files, and a resend with its jti stores it once', async () => {
    const [alice, bob] = await participants('alice', 'bob')
    const { group } = await clubOf(alice, bob)
    const big = {
      name: 'big.bin',
      mime: 'application/octet-stream',
      data: new Uint8Array(randomBytes(500_000)),
    }
    const withFile = group.message('first, with a file', { attachments: [big] })
    const plain = group.message('second, plain')
    await Promise.all([withFile, plain])
    await waitFor(() => expect(bob.messages).toHaveLength(2))
    expect(bob.messages.map((m) => m.body)).toEqual(['first, with a file', 'second, plain'])

    // Uploaded once, sent twice with one jti (as after a TIMEOUT): one message, the same file.
    const files = await group.upload([
      { name: 'once.txt', mime: 'text/plain', data: new Uint8Array([1, 2, 3]) },
    ])
    const jti = crypto.randomUUID()
    const stored = await group.message('once', { jti, attachments: files })
    const again = await group.message('once', { jti, attachments: files })
    expect(again).toMatchObject({ jti, seq: stored.seq, duplicate: true })
    const message = await received(bob, 'once')
    expect(await message.attachments[0]?.download()).toEqual(new Uint8Array([1, 2, 3]))
    const { events } = await group.history({ limit: 10 })
    expect(events.filter((e) => e.type === 'chat.message' && e.body === 'once')).toHaveLength(1)
  })

  it('lets only joined members upload and download: one who left is refused', async () => {
    const [alice, bob, mallory] = await participants('alice', 'bob', 'mallory')
    const { gid, group } = await clubOf(alice, bob)
    await group.message('for members', {
      attachments: [{ name: 'm.txt', mime: 'text/plain', data: new TextEncoder().encode('members only') }],
    })
    const [file] = (await received(bob, 'for members')).attachments
    if (!file) throw new Error('the message carries no file')
    expect(new TextDecoder().decode(await file.download())).toBe('members only')

    await expect(mallory.client.request('attachment', { gid, size: 100 })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    })
    await expect(mallory.client.request('download', { gid, key: file.key })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    })
    await bob.chat.leave(gid)
    await expect(file.download()).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  it('deletes a message’s files with it', async () => {
    const [alice, bob] = await participants('alice', 'bob')
    const { gid, group } = await clubOf(alice, bob)
    const sent = await group.message('short-lived', {
      attachments: [{ name: 'gone.txt', mime: 'text/plain', data: new TextEncoder().encode('soon gone') }],
    })
    const [file] = (await received(bob, 'short-lived')).attachments
    if (!file) throw new Error('the message carries no file')
    const { url } = await bob.client.request('download', { gid, key: file.key })
    expect((await fetch(url)).status).toBe(200)

    await group.delete(sent.jti)
    // The link was signed by a function, which may not list the bucket: S3 answers 403 for the gone key.
    await waitFor(async () => expect((await fetch(url)).status).toBe(403))
    await expect(file.download()).rejects.toMatchObject({ name: 'ChatError' })
    const { events } = await group.history({ limit: 5 })
    const tombstone = events.find((e): e is ChatMessage => e.type === 'chat.message' && e.jti === sent.jti)
    expect(tombstone?.deleted).toBeDefined()
    expect(tombstone?.attachments).toEqual([])
  })

  it('answers TOO_LARGE past the size of one file or the files of one message', async () => {
    const [alice, bob] = await participants('alice', 'bob')
    const { gid, group } = await clubOf(alice, bob)
    await expect(
      alice.client.request('attachment', { gid, size: 25 * 1024 * 1024 + 1 }),
    ).rejects.toMatchObject({
      code: 'TOO_LARGE',
    })
    const eleven = Array.from({ length: 11 }, (_, i) => ({
      name: `${i}.txt`,
      mime: 'text/plain',
      data: new Uint8Array([i]),
    }))
    await expect(group.message('too many', { attachments: eleven })).rejects.toMatchObject({
      code: 'TOO_LARGE',
    })
    const ten = eleven.slice(0, 10)
    await group.message('ten', { attachments: ten })
    const message = await received(bob, 'ten')
    expect(message.attachments.map((a) => a.name)).toEqual(ten.map((f) => f.name))
  })
})
