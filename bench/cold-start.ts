import { execFile } from 'node:child_process'
import { mkdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { authorizer, routes, workers } from '../lambdas/routes.js'
import { handlerBundling } from '../lib/handler-function.js'
import { localHandlerEnvironment } from '../local/stack.js'
import { round } from './stats.js'

const run = promisify(execFile)
const projectRoot = fileURLToPath(new URL('..', import.meta.url))
const outDir = `${projectRoot}node_modules/.cache/huddle-bench`

/** One handler's deployment bundle and how long its module takes to initialise in a fresh process. */
export interface ColdStart {
  handler: string
  bytes: number
  gzipBytes: number
  initMs: number
}

/** Bundles a handler exactly as the CDK stack does (lib/handler-function.ts); returns the file. */
async function bundle(handler: string): Promise<string> {
  const outfile = `${outDir}/${handler}.mjs`
  await build({
    entryPoints: [`${projectRoot}lambdas/handlers/${handler}.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    target: handlerBundling.target,
    format: handlerBundling.format,
    mainFields: handlerBundling.mainFields,
    banner: { js: handlerBundling.banner },
    external: handlerBundling.externalModules,
    minify: handlerBundling.minify,
    logLevel: 'error',
  })
  return outfile
}

// Runs in the child: only the import is timed, not Node's own start-up.
const importTimer =
  'const t = performance.now(); const m = await import(process.argv[1]);' +
  "if (typeof m.handler !== 'function') throw new Error('no handler export');" +
  'console.log(performance.now() - t)'

/** Imports the bundle in a fresh node process with the handler environment set; milliseconds. */
async function initialisationMs(file: string): Promise<number> {
  const env = {
    ...process.env,
    ...localHandlerEnvironment('http://127.0.0.1:9', 'http://127.0.0.1:9', 'http://127.0.0.1:9'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  }
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', importTimer, file], {
    env,
    timeout: 30_000,
  })
  return Number(stdout.trim())
}

/** Bundle size and median module initialisation time of every handler, over `runs` fresh processes. */
export async function measureColdStarts(runs: number): Promise<ColdStart[]> {
  await mkdir(outDir, { recursive: true })
  const handlers = [...routes.map((r) => r.handler), ...workers.map((w) => w.handler), authorizer.handler]
  const results: ColdStart[] = []
  for (const handler of handlers) {
    const file = await bundle(handler)
    const code = await readFile(file)
    results.push({
      handler,
      bytes: code.length,
      gzipBytes: gzipSync(code).length,
      initMs: await medianInitialisationMs(file, runs),
    })
  }
  return results
}

async function medianInitialisationMs(file: string, runs: number): Promise<number> {
  await initialisationMs(file) // the first import also warms the disk cache: not counted
  const times: number[] = []
  for (let i = 0; i < runs; i++) times.push(await initialisationMs(file))
  return round(median(times), 1)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN
}
