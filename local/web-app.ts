import type { ServerResponse } from 'node:http'
import { buildWebChat, contentSecurityPolicy, type WebChatFile, type WebChatOrigins } from '../web/build.js'

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
 * The web chat the local gateway serves at its root, built by web/build.ts on the first request (the same
 * build the CDK stack deploys). The policy's script-src 'self' is what lets the page start its MLS worker
 * (worker-src falls back to script-src).
 */
export class WebApp {
  #assets: Promise<Map<string, WebChatFile>> | undefined

  has(pathname: string): boolean {
    return (paths as readonly string[]).includes(pathname)
  }

  /**
   * Answers a GET or HEAD of one of the app's paths. `origins` are the only ones besides its own that the page
   * may reach (its Content-Security-Policy): the bucket avatars and files go to, and the sign-in provider's.
   */
  async serve(
    pathname: string,
    method: string,
    response: ServerResponse,
    origins: WebChatOrigins,
  ): Promise<void> {
    let assets: Map<string, WebChatFile>
    try {
      this.#assets ??= buildWebChat().then((files) => new Map(files.map((file) => [file.path, file])))
      assets = await this.#assets
    } catch (error) {
      this.#assets = undefined
      response
        .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`The web chat could not be built (run \`npm run build\` first?):\n${error}\n`)
      return
    }
    const asset = assets.get(pathname === '/' ? '/index.html' : pathname) as WebChatFile
    response.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.byteLength,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': contentSecurityPolicy(origins),
    })
    response.end(method === 'HEAD' ? undefined : asset.body)
  }
}
