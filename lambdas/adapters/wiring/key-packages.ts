import { DeviceLists } from '../../core/device-lists.js'
import { KeyPackages } from '../../core/key-packages.js'
import { DynamoQuotas } from '../dynamo/quotas.js'
import { delivery } from './delivery.js'
import { deviceListStore, keyPackageStore } from './encryption.js'
import { merged } from './merged.js'
import { contextFor, groups, table } from './table.js'

/** The key-package directory of encrypted groups. */
export const keyPackages = new KeyPackages({
  ...contextFor(merged(keyPackageStore, deviceListStore, merged(new DynamoQuotas(table), groups))),
  delivery,
})
/** Each identity's signed device lists and the vouches that change them. */
export const deviceLists = new DeviceLists({
  ...contextFor(merged(deviceListStore, keyPackageStore)),
  delivery,
})
