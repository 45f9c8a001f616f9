import { actionHandler } from '../adapters/action-handler.js'
import { reactions } from '../adapters/wiring/reactions.js'

/** The `react` route: a member adds an emoji reaction to a message, or takes it back. */
export const handler = actionHandler('react', (caller, frame) => reactions.react(caller, frame))
