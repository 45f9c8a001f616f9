/**
 * The web chat as served, built once for both places it is served from: the local gateway (local/web-app.ts)
 * and the stack's CloudFront distribution (lib/web-chat-site.ts). Both send the policy made here.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BuildOptions, type BuildResult, build, buildSync } from 'esbuild'

const webDir = fileURLToPath(new URL('./', import.meta.url))

/** One file of the built web chat: the path it is served at, its media type and its bytes. */
export interface WebChatFile {
  path: string
  type: string
  body: Uint8Array
}

/** The files copied as they are, with their media types. */
const staticFiles = [
  ['index.html', 'text/html; charset=utf-8'],
  ['styles.css', 'text/css; charset=utf-8'],
] as const

/**
 * web/app.ts bundled for browsers (it imports @huddle/client through the package's exports, so the package
 * must be built: `npm run build`), and web/mls-worker.ts as a second entry point, the Web Worker that runs MLS,
 * so the page's own bundle carries none of it.
 */
const bundleOptions = {
  entryPoints: [join(webDir, 'app.ts'), join(webDir, 'mls-worker.ts')],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  outdir: join(webDir, 'dist'),
  write: false,
  logLevel: 'silent',
} as const satisfies BuildOptions

function builtFiles(bundle: BuildResult<typeof bundleOptions>, read: (name: string) => Uint8Array) {
  const files: WebChatFile[] = bundle.outputFiles.map((file) => {
    const name = basename(file.path)
    const type = name.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8'
    return { path: `/${name}`, type, body: file.contents }
  })
  for (const [name, type] of staticFiles) files.push({ path: `/${name}`, type, body: read(name) })
  return files
}

/** Builds the web chat in memory, for a server that answers from it (the local gateway). */
export async function buildWebChat(): Promise<WebChatFile[]> {
  const bundle = await build(bundleOptions)
  const sources = new Map<string, Uint8Array>()
  for (const [name] of staticFiles) sources.set(name, await readFile(join(webDir, name)))
  return builtFiles(bundle, (name) => sources.get(name) as Uint8Array)
}

/** Builds the web chat into a folder, synchronously, as the CDK's asset bundling asks. */
export function writeWebChat(folder: string): WebChatFile[] {
  let files: WebChatFile[]
  try {
    files = builtFiles(buildSync(bundleOptions), (name) => readFileSync(join(webDir, name)))
  } catch (error) {
    throw new Error(
      `The web chat (web/) could not be built: ${error instanceof Error ? error.message : error}. ` +
        'Build the SDK it imports first (`npm run build`), then synthesize again.',
    )
  }
  mkdirSync(folder, { recursive: true })
  for (const file of files) writeFileSync(join(folder, file.path.slice(1)), file.body)
  return files
}

/** The origins the web chat may reach besides its own: where it connects and fetches, and where its images are. */
export interface WebChatOrigins {
  /** WebSocket and fetch targets: the chat's endpoint, the bucket, the sign-in service. */
  connect: readonly string[]
  /** Image sources: the bucket that serves avatars. */
  images: readonly string[]
}

/**
 * The web chat's Content-Security-Policy: its own scripts and styles only, and network access to its own origin
 * and the given ones, no framing. Blob and data images are its own previews of a picked file.
 */
export function contentSecurityPolicy({ connect, images }: WebChatOrigins): string {
  const sources = (origins: readonly string[]) => ["'self'", ...origins].join(' ')
  return (
    `default-src 'none'; script-src 'self'; style-src 'self'; connect-src ${sources(connect)}; ` +
    `img-src ${sources(images)} blob: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`
  )
}
