import type { ProxyBehaviours } from '../access-proxies.js'
import type { Connections } from './connections.js'
import type { PostMeter, TokenBucket } from './limits.js'
import type { LocalFunctions } from './wiring.js'

/**
 * What the gateway's rooms share: the open connections, the functions once every one is warm, the AWS
 * behaviours in force with their counters, and the account's request buckets. The composition
 * (local/gateway.ts) owns it and alone sets `functions`; until then the rooms answer "starting".
 */
export interface GatewayState {
  readonly connections: Connections
  functions: LocalFunctions | undefined
  readonly aws: ProxyBehaviours
  /** API Gateway's account-wide throttles: management API calls, and new connections. */
  readonly throttles: { readonly callbacks: TokenBucket; readonly connections: TokenBucket }
  /** The management API's posts that got past the account's rate, by the function that made them. */
  readonly posts: PostMeter
}
