import type { KeyPackageRef } from '../../core/model.js'
import type { KeyPackageStore } from '../../core/ports.js'
import { keys } from './keys.js'
import { type DynamoTable, isConditionFailure, PK, SK, TTL } from './table.js'

/** One item per published key package under its identity, deleted as it is handed out. */
export class DynamoKeyPackages implements KeyPackageStore {
  constructor(private readonly table: DynamoTable) {}

  async keyPackageRefs(iss: string, at: Date, device?: string): Promise<KeyPackageRef[]> {
    const items = await this.table.query({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK, '#ttl': TTL, '#key': 'key' },
      ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':prefix': keys.keyPackagesOf(device) },
      ProjectionExpression: '#sk, #ttl, #key',
      ConsistentRead: true,
    })
    // DynamoDB deletes expired items lazily.
    const now = at.getTime() / 1000
    return items.flatMap((item) => {
      if (Number(item[TTL]) <= now) return []
      const [device, ref] = String(item[SK]).slice(keys.keyPackagesOf().length).split('#')
      return device && ref ? [{ device, ref, key: String(item.key) }] : []
    })
  }

  async addKeyPackages(
    iss: string,
    device: string,
    key: string,
    packages: { ref: string; keyPackage: string; expiresAt: number }[],
  ): Promise<void> {
    await this.table.db.transactWriteItems({
      TransactItems: packages.map(({ ref, keyPackage, expiresAt }) => ({
        Put: {
          TableName: this.table.name,
          Item: { ...keys.keyPackage(iss, device, ref), keyPackage, key, [TTL]: expiresAt },
        },
      })),
    })
  }

  async takeKeyPackage(iss: string, { device, ref }: KeyPackageRef, at: Date): Promise<string | undefined> {
    try {
      const { Attributes } = await this.table.db.deleteItem({
        TableName: this.table.name,
        Key: keys.keyPackage(iss, device, ref),
        ConditionExpression: 'attribute_exists(#pk) AND #ttl > :now',
        ExpressionAttributeNames: { '#pk': PK, '#ttl': TTL },
        ExpressionAttributeValues: { ':now': Math.floor(at.getTime() / 1000) },
        ReturnValues: 'ALL_OLD',
      })
      return typeof Attributes?.keyPackage === 'string' ? Attributes.keyPackage : undefined
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
  }
}
