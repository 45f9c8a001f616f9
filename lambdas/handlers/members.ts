import { actionHandler, chat } from '../adapters/handler.js'

/** The `members` route: a page of a group's members. */
export const handler = actionHandler('members', (caller, frame) => chat.membership.members(caller, frame))
