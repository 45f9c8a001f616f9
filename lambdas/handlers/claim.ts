import { actionHandler, chat } from '../adapters/handler.js'

/** The `claim` route: hands a member one key package of each device of a member, to add it to the keys. */
export const handler = actionHandler('claim', (caller, frame) => chat.keyPackages.claim(caller, frame))
