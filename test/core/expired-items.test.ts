import { PutCommand } from '@aws-sdk/lib-dynamodb'
import { describe, expect, it } from 'vitest'
import { keys } from '../../lambdas/adapters/dynamo/keys.js'
import { tableClient, unique } from '../support/huddle.js'

// DynamoDB's TTL deletes an expired item lazily, typically days late: until then it is still in the table.
// Items are written here with a ttl in the past, as such an item is, and must not be served.

const { db, store, tableName } = tableClient()
const now = Math.floor(Date.now() / 1000)
const past = now - 60
const future = now + 3600

async function put(item: Record<string, unknown>): Promise<void> {
  await db.send(new PutCommand({ TableName: tableName, Item: item }))
}

function message(gid: string, seq: number, ttl: number) {
  const event = {
    type: 'chat.message',
    gid,
    seq,
    jti: `j${seq}`,
    iss: 'alice',
    iat: new Date().toISOString(),
    text: `m${seq}`,
  }
  return { ...keys.event(gid, seq), ...event, ttl }
}

describe('items past their ttl that TTL has not deleted yet', () => {
  it('are not served as events, oldest or newest first, by seq, or as message ids', async () => {
    const gid = unique('expired')
    // The oldest three are past retention; a page limited to two must still reach the live ones.
    for (const seq of [1, 2, 3]) await put(message(gid, seq, past))
    for (const seq of [4, 5]) await put(message(gid, seq, future))
    await put({ ...keys.messageMarker(gid, 'j1'), iss: 'alice', seq: 1, ttl: past })
    await put({ ...keys.messageMarker(gid, 'j4'), iss: 'alice', seq: 4, ttl: future })

    const oldestFirst = await store.readEvents(gid, { after: 0, through: 5, limit: 2, newestFirst: false })
    expect(oldestFirst.map((event) => event.seq)).toEqual([4, 5])
    const newestFirst = await store.readEvents(gid, { after: 0, through: 5, limit: 10, newestFirst: true })
    expect(newestFirst.map((event) => event.seq)).toEqual([5, 4])
    expect((await store.getEvents(gid, [1, 2, 4])).map((event) => event.seq)).toEqual([4])
    expect(await store.findMessage(gid, 'j1')).toBeUndefined()
    expect(await store.findMessage(gid, 'j4')).toMatchObject({ seq: 4 })
  })

  it('are not served as notices of deleted groups', async () => {
    const iss = unique('reader')
    const [old1, old2, recent] = [unique('g'), unique('g'), unique('g')]
    for (const gid of [old1, old2]) {
      await put({ ...keys.deletedGroup(iss, gid), gid, iss: 'owner', iat: '1', ttl: past })
    }
    await put({ ...keys.deletedGroup(iss, recent), gid: recent, iss: 'owner', iat: '2', ttl: future })
    expect((await store.deletedGroupsOf(iss, 10)).map((notice) => notice.gid)).toEqual([recent])
    expect((await store.deletedGroupsOf(iss, 1)).map((notice) => notice.gid)).toEqual([recent])
  })
})
