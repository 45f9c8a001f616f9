import { limits } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { connector } from '../support/clients.js'
import { groupItems, unique } from '../support/huddle.js'

const connect = connector()

describe('bad input', () => {
  it('answers each malformed frame with one error, keeps the connection and changes nothing', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const gid = unique('guarded')
    await alice.ok('invite', { gid, name: 'Guarded', members: [bob.iss] })
    await bob.ok('join', { gid })
    const before = await groupItems(gid)
    const repliesBefore = alice.frames.length

    const cases: [string | Buffer, string][] = [
      ['not json at all', 'BAD_REQUEST'],
      ['[1,2,3]', 'BAD_REQUEST'],
      ['null', 'BAD_REQUEST'],
      [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'nope', id: 'a' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 42, id: 'b' }), 'BAD_REQUEST'],
      [JSON.stringify({ id: 'c', gid }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'join', id: 'd' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'message', id: 'e', gid, body: 42 }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'message', id: 'f', gid, body: '' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'message', id: 'g', gid: 'has space', body: 'x' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'message', id: 'h', gid: 'g'.repeat(129), body: 'x' }), 'BAD_REQUEST'],
      [
        JSON.stringify({ action: 'message', id: 'i', gid, body: 'x'.repeat(limits.bodyBytes + 1) }),
        'TOO_LARGE',
      ],
      [
        JSON.stringify({ action: 'message', id: 'j', gid, body: 'é'.repeat(limits.bodyBytes / 2 + 1) }),
        'TOO_LARGE',
      ],
      [JSON.stringify({ action: 'message', id: 'x'.repeat(65), gid, body: 'x' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'invite', id: 'k', gid, name: 'n', members: 'bob' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'invite', id: 'l', gid, name: '', members: [bob.iss] }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'invite', id: 'm', gid, name: 'n', members: [alice.iss] }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'invite', id: 'n', gid, name: 'n', members: ['bad name'] }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'avatar', id: 'o', mime: 'text/html', size: 10 }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'avatar', id: 'p', mime: 'image/png', size: -1 }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'avatar', id: 'q', mime: 'image/png', size: 6 * 1024 * 1024 }), 'TOO_LARGE'],
      [
        JSON.stringify({
          action: 'invite',
          id: 'r',
          gid: unique('g'),
          name: 'n',
          members: [bob.iss],
          avatar: { key: `uploads/${alice.iss}/00000000-0000-4000-8000-000000000000` },
        }),
        'NOT_FOUND',
      ],
      [JSON.stringify({ action: 'join', id: 's', gid: unique('nowhere') }), 'NOT_FOUND'],
      [JSON.stringify({ action: 'react', id: 'v', gid, target: 1 }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'react', id: 'w', gid, target: 1, emoji: '🎉'.repeat(9) }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'react', id: 'y', gid, target: 1.5, emoji: '🎉' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'react', id: 'z', gid, target: 1, emoji: '🎉' }), 'NOT_FOUND'],
      [JSON.stringify({ action: 'typing', id: 't' }), 'BAD_REQUEST'],
      [JSON.stringify({ action: 'typing', id: 'u', gid: unique('nowhere') }), 'NOT_FOUND'],
    ]
    for (const [frame, code] of cases) {
      const reply = await alice.sendRaw(frame)
      expect(reply, String(frame).slice(0, 80)).toMatchObject({ type: 'error', code })
      expect(typeof reply.message).toBe('string')
    }

    expect(await groupItems(gid)).toEqual(before)
    await alice.ok('message', { gid, body: 'still connected' })
    await alice.settle()
    const replies = alice.frames
      .slice(repliesBefore)
      .filter((f) => (f as { type: string }).type !== 'chat.join')
    // One reply per malformed frame, plus the message's ack and the settle round trip.
    expect(replies).toHaveLength(cases.length + 2)
    await bob.settle()
    expect(bob.events('chat.message', gid).map((e) => e.body)).toEqual(['still connected'])
  })

  it('closes the connection with 1009 on a frame over 32,000 bytes, as API Gateway does', async () => {
    const [alice] = await connect(unique('alice'))
    const frameOf = (bytes: number) => {
      const frame = JSON.stringify({ action: 'message', id: 'at-limit', gid: 'g', body: '' })
      return JSON.stringify({
        action: 'message',
        id: 'at-limit',
        gid: 'g',
        body: 'x'.repeat(bytes - frame.length),
      })
    }
    // A frame of exactly the limit is read (its body is too long for a message), and the connection stays.
    expect(Buffer.byteLength(frameOf(limits.frameBytes))).toBe(limits.frameBytes)
    expect(await alice.sendRaw(frameOf(limits.frameBytes))).toMatchObject({
      type: 'error',
      code: 'TOO_LARGE',
    })

    const closed = alice.closed()
    alice.socket.send(frameOf(limits.frameBytes + 1))
    expect((await closed).code).toBe(1009)
  })
})
