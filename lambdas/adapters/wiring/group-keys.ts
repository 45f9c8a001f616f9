import { GroupKeys } from '../../core/group-keys.js'
import { delivery } from './delivery.js'
import { deviceListStore } from './encryption.js'
import { merged } from './merged.js'
import { objects, quotas, uploads } from './objects.js'
import { contextFor, groups } from './table.js'

/** Commits, refusals and rosters of encrypted groups' keys: the routes that verify MLS. */
export const groupKeys = new GroupKeys(
  { ...contextFor(merged(groups, quotas, deviceListStore)), objects, delivery },
  uploads,
)
