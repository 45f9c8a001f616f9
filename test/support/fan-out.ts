import type { DeliveryTarget, FanOutSlice } from '../../lambdas/core/ports.js'
import { unique } from './huddle.js'

/** `count` connections of as many members. */
export function targets(count: number): DeliveryTarget[] {
  return Array.from({ length: count }, (_, n) => ({ iss: `member-${n}`, connectionId: `conn-${n}` }))
}

/** A fan-out slice of a new id to `count` connections. */
export function slice(count: number): FanOutSlice {
  return {
    id: unique('slice'),
    event: 'chat.message',
    data: '{"type":"chat.message"}',
    targets: targets(count),
  }
}
