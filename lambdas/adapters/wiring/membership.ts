import { Membership } from '../../core/membership.js'
import { blocks } from './blocks.js'
import { delivery } from './delivery.js'
import { avatars } from './files.js'
import { merged } from './merged.js'
import { quotas } from './objects.js'
import { contextFor, groups, membershipIndex } from './table.js'

/** Invites, joins, leaves and the reads of an identity's groups. */
export const membership = new Membership(
  { ...contextFor(merged(groups, membershipIndex, quotas)), delivery },
  avatars,
  blocks,
)
