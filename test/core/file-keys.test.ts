import { randomBytes, randomUUID } from 'node:crypto'
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { UpdateCommand } from '@aws-sdk/lib-dynamodb'
import { describe, expect, inject, it } from 'vitest'
import {
  fileKey,
  mlsPartKey,
  parseFileKey,
  parseMlsPartKey,
  parseUploadKey,
  uploadKey,
} from '../../lambdas/core/file-keys.js'
import { emulatorClientConfig } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'
import { connector } from '../support/clients.js'
import { groupItems, type TestClient, tableClient, unique } from '../support/huddle.js'

const connect = connector()
const id = '0b6f7a34-5c2d-4e8f-9a1b-2c3d4e5f6a7b'

describe('file keys', () => {
  it('parse back exactly the keys they build', () => {
    expect(parseUploadKey(uploadKey('alice@x', id))).toEqual({ iss: 'alice@x', id })
    expect(parseFileKey(fileKey('g.1', 'm:2', 10))).toEqual({ gid: 'g.1', jti: 'm:2', index: 10 })
    expect(parseMlsPartKey(mlsPartKey('g', 12, 'welcome', id))).toEqual({
      gid: 'g',
      epoch: 12,
      part: 'welcome',
      uploadId: id,
    })
  })

  it('refuse anything else: dot and empty segments, encoded separators, other shapes', () => {
    for (const key of [
      'files/../x/0',
      'files/./x/0',
      'files/g/../0',
      'files/g/./0',
      'files/g//0',
      'files//m/0',
      'files/g/m/0/',
      '/files/g/m/0',
      'files/g/m/00',
      'files/g/m/01',
      'files/g/m/-1',
      'files/g/m/1e3',
      'files/g/m/x',
      'files/g/m/0/1',
      'files/g%2Fm/0',
      'files/g\\..\\h/m/0',
      'files/g%2e%2e/m/0',
      'Files/g/m/0',
      `files/${'g'.repeat(129)}/m/0`,
      `files/g/${'m'.repeat(65)}/0`,
      'mls/../files/g/m/0',
    ]) {
      expect(parseFileKey(key), key).toBeUndefined()
    }
    for (const key of [
      `mls/../files/g/0/info-${id}`,
      `mls/g/../../files/h/m/0`,
      `mls/g/0/../info-${id}`,
      `mls/./0/info-${id}`,
      `mls/g/00/info-${id}`,
      `mls/g/-1/info-${id}`,
      `mls/g//info-${id}`,
      `mls/g/0/info-${id}/`,
      `mls/g/0/tree-${id}`,
      `mls/g/0/info${id}`,
      `mls/g/0/info-${id.toUpperCase()}`,
      `mls/g/0/info-${id}x`,
      `mls/g/0/info-..`,
      `mls/g%2F0/info-${id}`,
      `mls/g\\0/info-${id}`,
    ]) {
      expect(parseMlsPartKey(key), key).toBeUndefined()
    }
    for (const key of [
      `uploads/a/../b/${id}`,
      `uploads/a/${id}/..`,
      `uploads/../${id}`,
      `uploads/a//${id}`,
    ]) {
      expect(parseUploadKey(key), key).toBeUndefined()
    }
  })
})

/** `owner`'s group with `others` joined, and one message carrying a file; the file's kept key. */
async function groupWithFile(owner: TestClient, ...others: TestClient[]) {
  const gid = unique('files')
  await owner.ok('invite', { gid, name: 'Files', members: others.map((o) => o.iss) })
  for (const other of others) await other.ok('join', { gid })
  const sent = await owner.ok('message', {
    gid,
    body: 'f',
    attachments: [await owner.uploadAttachment(gid, randomBytes(64))],
  })
  return { gid, jti: String(sent.jti), key: fileKey(gid, String(sent.jti), 0) }
}

/** Fails unless the reply refuses with `code` and carries no link. */
function refused(reply: Record<string, unknown>, code: string, what: string) {
  expect(reply, what).toMatchObject({ type: 'error', code })
  expect(reply, what).not.toHaveProperty('url')
}

const s3 = () =>
  new S3Client({
    ...emulatorClientConfig,
    endpoint: inject('s3Endpoint'),
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  })

async function objectExists(key: string): Promise<boolean> {
  return s3()
    .send(new HeadObjectCommand({ Bucket: localNames.bucket, Key: key }))
    .then(
      () => true,
      (error: { name?: string }) => (error.name === 'NotFound' ? false : Promise.reject(error)),
    )
}

