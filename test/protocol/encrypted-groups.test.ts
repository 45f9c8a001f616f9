import type { CommitEvent, MlsBytes } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import type { Committed, GroupKeys } from '../../packages/client/src/mls.js'
import { readKeyPackage } from '../../packages/client/src/mls-wire.js'
import { connector } from '../support/clients.js'
import { engine, groupOf, keyPackageOf, signerOf, vouchFor } from '../support/devices.js'
import { groupItems, indexCaughtUp, type TestClient, unique } from '../support/huddle.js'
import { purgeEnded } from '../support/purges.js'

// The server's side of encrypted groups, with real MLS bytes from the SDK's engine.

const connect = connector()
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const inline = (bytes: Uint8Array): MlsBytes => ({ data: b64(bytes) })
const text = (value: string) => new TextEncoder().encode(value)

/** A commit's parts, inline, as a `commit` request carries them. */
function parts(made: Committed) {
  return {
    commit: inline(made.commit),
    ...(made.welcome && { welcome: inline(made.welcome) }),
    info: inline(made.info),
  }
}

/** Key packages of one device (on its identity's device list), published; the secrets its device keeps. */
async function publish(client: TestClient, device: string, count: number) {
  await vouchFor(client, device)
  const made = await Promise.all(
    Array.from({ length: count }, () => keyPackageOf({ iss: client.iss, device })),
  )
  const ack = await client.ok('keys', { device, packages: made.map((m) => b64(m.package)) })
  return { made, available: ack.available }
}

/** An encrypted group of alice's that bob and carol joined (dave is invited); alice's device `a1` started
 * its keys with the first commit. */
async function encryptedGroup() {
  const [alice, bob, carol, dave] = await connect(
    unique('alice'),
    unique('bob'),
    unique('carol'),
    unique('dave'),
  )
  const gid = unique('sealed')
  const created = await alice.ok('invite', {
    gid,
    name: 'Sealed',
    members: [bob.iss, carol.iss, dave.iss],
    encrypted: true,
  })
  await bob.ok('join', { gid })
  await carol.ok('join', { gid })
  await vouchFor(alice, 'a1')
  const started = await engine.commit(await groupOf(gid, { iss: alice.iss, device: 'a1' }), {})
  const first = await alice.ok('commit', { gid, ...parts(started) })
  return { alice, bob, carol, dave, gid, created, keys: started.keys, started, first }
}

/** alice's keys with bob's device `b1` added, and bob's keys joined from the Welcome. */
async function withBob(group: Awaited<ReturnType<typeof encryptedGroup>>) {
  const { alice, bob, gid } = group
  const { made } = await publish(bob, 'b1', 1)
  const claimed = await alice.ok('claim', { gid, iss: bob.iss })
  const [claim] = claimed.packages as { device: string; package: string }[]
  const added = await engine.commit(group.keys, { add: [Buffer.from(String(claim?.package), 'base64')] })
  const ack = await alice.ok('commit', { gid, ...parts(added) })
  const event = await bob.nextEvent('chat.commit', (e) => e.seq === ack.seq)
  const bobs = await engine.joinFromWelcome(
    Buffer.from((event.welcome as { data: string }).data, 'base64'),
    made[0]?.secret ?? new Uint8Array(),
  )
  return { aliceKeys: added.keys, bobKeys: bobs, event, ack }
}

async function cipher(keys: GroupKeys, message = 'hello') {
  const sealed = await engine.encrypt(keys, text(message))
  return { keys: sealed.keys, cipher: b64(sealed.cipher) }
}

