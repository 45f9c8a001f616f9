import { createHash, randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ConnectOptions, WebSocketConstructor } from './client.js'
import { ChatClient as PortableChatClient } from './client.js'
import type { CursorStore, Cursors } from './cursors.js'
import type { EncryptionStore } from './encryption-store.js'

export * from './index.js'

/** The ChatClient for Node: the global WebSocket where there is one (Node 22+), else the `ws` package. */
export class ChatClient extends PortableChatClient {
  static override async connect(url: string, options: ConnectOptions): Promise<PortableChatClient> {
    const WebSocket = options.WebSocket ?? globalThis.WebSocket ?? (await import('ws')).default
    // Encrypted groups run ts-mls here, loaded only for an app that asks for encryption.
    const encryption = options.encryption && {
      engine: options.encryption.engine ?? (await import('./mls.js')).mlsEngine(),
      ...options.encryption,
    }
    return PortableChatClient.connect(url, {
      ...options,
      WebSocket: WebSocket as WebSocketConstructor,
      ...(encryption && { encryption }),
    })
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

/**
 * Keeps encryption state in `directory` (made on first write, readable by this user only), one file per name;
 * each write goes to a temp file, synced, then renamed over the old one, so a crash leaves one value or the other.
 */
export function fileEncryptionStore(directory: string): EncryptionStore {
  const pathOf = (name: string) => join(directory, fileNameOf(name))
  return {
    async get(name) {
      try {
        const bytes = await readFile(pathOf(name))
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
    async set(name, value) {
      await mkdir(directory, { recursive: true, mode: 0o700 })
      const path = pathOf(name)
      const temp = `${path}.${randomUUID()}.tmp`
      try {
        const file = await open(temp, 'wx', 0o600)
        try {
          await file.writeFile(value)
          await file.sync()
        } finally {
          await file.close()
        }
        await rename(temp, path)
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
    },
    async delete(name) {
      await rm(pathOf(name), { force: true })
    },
  }
}

/**
 * A file name for any store name, the same on case-insensitive file systems: a-z, 0-9 and - stay, every other
 * UTF-8 byte becomes _ and two hex digits; names too long for a file name become ~ and their SHA-256.
 */
function fileNameOf(name: string): string {
  let escaped = ''
  for (const byte of new TextEncoder().encode(name)) {
    const char = String.fromCharCode(byte)
    escaped += /[a-z0-9-]/.test(char) ? char : `_${byte.toString(16).padStart(2, '0')}`
  }
  const base = escaped.length <= 180 ? escaped : `~${createHash('sha256').update(name).digest('hex')}`
  return `${base}.bin`
}
