import { actionHandler, chat } from '../adapters/handler.js'

/** The `roster` route: which devices hold an encrypted group's keys, as the server knows it. */
export const handler = actionHandler('roster', (caller, frame) => chat.groupKeys.roster(caller, frame))
