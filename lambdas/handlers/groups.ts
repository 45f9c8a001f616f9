import { actionHandler, chat } from '../adapters/handler.js'

/** The `groups` route: the caller's groups with members and unread counts. */
export const handler = actionHandler('groups', (caller, frame) => chat.membership.groups(caller, frame))
