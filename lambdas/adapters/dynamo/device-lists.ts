import type { DeviceList } from '@huddle/client/protocol'
import type { DeviceListStore } from '../../core/ports.js'
import { keys } from './keys.js'
import { type DynamoTable, isConditionFailure, notExists, PK, SK } from './table.js'

/** One item per version of an identity's device list, each version written once. */
export class DynamoDeviceLists implements DeviceListStore {
  constructor(private readonly table: DynamoTable) {}

  async deviceLists(iss: string): Promise<DeviceList[]> {
    const items = await this.table.query({
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      ExpressionAttributeValues: { ':pk': keys.userMemberships(iss), ':prefix': keys.deviceListPrefix },
      ConsistentRead: true,
    })
    return items.map((item) => item.list as DeviceList)
  }

  async addDeviceList(list: DeviceList): Promise<boolean> {
    try {
      await this.table.db.putItem({
        TableName: this.table.name,
        Item: { ...keys.deviceList(list.iss, list.version), list },
        ConditionExpression: notExists,
      })
      return true
    } catch (error) {
      if (isConditionFailure(error)) return false
      throw error
    }
  }
}
