import { actionHandler } from '../adapters/action-handler.js'
import { membership } from '../adapters/wiring/membership.js'

/** The `groups` route: the caller's groups with members and unread counts. */
export const handler = actionHandler('groups', (caller, frame) => membership.groups(caller, frame))
