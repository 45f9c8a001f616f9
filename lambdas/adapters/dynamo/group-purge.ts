import { forEachLimited } from '../../core/concurrency.js'
import type { DeletionMark, GroupPurges, PurgePage } from '../../core/ports.js'
import type { DynamoConnections } from './connections.js'
import { keys } from './keys.js'
import { isDeleted } from './mappers.js'
import { type DynamoTable, type Item, isConditionFailure, PK, SK, TTL } from './table.js'

/** How long a deleted group's mark stays after its purge, and its members' notices of the deletion. */
const markSeconds = 24 * 60 * 60
const noticeSeconds = 30 * 24 * 60 * 60
/** Writes in flight at once: one partition takes about 1,000 a second, and each takes a few milliseconds. */
const writeConcurrency = 25

/**
 * A deleted group's purge over the table: its mark (the group item, kept a day) holds the purge's lease, and
 * the partition is read a page at a time (Query with Limit and ExclusiveStartKey, consistently: an eventual
 * read could miss an item written a moment before, and leave it behind).
 */
export class DynamoGroupPurges implements GroupPurges {
  constructor(
    private readonly table: DynamoTable,
    /** A joined member's set of joined groups loses the group. */
    private readonly connections: DynamoConnections,
  ) {}

  async deletionMark(gid: string): Promise<DeletionMark | undefined> {
    const { Item } = await this.table.db.getItem({
      TableName: this.table.name,
      Key: keys.group(gid),
      ConsistentRead: true,
    })
    return Item && isDeleted(Item) ? toMark(gid, Item) : undefined
  }

  async leaveNotices(mark: Pick<DeletionMark, 'gid' | 'by' | 'at'>, isses: string[]): Promise<void> {
    const expires = Math.ceil(Date.now() / 1000) + noticeSeconds
    await forEachLimited(isses, writeConcurrency, async (iss) => {
      const notice = { ...keys.deletedGroup(iss, mark.gid), gid: mark.gid, iss: mark.by, iat: mark.at }
      await this.table.db.putItem({ TableName: this.table.name, Item: { ...notice, [TTL]: expires } })
    })
  }

  async claimPurge(
    gid: string,
    run: string,
    now: number,
    leaseUntil: number,
  ): Promise<DeletionMark | undefined> {
    try {
      const { Attributes } = await this.table.db.updateItem({
        TableName: this.table.name,
        Key: keys.group(gid),
        UpdateExpression: 'SET purgeRun = :run, purgeUntil = :until',
        ConditionExpression:
          'deleted = :yes AND attribute_not_exists(purged) AND ' +
          '(attribute_not_exists(purgeUntil) OR purgeUntil < :now OR purgeRun = :run)',
        ExpressionAttributeValues: { ':yes': true, ':run': run, ':until': leaseUntil, ':now': now },
        ReturnValues: 'ALL_NEW',
      })
      return Attributes && toMark(gid, Attributes)
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
  }

  async readPurgePage(gid: string, limit: number, after?: string, memberships = false): Promise<PurgePage> {
    const pk = keys.group(gid)[PK]
    const page = await this.table.db.query({
      TableName: this.table.name,
      KeyConditionExpression: memberships ? '#pk = :pk AND begins_with(#sk, :member)' : '#pk = :pk',
      ExpressionAttributeNames: {
        '#pk': PK,
        '#sk': SK,
        '#status': 'status',
        '#commit': 'commit',
        '#welcome': 'welcome',
        '#info': 'info',
      },
      ExpressionAttributeValues: { ':pk': pk, ...(memberships && { ':member': keys.memberPrefix }) },
      ProjectionExpression:
        '#pk, #sk, iss, #status, avatarKey, avatar, attachments, #commit, #welcome, #info',
      ConsistentRead: true,
      Limit: limit,
      ...(after !== undefined && { ExclusiveStartKey: { [PK]: pk, [SK]: after } }),
    })
    // The mark stays; every other item goes, whatever its kind (a recipient's, a claim's…).
    const items = page.Items.filter((item) => item[SK] !== keys.group(gid)[SK])
    const next = page.LastEvaluatedKey?.[SK]
    return {
      gid,
      items: items.map((item) => String(item[SK])),
      objects: [...new Set(items.flatMap(objectsNamed))],
      joined: items.filter((item) => item.status === 'joined').map((item) => String(item.iss)),
      present: items
        .filter((item) => item.status === 'joined' || item.status === 'invited')
        .map((item) => String(item.iss)),
      ...(typeof next === 'string' && { next }),
    }
  }

  async releaseMembers(mark: DeletionMark, page: PurgePage): Promise<void> {
    await forEachLimited(page.joined, writeConcurrency, async (iss) => {
      await this.table.db.updateItem(this.connections.leftUpdate(mark.gid, iss))
    })
    // Members away when it was deleted learn of it from their next sync.
    await this.leaveNotices(mark, page.present)
  }

  async removePurgePage(page: PurgePage): Promise<void> {
    // One DeleteItem each, many at once: the same write units as a batch, and no grant beyond readWrite.
    const pk = keys.group(page.gid)[PK]
    await forEachLimited(page.items, writeConcurrency, async (sk) => {
      await this.table.db.deleteItem({ TableName: this.table.name, Key: { [PK]: pk, [SK]: sk } })
    })
  }

  async endPurge(gid: string, run: string): Promise<boolean> {
    try {
      await this.table.db.updateItem({
        TableName: this.table.name,
        Key: keys.group(gid),
        // The mark no longer names the avatar the purge deleted.
        UpdateExpression: 'SET purged = :yes, #ttl = :ttl REMOVE purgeRun, purgeUntil, avatarKey, avatarMime',
        ConditionExpression: 'deleted = :yes AND purgeRun = :run',
        ExpressionAttributeNames: { '#ttl': TTL },
        ExpressionAttributeValues: {
          ':yes': true,
          ':run': run,
          ':ttl': Math.ceil(Date.now() / 1000) + markSeconds,
        },
      })
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }
}

function toMark(gid: string, item: Item): DeletionMark {
  return {
    gid,
    by: String(item.deletedBy),
    at: String(item.deletedAt),
    objects: objectsNamed(item),
    purged: item.purged === true,
  }
}

/** The objects an item names: a group's avatar, every earlier one its updates name, a message's files and a
 * commit's parts (the roster's info is its last commit's). */
function objectsNamed(item: Item): string[] {
  const files = (item.attachments as { key?: unknown }[] | undefined) ?? []
  const named = [item.avatar, item.commit, item.welcome, item.info] as ({ key?: unknown } | undefined)[]
  const found = [item.avatarKey, ...named.map((object) => object?.key), ...files.map((f) => f.key)]
  return found.filter((key): key is string => typeof key === 'string')
}
