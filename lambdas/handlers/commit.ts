import { actionHandler, chat } from '../adapters/handler.js'

/** The `commit` route: appends a change of an encrypted group's keys and posts it to the joined members. */
export const handler = actionHandler('commit', (caller, frame) => chat.groupKeys.commit(caller, frame))
