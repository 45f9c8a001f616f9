import type { Connections } from './connections.js'
import type { LocalFunctions } from './wiring.js'

/**
 * What the gateway's rooms share: the open connections, and the functions once every one is warm. The
 * composition (local/gateway.ts) owns it and alone sets `functions`; until then the rooms answer "starting".
 */
export interface GatewayState {
  readonly connections: Connections
  functions: LocalFunctions | undefined
}
