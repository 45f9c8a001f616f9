import { Presence } from '../../core/presence.js'
import { connections } from './table.js'

/** Connections opening and closing. */
export const presence = new Presence(connections)
