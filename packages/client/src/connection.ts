import type { AckResults, Action, ChatEvent, Requests } from './protocol.js'

/** Where a connection is: 'reconnecting' after a drop, 'open' once connected again, 'closed' after close() or
 * once a ChatClient gives up (its token refused at two reconnects in a row). */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** How a request is sent. `once`: a CONFLICT is final, for a request the caller must make anew when another
 * won the race (a commit, an encrypted message). */
export interface RequestOptions {
  once?: boolean
}

/** A typed request to the server: resolves with its action's ack, rejects with a ChatError. */
export type Request = <A extends Action>(
  action: A,
  fields: Requests[A],
  options?: RequestOptions,
) => Promise<AckResults[A]>

/** The one seam the SDK's features depend on: requests, pushed events and the connection's status. */
export interface Connection {
  request: Request
  onEvent(callback: (event: ChatEvent) => unknown): () => void
  onStatus(callback: (status: ConnectionStatus) => unknown): () => void
  readonly status: ConnectionStatus
}
