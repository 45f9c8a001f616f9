import type { ServerFrame } from './protocol.js'

/** The frame API Gateway itself sends when a route's function failed: `{"message": "Internal server error", …}`. */
export const gatewayError = 'gateway error'
export type GatewayError = { type: typeof gatewayError; message: string }

/** A server frame by its `type`, API Gateway's own error frame, or undefined for anything else. */
export function parseFrame(data: unknown): ServerFrame | GatewayError | undefined {
  if (typeof data !== 'string') return undefined
  try {
    const frame: unknown = JSON.parse(data)
    if (typeof frame !== 'object' || frame === null) return undefined
    // The server is the source of truth for frame shapes; only the discriminant is checked here.
    if ('type' in frame) return typeof frame.type === 'string' ? (frame as ServerFrame) : undefined
    if ('message' in frame && typeof frame.message === 'string')
      return { type: gatewayError, message: frame.message }
    return undefined
  } catch {
    return undefined
  }
}
