import type { Block } from '../../core/model.js'
import type { BlockStore } from '../../core/ports.js'
import { keys } from './keys.js'
import { type DynamoTable, PK, SK } from './table.js'

/**
 * One item per block under the blocker's identity, so that one query pages them and one batch finds pairs;
 * read consistently, so that a block holds from the moment it is answered.
 */
export class DynamoBlocks implements BlockStore {
  constructor(private readonly table: DynamoTable) {}

  async setBlock({ blocker, iss }: Block, blocked: boolean): Promise<void> {
    const Key = keys.block(blocker, iss)
    if (blocked) await this.table.db.putItem({ TableName: this.table.name, Item: { ...Key, iss } })
    else await this.table.db.deleteItem({ TableName: this.table.name, Key })
  }

  async findBlocks(pairs: Block[]): Promise<Block[]> {
    if (pairs.length === 0) return []
    const found = await this.table.batchGet(pairs.map(({ blocker, iss }) => keys.block(blocker, iss)))
    const existing = new Set(found.map((item) => `${item[PK]}\n${item[SK]}`))
    return pairs.filter(({ blocker, iss }) => {
      const key = keys.block(blocker, iss)
      return existing.has(`${key[PK]}\n${key[SK]}`)
    })
  }

  async blocksOf(blocker: string, page: { after?: string; limit: number }): Promise<string[]> {
    const { [PK]: pk } = keys.block(blocker, '')
    const { Items = [] } = await this.table.db.query({
      TableName: this.table.name,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :after AND :last',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: {
        ':pk': pk,
        // Past `after` itself: its key with one more character; BLOCK#\uffff sorts after every block.
        ':after': `${keys.blockPrefix}${page.after === undefined ? '' : `${page.after}\u0000`}`,
        ':last': `${keys.blockPrefix}\uffff`,
      },
      Limit: page.limit,
      ConsistentRead: true,
    })
    return Items.map((item) => String(item.iss))
  }
}
