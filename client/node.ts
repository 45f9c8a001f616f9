import { readFile, rename, writeFile } from 'node:fs/promises'
import NodeWebSocket from 'ws'
import type { ConnectOptions } from './client.js'
import { ChatClient as PortableChatClient } from './client.js'
import type { CursorStore, Cursors } from './cursors.js'

export * from './index.js'

/** The ChatClient for Node 20, which has no global WebSocket: the `ws` package is the default. */
export class ChatClient extends PortableChatClient {
  static override connect(url: string, options: ConnectOptions): Promise<PortableChatClient> {
    return PortableChatClient.connect(url, { WebSocket: NodeWebSocket, ...options })
  }
}

/** Keeps cursors in a JSON file, replaced whole on each save so a crash never leaves half a file. */
export function fileCursorStore(path: string): CursorStore {
  return {
    async load() {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as Cursors
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
    async save(cursors) {
      await writeFile(`${path}.tmp`, JSON.stringify(cursors))
      await rename(`${path}.tmp`, path)
    },
  }
}
