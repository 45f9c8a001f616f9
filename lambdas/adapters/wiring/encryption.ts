import { DynamoDeviceLists } from '../dynamo/device-lists.js'
import { DynamoKeyPackages } from '../dynamo/key-packages.js'
import { table } from './table.js'

/** Each identity's signed device lists. */
export const deviceListStore = new DynamoDeviceLists(table)
/** Each device's published key packages. */
export const keyPackageStore = new DynamoKeyPackages(table)
