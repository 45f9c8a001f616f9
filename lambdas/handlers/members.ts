import { actionHandler } from '../adapters/action-handler.js'
import { membership } from '../adapters/wiring/membership.js'

/** The `members` route: a page of a group's members. */
export const handler = actionHandler('members', (caller, frame) => membership.members(caller, frame))