describe('download', () => {
  it("never links another group's file: no gid `..`, no dot or empty segments, no encoded separators", async () => {
    const [alice, bob, mallory] = await connect(unique('alice'), unique('bob'), unique('mallory'))
    const victim = await groupWithFile(alice, bob)
    const own = await groupWithFile(mallory, bob)
    const { jti } = victim
    const stolen = `files/${victim.gid}/${jti}/0`

    for (const gid of ['..', '.']) {
      refused(await mallory.request('invite', { gid, name: 'x', members: [bob.iss] }), 'BAD_REQUEST', gid)
      for (const key of [`mls/${gid}/${stolen}`, `files/${gid}/${jti}/0`]) {
        refused(await mallory.request('download', { gid, key }), 'BAD_REQUEST', `${gid} ${key}`)
      }
    }
    refused(await mallory.request('message', { gid: own.gid, body: 'x', jti: '..' }), 'BAD_REQUEST', 'jti ..')
    const cases: [string, string][] = [
      [`mls/${own.gid}/../../${stolen}`, 'FORBIDDEN'],
      [`files/${own.gid}/../../${stolen}`, 'FORBIDDEN'],
      [`files/${own.gid}/${own.jti}/0/../../../../${stolen}`, 'FORBIDDEN'],
      [`files/${own.gid}/./${own.jti}/0`, 'FORBIDDEN'],
      [`files/${own.gid}//${own.jti}/0`, 'FORBIDDEN'],
      [`files/${own.gid}/${own.jti}/0/`, 'FORBIDDEN'],
      [stolen, 'FORBIDDEN'],
      // The victim's jti under mallory's own gid names no message of hers.
      [`files/${own.gid}/${jti}/0`, 'NOT_FOUND'],
      [`mls/${own.gid}/..%2F..%2F${stolen.replaceAll('/', '%2F')}`, 'BAD_REQUEST'],
      [`files/${own.gid}/${jti}%2F..%2F..%2F${victim.gid}%2F${jti}/0`, 'BAD_REQUEST'],
      [`files/${own.gid}/..\\..\\files\\${victim.gid}\\${jti}/0`, 'BAD_REQUEST'],
      [`files%2F${victim.gid}%2F${jti}%2F0`, 'BAD_REQUEST'],
    ]
    for (const [key, code] of cases) {
      refused(await mallory.request('download', { gid: own.gid, key }), code, key)
    }

    // A link of her own, bent to the victim's file, does not open it either.
    const link = String((await mallory.ok('download', { gid: own.gid, key: own.key })).url)
    const bent = link.replace(own.key, `${own.key}/../../../../${stolen}`)
    expect(new URL(bent).pathname).toContain(stolen)
    expect((await fetch(bent)).status).toBe(403)
    expect((await fetch(link)).status).toBe(200)
    expect((await bob.ok('download', { gid: victim.gid, key: victim.key })).url).toEqual(expect.any(String))
  })

  it('links only a file its message carries, and no commit part of a plain group', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const { gid, jti, key } = await groupWithFile(alice, bob)
    refused(await bob.request('download', { gid, key: fileKey(gid, jti, 1) }), 'NOT_FOUND', 'index 1')
    refused(await bob.request('download', { gid, key: `${key}0` }), 'FORBIDDEN', 'index 00')
    refused(
      await bob.request('download', { gid, key: mlsPartKey(gid, 0, 'info', id) }),
      'NOT_FOUND',
      'plain mls',
    )
    expect(await bob.ok('download', { gid, key })).toMatchObject({ gid, key })
  })

  it("links a commit part only of its own encrypted group's landed commits, and only when it is there", async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('sealed')
    await alice.ok('invite', { gid, name: 'Sealed', members: [bob.iss], encrypted: true })
    await bob.ok('join', { gid })
    const plain = unique('plain')
    await bob.ok('invite', { gid: plain, name: 'Plain', members: [alice.iss] })
    // The keys' own flow is e2e-server's to test; here the group is one commit on, with its info kept.
    const { db, tableName } = tableClient()
    await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { PK: `GROUP#${gid}`, SK: 'META' },
        UpdateExpression: 'SET epoch = :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    )
    const info = mlsPartKey(gid, 0, 'info', randomUUID())
    await s3().send(new PutObjectCommand({ Bucket: localNames.bucket, Key: info, Body: 'info' }))

    const link = await bob.ok('download', { gid, key: info })
    expect(await (await fetch(String(link.url))).text()).toBe('info')
    const later = mlsPartKey(gid, 1, 'info', randomUUID())
    await s3().send(new PutObjectCommand({ Bucket: localNames.bucket, Key: later, Body: 'later' }))
    for (const [key, code, what] of [
      [later, 'NOT_FOUND', 'an epoch not landed'],
      [mlsPartKey(gid, 0, 'welcome', randomUUID()), 'NOT_FOUND', 'no object'],
      [info.replace('/0/', '/00/'), 'FORBIDDEN', 'epoch 00'],
      [`mls/${gid}/${info}`, 'FORBIDDEN', 'nested'],
    ] as const) {
      refused(await bob.request('download', { gid, key }), code, what)
    }
    refused(await bob.request('download', { gid: plain, key: info }), 'FORBIDDEN', 'another gid')
  })

  it('stops linking files to a member once removed', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const { gid, key } = await groupWithFile(alice, bob)
    await bob.ok('download', { gid, key })
    await alice.ok('remove', { gid, iss: bob.iss })
    refused(await bob.request('download', { gid, key }), 'FORBIDDEN', 'removed')
  })
})

describe('attachments', () => {
  it('must say exactly the bytes their upload holds: refused otherwise, with nothing stored or copied', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('sizes')
    await alice.ok('invite', { gid, name: 'Sizes', members: [bob.iss] })
    await bob.ok('join', { gid })
    const before = await groupItems(gid)
    const good = await alice.uploadAttachment(gid, randomBytes(64))
    const jti = unique('m')
    for (const size of [26_214_401, 65, 63]) {
      const bad = await alice.uploadAttachment(gid, randomBytes(64), { size })
      refused(
        await alice.request('message', { gid, body: 'x', jti, attachments: [good, bad] }),
        'BAD_REQUEST',
        String(size),
      )
    }
    expect(await groupItems(gid)).toEqual(before)
    expect(await objectExists(fileKey(gid, jti, 0))).toBe(false)

    const sent = await alice.ok('message', { gid, body: 'x', jti, attachments: [good] })
    expect(sent).toMatchObject({ duplicate: false })
    const event = await bob.nextEvent('chat.message', (e) => e.jti === jti)
    expect(event.attachments).toEqual([{ ...good, key: fileKey(gid, jti, 0) }])
    expect(await objectExists(fileKey(gid, jti, 0))).toBe(true)
  })
})
