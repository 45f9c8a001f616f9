import { errorReply, lambda, reply } from '../adapters/handler.js'
import { ChatError } from '../core/errors.js'
import { parseFrameText, requestId } from '../core/frames.js'
import { routes } from '../routes.js'

const actions = routes.filter((r) => !r.routeKey.startsWith('$')).map((r) => r.routeKey)

/** $default: frames that are not JSON or name no known action get one BAD_REQUEST, and the connection stays. */
export const handler = lambda(async (event) => {
  let id: string | undefined
  try {
    if (event.isBase64Encoded) throw new ChatError('BAD_REQUEST', 'frames must be JSON text, not binary')
    const frame = parseFrameText(event.body)
    id = requestId(frame)
    const action = typeof frame.action === 'string' ? JSON.stringify(frame.action) : 'missing'
    throw new ChatError('BAD_REQUEST', `unknown action ${action}; expected one of ${actions.join(', ')}`)
  } catch (error) {
    return reply(errorReply(error, id))
  }
})
