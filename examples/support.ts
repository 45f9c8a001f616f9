import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { deflateSync } from 'node:zlib'
import { type Avatar, ChatClient, type ConnectOptions } from '../client/node.js'
import { fetchDevToken } from '../local/dev-tokens.js'

/** The Huddle the examples talk to: HUDDLE_URL, or the local stack that `npm start` runs. */
export const huddleUrl = process.env.HUDDLE_URL ?? 'http://127.0.0.1:3001'

/** Connects as `identity`: with HUDDLE_TOKEN when set (a deployed stack), else with a fresh dev token per connect. */
export function connectAs(identity: string, options: Partial<ConnectOptions> = {}): Promise<ChatClient> {
  const wsUrl = huddleUrl.replace(/^http/, 'ws')
  const fixed = process.env.HUDDLE_TOKEN
  return ChatClient.connect(wsUrl, { token: fixed ?? (() => fetchDevToken(huddleUrl, identity)), ...options })
}

const imageTypes: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
}

/** Reads an image file as a group avatar, its mime type taken from the extension. */
export async function readImage(path: string): Promise<Avatar> {
  const mime = imageTypes[extname(path).toLowerCase()]
  if (!mime) throw new Error(`${path}: use a .png, .jpg, .gif or .webp image`)
  return { data: await readFile(path), mime }
}

/** A valid PNG of one solid colour, so the examples need no image file. */
export function solidPng(
  size: number,
  [red, green, blue]: [number, number, number],
): Avatar & { data: Buffer } {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8-bit RGB, default compression, filter and no interlace
  const row = [0, ...Array.from({ length: size }, () => [red, green, blue]).flat()] // filter byte 0 per row
  const pixels = Buffer.from(Array.from({ length: size }, () => row).flat())
  const data = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ])
  return { data, mime: 'image/png' }
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
  }
  return (crc ^ 0xffffffff) >>> 0
}
