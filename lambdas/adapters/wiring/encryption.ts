import { DeviceLists } from '../../core/device-lists.js'
import { GroupKeys } from '../../core/group-keys.js'
import { KeyPackages } from '../../core/key-packages.js'
import { DynamoDeviceLists } from '../dynamo/device-lists.js'
import { DynamoKeyPackages } from '../dynamo/key-packages.js'
import { delivery } from './delivery.js'
import { merged } from './merged.js'
import { objects, quotas, uploads } from './objects.js'
import { contextFor, groups, table } from './table.js'

const deviceListStore = new DynamoDeviceLists(table)
const keyPackageStore = new DynamoKeyPackages(table)

/** The key-package directory of encrypted groups. */
export const keyPackages = new KeyPackages({
  ...contextFor(merged(keyPackageStore, deviceListStore, merged(quotas, groups))),
  delivery,
})
/** Commits, refusals and rosters of encrypted groups' keys. */
export const groupKeys = new GroupKeys(
  { ...contextFor(merged(groups, quotas, deviceListStore)), objects, delivery },
  uploads,
)
/** Each identity's signed device lists. */
export const deviceLists = new DeviceLists({
  ...contextFor(merged(deviceListStore, keyPackageStore)),
  delivery,
})