describe('encrypted groups', () => {
  it('are created as such, say so in views and invites, and stay what they are', async () => {
    const { bob, gid, created, alice } = await encryptedGroup()
    expect(created.group).toMatchObject({ encrypted: true })
    expect(await bob.nextEvent('chat.invite', (e) => e.gid === gid)).toMatchObject({ encrypted: true })
    await indexCaughtUp()
    const sync = await bob.ok('sync')
    expect(sync.groups).toContainEqual(expect.objectContaining({ gid, encrypted: true }))

    const plain = unique('plain')
    await alice.ok('invite', { gid: plain, name: 'Plain', members: [bob.iss] })
    expect(
      await alice.request('invite', { gid: plain, name: 'Plain', members: [bob.iss], encrypted: true }),
    ).toMatchObject({ code: 'BAD_REQUEST' })
    expect(
      (await alice.ok('invite', { gid: plain, name: 'Plain', members: [bob.iss] })).group,
    ).not.toHaveProperty('encrypted')
  })
})

describe('the key-package directory', () => {
  it("publishes a device's packages, counts them, and refuses another's, garbage and too many", async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    expect((await publish(alice, 'a1', 3)).available).toBe(3)
    expect(await alice.ok('keys', { device: 'a1', packages: [] })).toMatchObject({
      device: 'a1',
      available: 3,
    })
    expect(await alice.ok('keys', { device: 'a2', packages: [] })).toMatchObject({ available: 0 })

    const bobs = await keyPackageOf({ iss: bob.iss, device: 'a1' })
    const otherDevice = await keyPackageOf({ iss: alice.iss, device: 'a2' })
    const own = await keyPackageOf({ iss: alice.iss, device: 'a1' })
    for (const packages of [
      [b64(own.package), b64(bobs.package)],
      [b64(otherDevice.package)],
      ['AAAA'],
      [b64(own.package.subarray(0, 100))],
      ['not base64!'],
    ]) {
      expect(await alice.request('keys', { device: 'a1', packages }), packages[0]).toMatchObject({
        code: 'BAD_REQUEST',
      })
    }
    expect(await alice.ok('keys', { device: 'a1', packages: [] })).toMatchObject({ available: 3 })
    // The same package again stores nothing new.
    const again = await publish(alice, 'a3', 2)
    const sent = again.made.map((m) => b64(m.package))
    expect(await alice.ok('keys', { device: 'a3', packages: [...sent, ...sent] })).toMatchObject({
      available: 2,
    })

    // A device keeps at most 100.
    for (let i = 0; i < 4; i++) await publish(alice, 'a4', 20)
    await publish(alice, 'a4', 19)
    const two = await Promise.all([1, 2].map(() => keyPackageOf({ iss: alice.iss, device: 'a4' })))
    expect(
      await alice.request('keys', { device: 'a4', packages: two.map((m) => b64(m.package)) }),
    ).toMatchObject({ code: 'TOO_LARGE' })
    expect(await alice.ok('keys', { device: 'a4', packages: [] })).toMatchObject({ available: 99 })
    expect(
      await alice.ok('keys', { device: 'a4', packages: [b64(two[0]?.package ?? new Uint8Array())] }),
    ).toMatchObject({ available: 100 })
  })

  it('hands a member one package of each device of a joined member, each once, to members only', async () => {
    const { alice, bob, carol, dave, gid } = await encryptedGroup()
    const b1 = await publish(bob, 'b1', 2)
    const b2 = await publish(bob, 'b2', 1)
    const published = new Set([...b1.made, ...b2.made].map((m) => b64(m.package)))

    const first = await carol.ok('claim', { gid, iss: bob.iss })
    const firstPackages = first.packages as { device: string; package: string }[]
    expect(first.iss).toBe(bob.iss)
    expect(firstPackages.map((p) => p.device).sort()).toEqual(['b1', 'b2'])
    for (const { device, package: text } of firstPackages) {
      expect(published.has(text)).toBe(true)
      expect(await readKeyPackage(Buffer.from(text, 'base64'))).toMatchObject({ iss: bob.iss, device })
    }
    // b2 has none left, and b1's other one is skipped when the claimer has b1's already.
    expect(await alice.request('claim', { gid, iss: bob.iss, have: ['b1'] })).toMatchObject({
      code: 'NO_KEY_PACKAGES',
    })
    const second = await alice.ok('claim', { gid, iss: bob.iss })
    const [last] = second.packages as { device: string; package: string }[]
    expect(second.packages).toHaveLength(1)
    expect(last?.device).toBe('b1')
    expect(firstPackages.map((p) => p.package)).not.toContain(last?.package)
    expect(await alice.request('claim', { gid, iss: bob.iss })).toMatchObject({ code: 'NO_KEY_PACKAGES' })
    expect(await bob.ok('keys', { device: 'b1', packages: [] })).toMatchObject({ available: 0 })

    // Only joined members claim, and only joined members are claimed; a plain group has no keys.
    await publish(dave, 'd1', 1)
    const [stranger] = await connect(unique('stranger'))
    await publish(stranger, 's1', 1)
    expect(await stranger.request('claim', { gid, iss: bob.iss })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await dave.request('claim', { gid, iss: carol.iss })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await alice.request('claim', { gid, iss: dave.iss })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await alice.request('claim', { gid, iss: stranger.iss })).toMatchObject({ code: 'FORBIDDEN' })
    const plain = unique('plain')
    await alice.ok('invite', { gid: plain, name: 'Plain', members: [bob.iss] })
    await bob.ok('join', { gid: plain })
    await publish(bob, 'b3', 1)
    expect(await alice.request('claim', { gid: plain, iss: bob.iss })).toMatchObject({ code: 'BAD_REQUEST' })
    expect(await bob.ok('keys', { device: 'b3', packages: [] })).toMatchObject({ available: 1 })
  })
})

