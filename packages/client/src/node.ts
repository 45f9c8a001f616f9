import { readFile, rename, writeFile } from 'node:fs/promises'
import type { ConnectOptions, WebSocketConstructor } from './client.js'
import { ChatClient as PortableChatClient } from './client.js'
import type { CursorStore, Cursors } from './cursors.js'

export * from './index.js'

/** The ChatClient for Node: the global WebSocket where there is one (Node 22+), else the `ws` package. */
export class ChatClient extends PortableChatClient {
  static override async connect(url: string, options: ConnectOptions): Promise<PortableChatClient> {
    const WebSocket = options.WebSocket ?? globalThis.WebSocket ?? (await import('ws')).default
    return PortableChatClient.connect(url, { ...options, WebSocket: WebSocket as WebSocketConstructor })
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
