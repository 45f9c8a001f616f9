import { Administration } from '../../core/administration.js'
import { envNames } from '../env-names.js'
import { lazily, requiredEnv } from '../environment.js'
import { delivery } from './delivery.js'
import { avatars } from './files.js'
import { groupPurge } from './group-purge.js'
import { membership } from './membership.js'
import { contextFor, groups } from './table.js'

/** What admins do: remove, ban, roles, updates, deleting a group (whose purge goes to the purge worker). */
export const administration = new Administration(
  { ...contextFor(groups), delivery },
  membership,
  avatars,
  lazily(() => groupPurge(requiredEnv(envNames.purgeFunction))),
)