describe('commits', () => {
  it('start with the creator, add joined members, and keep the roster the keys have', async () => {
    const group = await encryptedGroup()
    const { alice, bob, carol, gid, first } = group
    expect(first).toMatchObject({ gid, epoch: 1, seq: expect.any(Number) })
    const firstEvent = await bob.nextEvent('chat.commit', (e) => e.seq === first.seq)
    expect(firstEvent).toMatchObject({
      gid,
      iss: alice.iss,
      epoch: 1,
      added: [{ leaf: 0, iss: alice.iss, device: 'a1' }],
      removed: [],
    })
    expect(firstEvent).not.toHaveProperty('welcome')

    const { aliceKeys, bobKeys, event, ack } = await withBob(group)
    expect(ack).toMatchObject({ epoch: 2 })
    expect(event).toMatchObject({ epoch: 2, added: [{ leaf: 1, iss: bob.iss, device: 'b1' }], removed: [] })
    expect(bobKeys.epoch).toBe(2)
    // The keys work: bob reads what alice sends through the server.
    const sent = await cipher(aliceKeys, 'only for members')
    const message = await alice.ok('message', { gid, body: '', cipher: sent.cipher })
    const received = await bob.nextEvent('chat.message', (e) => e.jti === message.jti)
    expect(received).toMatchObject({ body: '', cipher: sent.cipher })
    const opened = await engine.decrypt(bobKeys, Buffer.from(String(received.cipher), 'base64'))
    expect(new TextDecoder().decode(opened.plaintext)).toBe('only for members')

    const roster = await carol.ok('roster', { gid })
    expect(roster).toMatchObject({
      gid,
      epoch: 2,
      leaves: [
        { leaf: 0, iss: alice.iss, device: 'a1' },
        { leaf: 1, iss: bob.iss, device: 'b1' },
      ],
      stale: [],
      missing: [carol.iss],
      info: event.info,
    })
    // History carries the commits in the group's order.
    const history = await carol.ok('history', { gid, after: 0 })
    expect(
      (history.events as CommitEvent[]).filter((e) => e.type === 'chat.commit').map((e) => e.epoch),
    ).toEqual([1, 2])
  })

  it('refuses a first commit from anyone but the creator, a stale epoch and strangers, storing nothing', async () => {
    const [alice, bob, stranger] = await connect(unique('alice'), unique('bob'), unique('stranger'))
    const gid = unique('sealed')
    await alice.ok('invite', { gid, name: 'Sealed', members: [bob.iss], encrypted: true })
    await bob.ok('join', { gid })
    await vouchFor(alice, 'a1')
    const before = await groupItems(gid)
    const bobStarts = await engine.commit(await groupOf(gid, { iss: bob.iss, device: 'b1' }), {})
    expect(await bob.request('commit', { gid, ...parts(bobStarts) })).toMatchObject({ code: 'FORBIDDEN' })
    // A path naming another identity's device.
    const asBob = await engine.commit(await groupOf(gid, { iss: bob.iss, device: 'b1' }), {})
    expect(await alice.request('commit', { gid, ...parts(asBob) })).toMatchObject({ code: 'FORBIDDEN' })
    const aliceStarts = await engine.commit(await groupOf(gid, { iss: alice.iss, device: 'a1' }), {})
    expect(await stranger.request('commit', { gid, ...parts(aliceStarts) })).toMatchObject({
      code: 'FORBIDDEN',
    })
    expect(await groupItems(gid)).toEqual(before)

    await alice.ok('commit', { gid, ...parts(aliceStarts) })
    const after = await groupItems(gid)
    // Made at epoch 0 again, after the keys moved on.
    const late = await engine.commit(await groupOf(gid, { iss: alice.iss, device: 'a1' }), {})
    expect(await alice.request('commit', { gid, ...parts(late) })).toMatchObject({ code: 'CONFLICT' })
    expect(await alice.request('commit', { gid, ...parts(aliceStarts) })).toMatchObject({ code: 'CONFLICT' })
    expect(await groupItems(gid)).toEqual(after)

    const plain = unique('plain')
    await alice.ok('invite', { gid: plain, name: 'Plain', members: [bob.iss] })
    const plainStart = await engine.commit(await groupOf(plain, { iss: alice.iss, device: 'a1' }), {})
    expect(await alice.request('commit', { gid: plain, ...parts(plainStart) })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    expect(await alice.request('roster', { gid: plain })).toMatchObject({ code: 'BAD_REQUEST' })
  })

  it("refuses adding a non-member, committing from another's leaf, and malformed parts, storing nothing", async () => {
    const group = await encryptedGroup()
    const { alice, bob, carol, dave, gid, keys } = group
    const [stranger] = await connect(unique('stranger'))
    const before = await groupItems(gid)
    for (const outsider of [dave, stranger]) {
      const { made } = await publish(outsider, 'x1', 1)
      const adding = await engine.commit(keys, { add: [made[0]?.package ?? new Uint8Array()] })
      expect(await alice.request('commit', { gid, ...parts(adding) }), outsider.iss).toMatchObject({
        code: 'FORBIDDEN',
      })
    }
    // alice's leaf, sent by bob.
    const update = await engine.commit(keys, {})
    expect(await bob.request('commit', { gid, ...parts(update) })).toMatchObject({ code: 'FORBIDDEN' })

    const { made } = await publish(carol, 'c1', 1)
    const adding = await engine.commit(keys, { add: [made[0]?.package ?? new Uint8Array()] })
    const good = parts(adding)
    // Handed out by claim: only then may a commit add it.
    expect(await alice.request('commit', { gid, ...good })).toMatchObject({ code: 'FORBIDDEN' })
    await alice.ok('claim', { gid, iss: carol.iss })
    const garbage = { data: b64(text('not MLS at all')) }
    for (const [what, fields] of [
      ['a commit that is info', { ...good, commit: good.info }],
      ['info that is a commit', { ...good, info: good.commit }],
      ['info of the same epoch', { ...good, info: parts(group.started).info }],
      ['a garbage commit', { ...good, commit: garbage }],
      ['a garbage welcome', { ...good, welcome: garbage }],
      ['no welcome for an add', { commit: good.commit, info: good.info }],
      ['a welcome without an add', { ...parts(update), welcome: good.welcome }],
      ['an application message', { ...good, commit: { data: (await cipher(keys)).cipher } }],
      ['not base64', { ...good, commit: { data: 'no base64 here' } }],
    ] as const) {
      expect(await alice.request('commit', { gid, ...fields }), what).toMatchObject({ code: 'BAD_REQUEST' })
    }
    expect(await groupItems(gid)).toEqual(before)
    await alice.ok('commit', { gid, ...good })
  })

  it('take parts too large for a frame as uploads, kept for the group and downloaded by its members', async () => {
    const group = await encryptedGroup()
    const { alice, bob, carol, dave, gid, keys } = group
    const [stranger] = await connect(unique('stranger'))
    const { made } = await publish(bob, 'b1', 1)
    const [claim] = (await alice.ok('claim', { gid, iss: bob.iss })).packages as { package: string }[]
    const adding = await engine.commit(keys, { add: [Buffer.from(String(claim?.package), 'base64')] })
    const uploaded = async (bytes: Uint8Array | undefined): Promise<MlsBytes> => {
      const body = new Uint8Array(bytes ?? [])
      const granted = await alice.ok('attachment', { gid, size: body.length })
      const put = await fetch(String(granted.url), {
        method: 'PUT',
        headers: granted.headers as Record<string, string>,
        body,
      })
      expect(put.status).toBe(200)
      return { key: String(granted.key) }
    }
    // Another's upload is not the caller's to send.
    const bobsUpload = await bob.ok('attachment', { gid, size: 10 })
    expect(
      await alice.request('commit', { gid, ...parts(adding), commit: { key: bobsUpload.key } }),
    ).toMatchObject({ code: 'FORBIDDEN' })

    const sent = {
      commit: await uploaded(adding.commit),
      welcome: await uploaded(adding.welcome),
      info: await uploaded(adding.info),
    }
    const ack = await alice.ok('commit', { gid, ...sent })
    const event = await carol.nextEvent('chat.commit', (e) => e.seq === ack.seq)
    for (const [part, bytes] of [
      ['commit', adding.commit],
      ['welcome', adding.welcome],
      ['info', adding.info],
    ] as const) {
      const key = String((event[part] as { key?: string } | undefined)?.key)
      expect(key).toMatch(new RegExp(`^mls/${gid}/1/${part}-`))
      const link = await carol.ok('download', { gid, key })
      expect(new Uint8Array(await (await fetch(String(link.url))).arrayBuffer())).toEqual(bytes)
      for (const outsider of [dave, stranger]) {
        expect(await outsider.request('download', { gid, key }), outsider.iss).toMatchObject({
          code: 'FORBIDDEN',
        })
      }
    }
    const welcome = await (
      await fetch(
        String((await bob.ok('download', { gid, key: (event.welcome as { key: string }).key })).url),
      )
    ).arrayBuffer()
    const bobs = await engine.joinFromWelcome(new Uint8Array(welcome), made[0]?.secret ?? new Uint8Array())
    expect(bobs.epoch).toBe(2)
    expect((await bob.ok('roster', { gid })).info).toEqual(event.info)

    // Deleting the group deletes its parts.
    const link = await carol.ok('download', { gid, key: (event.commit as { key: string }).key })
    await alice.ok('deleteGroup', { gid })
    expect(await purgeEnded(gid)).toMatchObject({ SK: 'META', deleted: true })
    // Signed by a function, which may not list the bucket: S3 answers 403 for the gone key.
    expect((await fetch(String(link.url))).status).toBe(403)
  })

  it('let a device of a member join the keys by itself, from the group info', async () => {
    const group = await encryptedGroup()
    const { alice, bob, gid } = group
    const { aliceKeys } = await withBob(group)
    const roster = await bob.ok('roster', { gid })
    const info = Buffer.from((roster.info as { data: string }).data, 'base64')
    // A device of bob's removing alice's leaf on its way in: refused.
    const grabbing = await engine.joinExternal(
      info,
      { iss: bob.iss, device: 'b2' },
      await signerOf({ iss: bob.iss, device: 'b2' }),
      0,
    )
    expect(await bob.request('commit', { gid, ...parts(grabbing) })).toMatchObject({ code: 'FORBIDDEN' })
    // In another's name: refused.
    const posing = await engine.joinExternal(
      info,
      { iss: alice.iss, device: 'a9' },
      await signerOf({ iss: alice.iss, device: 'a9' }),
    )
    expect(await bob.request('commit', { gid, ...parts(posing) })).toMatchObject({ code: 'FORBIDDEN' })
    // Its own device, replacing its old leaf (a device that lost its state).
    const rejoin = await engine.joinExternal(
      info,
      { iss: bob.iss, device: 'b1' },
      await signerOf({ iss: bob.iss, device: 'b1' }),
      1,
    )
    const ack = await bob.ok('commit', { gid, ...parts(rejoin) })
    const event = await alice.nextEvent('chat.commit', (e) => e.seq === ack.seq)
    expect(event).toMatchObject({
      epoch: 3,
      added: [{ leaf: 1, iss: bob.iss, device: 'b1' }],
      removed: [{ leaf: 1, iss: bob.iss, device: 'b1' }],
    })
    const processed = await engine.process(
      aliceKeys,
      Buffer.from((event.commit as { data: string }).data, 'base64'),
    )
    expect(processed.keys.epoch).toBe(3)
    expect((await alice.ok('roster', { gid })).leaves).toEqual([
      expect.objectContaining({ leaf: 0, iss: alice.iss, device: 'a1' }),
      expect.objectContaining({ leaf: 1, iss: bob.iss, device: 'b1' }),
    ])
  })
})

describe('messages in encrypted groups', () => {
  it('carry a cipher at the current epoch and sealed attachments; plain groups carry none', async () => {
    const group = await encryptedGroup()
    const { alice, bob, gid } = group
    const { aliceKeys } = await withBob(group)
    const sent = await cipher(aliceKeys)
    const file = await alice.ok('attachment', { gid, size: 4 })
    await fetch(String(file.url), {
      method: 'PUT',
      headers: file.headers as Record<string, string>,
      body: new Uint8Array([1, 2, 3, 4]),
    })
    const sealed = { key: String(file.key), size: 4, digest: `sha256:${'A'.repeat(43)}=` }
    const before = await groupItems(gid)
    for (const [what, fields, code] of [
      ['a body', { body: 'plain words', cipher: sent.cipher }, 'BAD_REQUEST'],
      ['no cipher', { body: 'plain words' }, 'BAD_REQUEST'],
      [
        'a secret',
        { body: '', cipher: sent.cipher, attachments: [{ ...sealed, name: 'a', mime: 'b', secret: 'c' }] },
        'BAD_REQUEST',
      ],
      ['a name', { body: '', cipher: sent.cipher, attachments: [{ ...sealed, name: 'a' }] }, 'BAD_REQUEST'],
      ['a commit as cipher', { body: '', cipher: parts(group.started).commit }, 'BAD_REQUEST'],
      ['an old epoch', { body: '', cipher: (await cipher(group.keys)).cipher }, 'CONFLICT'],
    ] as const) {
      expect(await alice.request('message', { gid, ...fields }), what).toMatchObject({ code })
    }
    expect(await groupItems(gid)).toEqual(before)

    const ack = await alice.ok('message', { gid, body: '', cipher: sent.cipher, attachments: [sealed] })
    const event = await bob.nextEvent('chat.message', (e) => e.jti === ack.jti)
    expect(event.attachments).toEqual([
      { ...sealed, key: expect.stringMatching(new RegExp(`^files/${gid}/`)) },
    ])
    // An edit is a cipher too, kept as sent; the same edit sent again changes nothing.
    const edit = await cipher(sent.keys, 'edited')
    const edited = await alice.ok('edit', { gid, jti: ack.jti, body: '', cipher: edit.cipher })
    expect(await alice.ok('edit', { gid, jti: ack.jti, body: '', cipher: edit.cipher })).toMatchObject({
      seq: edited.seq,
      duplicate: true,
    })
    expect(await alice.request('edit', { gid, jti: ack.jti, body: 'plain' })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    const history = (await bob.ok('history', { gid })).events as Record<string, unknown>[]
    expect(history.find((e) => e.seq === ack.seq)).toMatchObject({ body: '', cipher: sent.cipher })
    expect(history.find((e) => e.seq === edited.seq)).toMatchObject({
      type: 'chat.edit',
      cipher: edit.cipher,
    })
    await alice.ok('delete', { gid, jti: ack.jti })
    const after = (await bob.ok('history', { gid })).events as Record<string, unknown>[]
    expect(after.find((e) => e.seq === ack.seq)).not.toHaveProperty('cipher')
    expect(after.find((e) => e.seq === edited.seq)).not.toHaveProperty('cipher')

    const plain = unique('plain')
    await alice.ok('invite', { gid: plain, name: 'Plain', members: [bob.iss] })
    expect(await alice.request('message', { gid: plain, body: '', cipher: sent.cipher })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    expect(await alice.request('message', { gid: plain, body: 'hi', cipher: sent.cipher })).toMatchObject({
      code: 'BAD_REQUEST',
    })
    expect(await alice.request('message', { gid: plain, body: 'hi', attachments: [sealed] })).toMatchObject({
      code: 'BAD_REQUEST',
    })
  })

  it('wait, after a member holding keys leaves, for a commit that removes its leaves', async () => {
    const group = await encryptedGroup()
    const { alice, bob, carol, gid } = group
    const { aliceKeys } = await withBob(group)
    const sent = await alice.ok('message', { gid, body: '', cipher: (await cipher(aliceKeys)).cipher })
    // carol holds no leaf: her leaving leaves nothing stale.
    await carol.ok('leave', { gid })
    expect(await alice.ok('roster', { gid })).toMatchObject({ stale: [] })
    await bob.ok('leave', { gid })
    expect(await alice.ok('roster', { gid })).toMatchObject({
      stale: [1],
      leaves: [expect.objectContaining({ leaf: 0 }), { leaf: 1, iss: bob.iss, device: 'b1' }],
      missing: [],
    })
    const now = await cipher(aliceKeys)
    const conflict = await alice.request('message', { gid, body: '', cipher: now.cipher })
    expect(conflict).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/member who left/) })
    expect(
      await alice.request('edit', { gid, jti: sent.jti, body: '', cipher: (await cipher(now.keys)).cipher }),
    ).toMatchObject({ code: 'CONFLICT' })

    const removal = await engine.commit(aliceKeys, { remove: [1] })
    const ack = await alice.ok('commit', { gid, ...parts(removal) })
    expect(await alice.ok('roster', { gid })).toMatchObject({
      epoch: 3,
      stale: [],
      leaves: [{ leaf: 0, iss: alice.iss, device: 'a1' }],
    })
    expect((await alice.ok('history', { gid, after: Number(ack.seq) - 1 })).events).toEqual([
      expect.objectContaining({
        removed: [expect.objectContaining({ leaf: 1, iss: bob.iss, device: 'b1' })],
        added: [],
      }),
    ])
    await alice.ok('message', { gid, body: '', cipher: (await cipher(removal.keys)).cipher })
  })

  it("mark a removed or banned member's leaves stale too", async () => {
    const group = await encryptedGroup()
    const { alice, gid } = group
    const { aliceKeys } = await withBob(group)
    await alice.ok('ban', { gid, iss: group.bob.iss })
    expect(await alice.ok('roster', { gid })).toMatchObject({ stale: [1] })
    const removal = await engine.commit(aliceKeys, { remove: [1] })
    await alice.ok('commit', { gid, ...parts(removal) })
    expect(await alice.ok('roster', { gid })).toMatchObject({ stale: [] })
  })
})
