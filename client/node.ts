import NodeWebSocket from 'ws'
import type { ConnectOptions } from './client.js'
import { ChatClient as PortableChatClient } from './client.js'

export * from './index.js'

/** The ChatClient for Node 20, which has no global WebSocket: the `ws` package is the default. */
export class ChatClient extends PortableChatClient {
  static override connect(url: string, options: ConnectOptions): Promise<PortableChatClient> {
    return PortableChatClient.connect(url, { WebSocket: NodeWebSocket, ...options })
  }
}
