import { actionHandler } from '../adapters/action-handler.js'
import { typing } from '../adapters/wiring/typing.js'

/** The `typing` route: tells the group's other joined members that the caller is typing, storing nothing. */
export const handler = actionHandler('typing', (caller, frame) => typing.typing(caller, frame))
