import { Administration } from '../../core/administration.js'
import { delivery } from './delivery.js'
import { avatars } from './files.js'
import { membership } from './membership.js'
import { uploads } from './objects.js'
import { contextFor, groups } from './table.js'

/** What admins do: remove, ban, roles, updates, deleting a group. */
export const administration = new Administration(
  { ...contextFor(groups), delivery },
  membership,
  avatars,
  uploads,
)
