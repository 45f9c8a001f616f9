import { actionHandler } from '../adapters/action-handler.js'
import { keyPackages } from '../adapters/wiring/key-packages.js'

/** The `claim` route: hands a member one key package of each device of a member, to add it to the keys. */
export const handler = actionHandler('claim', (caller, frame) => keyPackages.claim(caller, frame))
