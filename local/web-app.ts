import { readFile } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const webDir = fileURLToPath(new URL('../web/', import.meta.url))

interface Asset {
  type: string
  body: Uint8Array
}

/** What the web chat (web/) is made of, by the path it is served at. */
const paths = [
  '/',
  '/index.html',
  '/app.js',
  '/app.js.map',
  '/mls-worker.js',
  '/mls-worker.js.map',
  '/styles.css',
] as const

/**
 * The web chat the local gateway serves at its root: web/index.html, web/styles.css, and web/app.ts bundled
 * for browsers with esbuild on the first request (it imports @huddle/client as a browser would, through the
 * package's exports, so the package must be built: `npm run build`). web/mls-worker.ts is a second entry
 * point, /mls-worker.js: the Web Worker that runs MLS (ts-mls) for encrypted groups, so the page's own
 * bundle carries none of it. The policy's script-src 'self' is what lets the page start it (worker-src
 * falls back to script-src).
 */
export class WebApp {
  #assets: Promise<Map<string, Asset>> | undefined

  has(pathname: string): boolean {
    return (paths as readonly string[]).includes(pathname)
  }

  /**
   * Answers a GET or HEAD of one of the app's paths. `s3` is where avatars are uploaded to and shown from,
   * the only origin besides its own that the page may reach (its Content-Security-Policy).
   */
  async serve(
    pathname: string,
    method: string,
    response: ServerResponse,
    s3: string | undefined,
  ): Promise<void> {
    let assets: Map<string, Asset>
    try {
      this.#assets ??= loadAssets()
      assets = await this.#assets
    } catch (error) {
      this.#assets = undefined
      response
        .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`The web chat could not be built (run \`npm run build\` first?):\n${error}\n`)
      return
    }
    const asset = assets.get(pathname === '/' ? '/index.html' : pathname) as Asset
    const origins = ["'self'", ...(s3 ? [s3] : [])].join(' ')
    response.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.byteLength,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy':
        `default-src 'none'; script-src 'self'; style-src 'self'; connect-src ${origins}; ` +
        `img-src ${origins} blob: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    })
    response.end(method === 'HEAD' ? undefined : asset.body)
  }
}

async function loadAssets(): Promise<Map<string, Asset>> {
  const bundle = await build({
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
  })
  const assets = new Map<string, Asset>()
  for (const file of bundle.outputFiles) {
    const name = basename(file.path)
    const type = name.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8'
    assets.set(`/${name}`, { type, body: file.contents })
  }
  for (const [name, type] of [
    ['index.html', 'text/html; charset=utf-8'],
    ['styles.css', 'text/css; charset=utf-8'],
  ] as const) {
    assets.set(`/${name}`, { type, body: await readFile(join(webDir, name)) })
  }
  return assets
}
