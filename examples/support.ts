import { readFile } from 'node:fs/promises'
import { basename, extname, resolve } from 'node:path'
import { deflateSync } from 'node:zlib'
import { type Avatar, ChatClient, ChatError, type ConnectOptions } from '@huddle/client'
import { ExampleError, examplesTokens, type TokenOrigin } from './tokens.js'

export { ExampleError } from './tokens.js'

/** One Huddle address in both forms: HTTP for `/dev/token`, WebSocket for the client. */
export interface HuddleUrls {
  http: string
  ws: string
}

/**
 * Where the examples find Huddle: HUDDLE_URL in its http(s):// or ws(s):// form (a trailing `/` is dropped,
 * a deployed stage's path kept), else the local stack on PORT (3001 by default), as `npm start` runs it.
 */
export function huddleUrls(env: NodeJS.ProcessEnv = process.env): HuddleUrls {
  if (!env.HUDDLE_URL && env.PORT && !/^\d+$/.test(env.PORT)) {
    throw new ExampleError(
      `PORT=${env.PORT} is not a port number: set it to the port \`npm start\` uses, or unset it`,
    )
  }
  const given = env.HUDDLE_URL || `http://127.0.0.1:${env.PORT || 3001}`
  const url = URL.canParse(given) ? new URL(given) : undefined
  const secure = url && /^(?:http|ws)(s?):$/.exec(url.protocol)?.[1]
  if (!url || secure === undefined || url.search || url.hash || url.username) {
    throw new ExampleError(
      `HUDDLE_URL=${given} is not an address the examples can use: give the URL \`npm start\` prints, ` +
        'such as ws://127.0.0.1:3001 (http://, https://, ws:// or wss://; a token goes in HUDDLE_TOKEN, not in the URL)',
    )
  }
  const rest = `${url.host}${url.pathname.replace(/\/+$/, '')}`
  return { http: `http${secure}://${rest}`, ws: `ws${secure}://${rest}` }
}

/**
 * Connects as the identity `--as` names (`asked`), or the one the token names, or `fallback`: with
 * HUDDLE_TOKEN (fixed), HUDDLE_TOKEN_COMMAND (run before every connect) or a fresh dev token per connect. A
 * token that names someone else than `--as` stops it before it connects, as does any failure to connect: an
 * ExampleError that names the address and what to do.
 */
export async function connectAs(
  asked: string | undefined,
  fallback: string,
  options: Partial<ConnectOptions> | ((me: string) => Partial<ConnectOptions>) = {},
): Promise<{ client: ChatClient; me: string }> {
  const urls = huddleUrls()
  const tokens = await examplesTokens(asked ?? fallback, urls.http)
  if (asked !== undefined && tokens.identity !== undefined && tokens.identity !== asked) {
    throw new ExampleError(
      `the token names ${tokens.identity}, not ${asked}: drop --as or use ${asked}'s token`,
    )
  }
  const me = asked ?? tokens.identity ?? fallback
  try {
    const extra = typeof options === 'function' ? options(me) : options
    const client = await ChatClient.connect(urls.ws, { token: tokens.source, ...extra })
    return { client, me }
  } catch (error) {
    throw await explainConnectFailure(error, urls, tokens.origin)
  }
}

async function explainConnectFailure(error: unknown, { http, ws }: HuddleUrls, origin: TokenOrigin) {
  if (!(error instanceof ChatError)) return error
  if (error.code === 'TOKEN_REFUSED') {
    const refused = {
      HUDDLE_TOKEN: `${ws} refused HUDDLE_TOKEN (401): set it to a valid, unexpired JWT from the stack's issuer, or unset it for a local stack`,
      HUDDLE_TOKEN_COMMAND: `${ws} refused the token HUDDLE_TOKEN_COMMAND printed (401): make it print a valid, unexpired JWT from the stack's issuer`,
      dev: `${ws} refused the dev token from ${http} (401): is another program on that port?`,
    }
    return new ExampleError(refused[origin])
  }
  // The dev token is fetched over HTTP first: a stack that is not running fails there.
  const devTokenFailed = error.code === 'TOKEN_FAILED' && origin === 'dev'
  if (!devTokenFailed && error.code !== 'CONNECT_FAILED') return error
  const answers = await fetch(http, { signal: AbortSignal.timeout(5000) }).then(
    () => true,
    () => false,
  )
  if (!answers) {
    return new ExampleError(
      `nothing answers at ${http}: start the stack with \`npm start\` (it prints its address), or point PORT or HUDDLE_URL at it`,
    )
  }
  if (devTokenFailed) {
    return new ExampleError(
      `${http} gives no dev tokens (a deployed stack?): set HUDDLE_TOKEN to a JWT from its issuer, or HUDDLE_TOKEN_COMMAND to a command that prints one (${error.message})`,
    )
  }
  return new ExampleError(`cannot connect to ${ws}: ${error.message}`)
}

/** Ends an example that failed: one line for a failure the user can fix, the whole error for a bug. */
export function exitOnError(error: unknown): never {
  const program = basename(process.argv[1] ?? 'example', extname(process.argv[1] ?? ''))
  if (error instanceof ExampleError) console.error(`${program}: ${error.message}`)
  else if (error instanceof ChatError) console.error(`${program}: ${error.code}: ${error.message}`)
  else if (isArgumentError(error))
    console.error(`${program}: ${error.message} (the options: examples/${program}.ts)`)
  else console.error(error)
  process.exit(1)
}

function isArgumentError(error: unknown): error is Error {
  return error instanceof Error && String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')
}

const imageTypes: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
}

const unreadable: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a folder',
}

/**
 * Reads an image file as a group avatar, its mime type taken from the extension. A relative path is
 * taken from where `npm run` was typed (INIT_CWD), not from the repository root npm runs in.
 */
export async function readImage(path: string): Promise<Avatar> {
  const file = resolve(process.env.INIT_CWD ?? process.cwd(), path)
  const mime = imageTypes[extname(file).toLowerCase()]
  if (!mime) throw new ExampleError(`cannot use ${file} as an avatar: give a .png, .jpg, .gif or .webp file`)
  try {
    return { data: await readFile(file), mime }
  } catch (error) {
    const code = String((error as NodeJS.ErrnoException).code)
    throw new ExampleError(
      `cannot read the image ${file} (${unreadable[code] ?? code}): give the path of a readable .png, .jpg, .gif or .webp file`,
    )
  }
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
