import { describe, expect, it } from 'vitest'
import { sequentialRoundTrips } from '../../bench/dynamo-counter.js'
import { keys } from '../../lambdas/adapters/dynamo/keys.js'
import { forEachLimited } from '../../lambdas/core/concurrency.js'
import { ChatError } from '../../lambdas/core/errors.js'
import { parseFrameText, requestId, validateFrame } from '../../lambdas/core/frames.js'

describe('keys', () => {
  it('puts a group, its members and its messages in one partition, sorted apart', () => {
    expect(keys.group('g1')).toEqual({ PK: 'GROUP#g1', SK: 'META' })
    expect(keys.member('g1', 'bob')).toEqual({ PK: 'GROUP#g1', SK: 'MEMBER#bob' })
    expect(keys.event('g1', 42)).toEqual({ PK: 'GROUP#g1', SK: 'E#000000000042' })
    expect(keys.messageMarker('g1', 'j1')).toEqual({ PK: 'GROUP#g1', SK: 'JTI#j1' })
    expect(keys.member('g1', 'bob').SK.startsWith(keys.memberPrefix)).toBe(true)
  })

  it('sorts events by seq, and memberships right before the group item, so one query reads both', () => {
    const sorted = [9, 10, 100, 99999].map((seq) => keys.event('g', seq).SK)
    expect([...sorted].sort()).toEqual(sorted)
    const members = ['a', 'zz', 'Z', '0', '@', 'user.name:x'].map((iss) => keys.member('g', iss).SK)
    for (const sk of members) expect(keys.memberPrefix <= sk && sk < keys.group('g').SK).toBe(true)
    expect(keys.messageMarker('g', 'x').SK < keys.memberPrefix).toBe(true)
    expect(keys.event('g', 1).SK < keys.memberPrefix).toBe(true)
  })

  it('indexes memberships by user and keeps connections per user', () => {
    expect(keys.memberOfUser('g1', 'bob')).toEqual({ GSI1PK: 'USER#bob', GSI1SK: 'GROUP#g1' })
    expect(keys.userMemberships('bob')).toBe('USER#bob')
    expect(keys.userConnections('bob')).toEqual({ PK: 'USER#bob', SK: 'CONNS' })
    expect(keys.connection('abc=')).toEqual({ PK: 'CONN#abc=', SK: 'META' })
  })
})

describe('frames', () => {
  const badRequest = (run: () => unknown) => {
    try {
      run()
    } catch (error) {
      return error instanceof ChatError && error.code === 'BAD_REQUEST' ? error.message : `other: ${error}`
    }
    return 'no error'
  }

  it('accepts valid frames and drops fields that try to set the sender', () => {
    const frame = parseFrameText(
      JSON.stringify({ action: 'message', gid: 'g.1', body: 'hi', iss: 'mallory' }),
    )
    expect(validateFrame('message', frame)).toEqual({ gid: 'g.1', body: 'hi' })
  })

  it('refuses non-objects, wrong types and bad identities with a message naming the field', () => {
    expect(badRequest(() => parseFrameText('nope'))).toBe('frame is not JSON')
    expect(badRequest(() => parseFrameText('[]'))).toBe('frame must be a JSON object')
    expect(badRequest(() => validateFrame('join', { gid: 'a b' }))).toMatch(/^join: gid must be/)
    expect(badRequest(() => validateFrame('invite', { gid: 'g', name: 'n', members: [] }))).toMatch(/members/)
    expect(badRequest(() => validateFrame('avatar', { mime: 'image/svg+xml', size: 1 }))).toMatch(/mime/)
    expect(badRequest(() => validateFrame('join', { gid: 'g', id: 7 }))).toMatch(/id must be/)
  })

  it('echoes only usable request ids', () => {
    expect(requestId({ id: 'abc' })).toBe('abc')
    expect(requestId({ id: 'x'.repeat(65) })).toBeUndefined()
    expect(requestId({ id: 1 })).toBeUndefined()
    expect(requestId(null)).toBeUndefined()
  })
})

describe('forEachLimited', () => {
  it('runs every item with no more than the limit in flight', async () => {
    let inFlight = 0
    let peak = 0
    const seen: number[] = []
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 1))
      seen.push(n)
      inFlight--
    })
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(peak).toBe(3)
  })
})

describe('sequentialRoundTrips', () => {
  it('counts calls that overlap as one round trip, and only those that started before the first post', () => {
    const spans = [
      { start: 0, end: 5 },
      { start: 1, end: 3 }, // beside the first
      { start: 5, end: 9 }, // after both
      { start: 10, end: 12 }, // after the first post
    ]
    expect(sequentialRoundTrips(spans, 10)).toBe(2)
    expect(sequentialRoundTrips(spans)).toBe(3)
    expect(sequentialRoundTrips([...spans].reverse(), 10)).toBe(2)
    expect(sequentialRoundTrips([])).toBe(0)
  })
})
