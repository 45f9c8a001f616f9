import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { groupItems, handshakeStatus, tokenFor, unique, wsUrl } from '../support/huddle.js'

const connect = connector()
describe('the handshake', () => {
  it('refuses a connection without a valid, unexpired token with 401', async () => {
    expect(await handshakeStatus(`${wsUrl()}/`)).toBe(401)
    expect(await handshakeStatus(`${wsUrl()}/?token=not-a-jwt`)).toBe(401)
    const token = await tokenFor('mallory')
    const tampered = `${token.slice(0, -4)}AAAA`
    expect(await handshakeStatus(`${wsUrl()}/?token=${tampered}`)).toBe(401)
    expect(await handshakeStatus(`${wsUrl()}/?token=${await tokenFor('mallory', -60)}`)).toBe(401)
    expect(await handshakeStatus(`${wsUrl()}/?token=${token}`)).toBe(101)
  })
})

describe('membership rules', () => {
  it('keeps an uninvited identity out of an existing group', async () => {
    const [alice, bob, mallory] = await connect(unique('alice'), unique('bob'), unique('mallory'))
    const gid = unique('private')
    await alice.ok('invite', { gid, name: 'Private', members: [bob.iss] })
    await bob.ok('join', { gid })
    const before = await groupItems(gid)

    for (const [action, fields] of [
      ['join', { gid }],
      ['message', { gid, body: 'let me in' }],
      ['leave', { gid }],
      ['invite', { gid, name: 'Hijacked', members: [unique('friend')] }],
    ] as const) {
      const reply = await mallory.request(action, fields)
      expect(reply, action).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    }
    await alice.settle()
    await bob.settle()
    expect(alice.events('chat.message', gid)).toEqual([])
    expect(bob.events('chat.join', gid).map((e) => e.iss)).not.toContain(mallory.iss)
    expect(await groupItems(gid)).toEqual(before)
  })

  it('lets an invited member join but not message before joining', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('pending')
    await alice.ok('invite', { gid, name: 'Pending', members: [bob.iss] })
    expect(await bob.request('message', { gid, body: 'too early' })).toMatchObject({ code: 'FORBIDDEN' })
    expect(await bob.request('invite', { gid, name: 'x', members: [unique('c')] })).toMatchObject({
      code: 'FORBIDDEN',
    })
    await alice.settle()
    expect(alice.events('chat.message', gid)).toEqual([])
    await bob.ok('join', { gid })
    await bob.ok('join', { gid })
    await bob.ok('message', { gid, body: 'now I can' })
  })

  it('takes the sender from the token, never from the frame', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('spoof')
    await alice.ok('invite', { gid, name: 'Spoof', members: [bob.iss] })
    await bob.ok('join', { gid })

    const sent = await bob.ok('message', { gid, body: 'hi', iss: alice.iss, from: alice.iss })
    const received = await alice.nextEvent('chat.message', (e) => e.jti === sent.jti)
    expect(received.iss).toBe(bob.iss)

    const other = unique('group')
    await bob.ok('invite', { gid: other, name: 'Mine', members: [alice.iss], iss: alice.iss })
    const invite = await alice.nextEvent('chat.invite', (e) => e.gid === other)
    expect(invite.iss).toBe(bob.iss)
  })

  it('does not accept another identity’s avatar upload', async () => {
    const [alice, mallory] = await connect(unique('alice'), unique('mallory'))
    const upload = await alice.ok('avatar', { mime: 'image/png', size: 4 })
    const reply = await mallory.request('invite', {
      gid: unique('stolen'),
      name: 'Stolen',
      members: [alice.iss],
      avatar: { key: upload.key },
    })
    expect(reply).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
  })
})

describe('the avatar bucket', () => {
  it('accepts only untampered presigned URLs for exactly the announced upload', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const bytes = Buffer.from('GIF89a-not-really')
    const upload = await alice.ok('avatar', { mime: 'image/gif', size: bytes.length })
    const url = String(upload.url)
    const headers = upload.headers as Record<string, string>

    expect((await fetch(url, { method: 'PUT', headers, body: Buffer.from('other size') })).status).toBe(403)
    expect(
      (
        await fetch(url.replace('X-Amz-Expires=300', 'X-Amz-Expires=9999'), {
          method: 'PUT',
          headers,
          body: bytes,
        })
      ).status,
    ).toBe(403)
    expect((await fetch(url, { method: 'PUT', headers, body: bytes })).status).toBe(200)

    const gid = unique('avatar')
    const invited = await alice.ok('invite', {
      gid,
      name: 'Avatar',
      members: [bob.iss],
      avatar: { key: upload.key },
    })
    const image = (invited.group as { image: { url: string } }).image
    expect((await fetch(image.url)).status).toBe(200)
    const tampered = image.url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_, c) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
    )
    expect((await fetch(tampered)).status).toBe(403)
  })
})
