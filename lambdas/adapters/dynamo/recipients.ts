import { ChatError } from '../../core/errors.js'
import type { Group, Recipients } from '../../core/model.js'
import { keys } from './keys.js'
import { isDeleted, toGroup } from './mappers.js'
import { type DynamoTable, type Item, PK, SK, type TransactItem } from './table.js'

/** Joined members a shard takes before the next one opens: with a connection each, about 4 KB. */
const perShard = 100
/** Groups whose shards one function instance keeps; the least recently read are let go first. */
const cachedGroups = 1000
/** Reads of a group made before its recipients are seen at the same membership change (see read). */
const tornReadAttempts = 5
/** The attribute a joined membership keeps its shard in; a departure removes it. */
export const shardAttribute = 'inShard'
/** A shard keeps each joined member's connection ids in an attribute of its own, named with this prefix. */
const connectionsPrefix = '@'

/** One shard as read: its version and its joined members, each with its open connection ids (maybe none). */
interface Shard {
  version: number
  connections: Map<string, string[]>
}

/** A group's recipient index: the membership change it reflects, and each shard's version and size. */
export interface RecipientIndex {
  /** The seq of the latest join or departure it reflects (0 before any). */
  at: number
  versions: Map<number, number>
  sizes: Map<number, number>
}

/** A joined member to place in a shard, with the connections it has now. */
export interface Joiner {
  iss: string
  connections: string[]
}

/**
 * A group's recipients (its joined members and their connections), kept compactly so that a message reads
 * them without reading every membership: in shards of up to `perShard` members beside the group item, and
 * an index item (`RCPT`) holding each shard's version and size and the membership change it reflects.
 *
 * Every join and departure changes its shard and the index in the transaction that takes its seq; every
 * connection opened or closed changes its shards and the index in one transaction too. A reader checks the
 * index against the group item it read beside it (`at` is the seq of the group's latest join or departure),
 * then reads only the shards whose version it does not hold yet, eventually consistently, and again
 * consistently the ones such a read served older than the index; the shards it read are kept per function
 * instance.
 */
export class DynamoRecipients {
  /** Each group's shards this instance read, with the group's creation time: a gid taken again after a
   * purge names a new group, whose shards count their versions from the start again. */
  private readonly cache = new Map<string, { createdAt: string; shards: Map<number, Shard> }>()

  constructor(private readonly table: DynamoTable) {}

  /** The group and its joined members' connections as of its head; undefined when there is no such group. */
  async read(gid: string): Promise<Recipients | undefined> {
    for (let attempt = 1; attempt <= tornReadAttempts; attempt++) {
      const items = await this.table.batchGet([keys.group(gid), keys.recipients(gid)])
      const meta = items.find((item) => item[SK] === keys.group(gid)[SK])
      if (meta === undefined || isDeleted(meta)) return undefined
      const group = toGroup(meta)
      const index = toIndex(items.find((item) => item[SK] === keys.recipients(gid)[SK]))
      if (index.at === membershipSeq(group)) return { group, connections: await this.shards(group, index) }
    }
    throw new ChatError('CONFLICT', `${gid}: its members changed too often meanwhile; retry`)
  }

  /** The index, read consistently, for a join to choose its shard. */
  async index(gid: string): Promise<RecipientIndex> {
    const { Item } = await this.table.db.getItem({
      TableName: this.table.name,
      Key: keys.recipients(gid),
      ConsistentRead: true,
    })
    return toIndex(Item)
  }

  /** The shard `iss` is in, in each of the groups `gids` it is joined to, read consistently. */
  async shardsOf(iss: string, gids: string[]): Promise<Map<string, number>> {
    const memberships = await this.table.batchGet(
      gids.map((gid) => keys.member(gid, iss)),
      `gid, ${shardAttribute}`,
    )
    const shards = new Map<string, number>()
    for (const item of memberships) {
      const shard = item[shardAttribute]
      if (typeof shard === 'number') shards.set(String(item.gid), shard)
    }
    return shards
  }

  /**
   * What places joined members in shards, for the transaction that makes them joined at seq `at`: each in
   * the lowest shard with room, and the shard each went to (which its membership keeps).
   */
  place(gid: string, index: RecipientIndex, at: number, joiners: Joiner[]) {
    const sizes = new Map(index.sizes)
    const placed = new Map<number, Joiner[]>()
    const shardOf = new Map<string, number>()
    for (const joiner of joiners) {
      let shard = 0
      while ((sizes.get(shard) ?? 0) >= perShard) shard++
      sizes.set(shard, (sizes.get(shard) ?? 0) + 1)
      placed.set(shard, [...(placed.get(shard) ?? []), joiner])
      shardOf.set(joiner.iss, shard)
    }
    const items = [...placed].map(([shard, members]): TransactItem => {
      const names: Record<string, string> = { '#joined': 'joined', '#v': 'v' }
      const values: Record<string, unknown> = { ':isses': new Set(members.map((m) => m.iss)), ':one': 1 }
      const sets = members.flatMap(({ iss, connections }, i) => {
        if (connections.length === 0) return []
        names[`#c${i}`] = connectionsPrefix + iss
        values[`:c${i}`] = new Set(connections)
        return [`#c${i} = :c${i}`]
      })
      return this.update(keys.recipientShard(gid, shard), {
        UpdateExpression: `${sets.length > 0 ? `SET ${sets.join(', ')} ` : ''}ADD #joined :isses, #v :one`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      })
    })
    const counts = [...placed].map(([shard, members]) => [shard, members.length] as const)
    items.push(this.moveIndex(gid, at, counts))
    return { items, shardOf }
  }

