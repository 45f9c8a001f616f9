import { describe, expect, it } from 'vitest'
import type { Connection } from '../../packages/client/src/connection.js'
import { type Presence, PresenceBook } from '../../packages/client/src/presence.js'

/** A book whose `presence` requests answer `members`, and what it reported. */
function bookAnswering(members: Presence[]) {
  const request = (async () => ({ gid: 'g', shared: true, members })) as unknown as Connection['request']
  const book = new PresenceBook(request, (error) => {
    throw error
  })
  const reported: Presence[] = []
  book.changes.add((presence) => {
    reported.push(presence)
  })
  return { book, reported }
}

describe('the SDK’s presence book', () => {
  it('reports each member a read finds new or changed, a hidden one included, and nothing unchanged', async () => {
    const members = [{ iss: 'alice', online: true }, { iss: 'bob' }]
    const { book, reported } = bookAnswering(members)
    expect(await book.read('g')).toEqual(members)
    expect(reported).toEqual(members)
    await book.read('g')
    expect(reported).toEqual(members)
    expect(book.of('bob')).toEqual({ iss: 'bob' })
  })

  it('keeps the newest of events and reads, whatever order they come in', async () => {
    const { book, reported } = bookAnswering([{ iss: 'alice', online: true }])
    const later = new Date(Date.now() + 60_000).toISOString()
    book.received({ type: 'chat.presence', iss: 'alice', online: false, lastSeen: later, at: later })
    // A read answered before that event changes nothing.
    await book.read('g')
    const earlier = new Date(Date.now() - 60_000).toISOString()
    book.received({ type: 'chat.presence', iss: 'alice', online: true, at: earlier })
    expect(book.of('alice')).toEqual({ iss: 'alice', online: false, lastSeen: later })
    expect(reported).toEqual([{ iss: 'alice', online: false, lastSeen: later }])
  })
})