  /** What takes a joined member out of its shard, for the transaction that makes it depart at seq `at`. */
  remove(gid: string, at: number, iss: string, shard: number): TransactItem[] {
    return [
      this.update(keys.recipientShard(gid, shard), {
        UpdateExpression: 'DELETE #joined :iss REMOVE #c ADD #v :one',
        ExpressionAttributeNames: { '#joined': 'joined', '#c': connectionsPrefix + iss, '#v': 'v' },
        ExpressionAttributeValues: { ':iss': new Set([iss]), ':one': 1 },
      }),
      this.moveIndex(gid, at, [[shard, -1]]),
    ]
  }

  /** What records a membership change that leaves every shard as it is (a declined invite, a ban of an invitee). */
  unchanged(gid: string, at: number): TransactItem {
    return this.moveIndex(gid, at, [])
  }

  /**
   * Adds or removes one of `iss`'s connections in its shard of group `gid`, with the shard's version in the
   * index, in one transaction; nothing when it is no longer joined there (it left, or joined again elsewhere,
   * copying its connections as they were then).
   */
  async copyConnection(
    gid: string,
    iss: string,
    shard: number,
    verb: 'ADD' | 'DELETE',
    connectionId: string,
  ): Promise<void> {
    await this.table.transact([
      this.update(keys.recipientShard(gid, shard), {
        UpdateExpression: verb === 'ADD' ? 'ADD #c :id, #v :one' : 'DELETE #c :id ADD #v :one',
        ConditionExpression: 'contains(#joined, :iss)',
        ExpressionAttributeNames: { '#joined': 'joined', '#c': connectionsPrefix + iss, '#v': 'v' },
        ExpressionAttributeValues: { ':id': new Set([connectionId]), ':iss': iss, ':one': 1 },
      }),
      this.update(keys.recipients(gid), {
        UpdateExpression: 'ADD #v :one',
        ConditionExpression: `attribute_exists(${PK})`,
        ExpressionAttributeNames: { '#v': `v${shard}` },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    ])
  }

  /** The shards the index names, from this instance's cache where it holds their version. */
  private async shards({ gid, createdAt }: Group, index: RecipientIndex): Promise<Map<string, string[]>> {
    const cached = this.cache.get(gid)
    const held = cached?.createdAt === createdAt ? cached.shards : new Map<number, Shard>()
    const behind = () => [...index.versions].filter(([shard, v]) => (held.get(shard)?.version ?? -1) < v)
    // An eventually consistent read costs half, and serves a shard as the index names it most of the time.
    for (const consistent of [false, true]) {
      const missing = behind()
      if (missing.length === 0) break
      const items = await this.table.batchGet(
        missing.map(([shard]) => keys.recipientShard(gid, shard)),
        undefined,
        consistent,
      )
      for (const item of items) {
        const shard = Number(String(item[SK]).slice('RCPT#'.length))
        const read = toShard(item)
        if (read.version >= (held.get(shard)?.version ?? -1)) held.set(shard, read)
      }
    }
    if (behind().length > 0) throw new Error(`${gid}: a recipient shard reads older than its index`)
    for (const shard of held.keys()) if (!index.versions.has(shard)) held.delete(shard)
    this.cache.delete(gid)
    this.cache.set(gid, { createdAt, shards: held })
    if (this.cache.size > cachedGroups) this.cache.delete(this.cache.keys().next().value as string)
    const connections = new Map<string, string[]>()
    for (const shard of held.values()) for (const [iss, ids] of shard.connections) connections.set(iss, ids)
    return connections
  }

  private moveIndex(gid: string, at: number, counts: (readonly [number, number])[]): TransactItem {
    const names: Record<string, string> = { '#at': 'at' }
    const values: Record<string, unknown> = { ':at': at }
    const adds = counts.flatMap(([shard, count], i) => {
      names[`#v${i}`] = `v${shard}`
      names[`#n${i}`] = `n${shard}`
      values[`:n${i}`] = count
      values[':one'] = 1
      return [`#v${i} :one`, `#n${i} :n${i}`]
    })
    return this.update(keys.recipients(gid), {
      UpdateExpression: `SET #at = :at${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    })
  }

  private update(Key: Item, update: Omit<NonNullable<TransactItem['Update']>, 'TableName' | 'Key'>) {
    return { Update: { TableName: this.table.name, Key, ...update } }
  }
}

/** The seq of a group's latest join or departure: what its recipient index must reflect. */
function membershipSeq(group: Group): number {
  return Math.max(group.arrivedSeq ?? 0, group.departedSeq)
}

function toIndex(item: Item | undefined): RecipientIndex {
  const index: RecipientIndex = { at: Number(item?.at ?? 0), versions: new Map(), sizes: new Map() }
  for (const [name, value] of Object.entries(item ?? {})) {
    const shard = Number(name.slice(1))
    if (!/^[vn]\d+$/.test(name)) continue
    ;(name[0] === 'v' ? index.versions : index.sizes).set(shard, Number(value))
  }
  return index
}

function toShard(item: Item): Shard {
  const joined = item.joined instanceof Set ? [...item.joined].map(String) : []
  const connections = new Map<string, string[]>()
  for (const iss of joined) {
    const ids = item[connectionsPrefix + iss]
    connections.set(iss, ids instanceof Set ? [...ids].map(String) : [])
  }
  return { version: Number(item.v ?? 0), connections }
}
