import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { type BuildOptions, build, type Plugin } from 'esbuild'
import { handlerBundling } from '../lib/handler-function.js'
import { baselineRef, withWorktree } from './baseline.js'
import {
  type BundleFigures,
  type ColdStartSummary,
  clientSources,
  coldStartTargets,
  type HandlerComparison,
  kib,
  median,
  pairHandlers,
  ratio,
  summarise,
} from './cold-start-figures.js'
import { readResults, saveResults } from './results-file.js'
import { addFigures, announceMachine, type Machine, printMoved, printTable, round } from './stats.js'

const run = promisify(execFile)
const projectRoot = fileURLToPath(new URL('..', import.meta.url))
const outDir = `${projectRoot}node_modules/.cache/huddle-bench`

/** What results.json keeps under `coldStart`: both builds' figures from one run, and the verdict. */
export interface ColdStartResults {
  ranAt: string
  machine: Machine
  /** Fresh processes per handler and build (after one that warms the disk cache). */
  runs: number
  before: { ref: string; commit: string }
  /** This checkout's HEAD, measured as the working tree has it (`uncommitted` when lambdas/ or the SDK differ). */
  after: { commit: string; uncommitted: boolean }
  targets: typeof coldStartTargets
  handlers: HandlerComparison[]
  summary: ColdStartSummary
}

/** One tree's handlers, bundled: each either a file with its sizes or why it did not bundle. */
interface Build {
  label: 'before' | 'after'
  tree: string
  bundles: Map<string, { file: string; bytes: number; gzipBytes: number } | { error: string }>
  /** Bundles that failed to import, with why; they are timed no more. */
  importErrors: Map<string, string>
  /** What the handlers find in process.env as they initialise. */
  environment: Record<string, string>
}

/**
 * Resolves `@huddle/client` and its subpaths to the TypeScript sources of `tree`'s packages/client, by that
 * package's `exports`. Without it both trees would bundle node_modules/@huddle/client, which is this
 * checkout's last `npm run build`: the baseline would get today's SDK, and the current tree a stale one.
 */
async function clientSourcePlugin(tree: string): Promise<Plugin> {
  const manifest = JSON.parse(await readFile(`${tree}packages/client/package.json`, 'utf8')) as {
    name: string
    exports?: unknown
  }
  const sources = clientSources(manifest.name, manifest.exports)
  const prefix = new RegExp(`^${manifest.name.replace(/[/.]/g, '\\$&')}(/|$)`)
  return {
    name: 'client-source',
    setup(esbuild) {
      esbuild.onResolve({ filter: prefix }, ({ path }) => {
        const source = sources.get(path)
        if (source === undefined)
          return { errors: [{ text: `${path} is not exported by ${tree}packages/client` }] }
        return { path: `${tree}packages/client/${source}` }
      })
    },
  }
}

/** The options lib/handler-function.ts gives the CDK stack's esbuild, with the SDK taken from `tree`. */
async function bundlingOptions(tree: string): Promise<BuildOptions> {
  return {
    bundle: true,
    platform: 'node',
    target: handlerBundling.target,
    format: handlerBundling.format,
    mainFields: handlerBundling.mainFields,
    banner: { js: handlerBundling.banner },
    external: handlerBundling.externalModules,
    minify: handlerBundling.minify,
    alias: await aliasesOf(tree),
    logLevel: 'silent',
    plugins: [await clientSourcePlugin(tree)],
  }
}

/** The modules `tree`'s bundles take in place of others (lambdas/bundle-aliases.ts), in the trees that have it. */
async function aliasesOf(tree: string): Promise<Record<string, string>> {
  const file = `${tree}lambdas/bundle-aliases.ts`
  if (!existsSync(file)) return {}
  return ((await import(pathToFileURL(file).href)) as { bundleAliases: Record<string, string> }).bundleAliases
}

/** The handlers `tree`'s route table deploys (its routes, workers and authorizer), each once, in table order. */
async function handlersOf(tree: string, options: BuildOptions, outdir: string): Promise<string[]> {
  const outfile = `${outdir}/route-table.mjs`
  await build({ ...options, minify: false, entryPoints: [`${tree}lambdas/routes.ts`], outfile })
  const table = (await import(`${pathToFileURL(outfile).href}?${Date.now()}`)) as Record<string, unknown>
  const names = [
    ...handlerList(table.routes),
    ...handlerList(table.workers),
    ...handlerList([table.authorizer]),
  ]
  if (names.length === 0) throw new Error(`${tree}lambdas/routes.ts names no handlers`)
  return [...new Set(names)]
}

function handlerList(entries: unknown): string[] {
  if (!Array.isArray(entries)) return []
  return entries.flatMap((entry: unknown) =>
    typeof entry === 'object' && entry !== null && 'handler' in entry && typeof entry.handler === 'string'
      ? [entry.handler]
      : [],
  )
}

/**
 * Bundles every handler of `tree` as the CDK stack would, all in one esbuild call (each entry is still its
 * own bundle); when that fails, one at a time, so that a handler that does not build is reported alone.
 */
async function bundleTree(label: Build['label'], tree: string): Promise<Build> {
  const outdir = `${outDir}/${label}`
  await rm(outdir, { recursive: true, force: true })
  await mkdir(outdir, { recursive: true })
  const options = await bundlingOptions(tree)
  const handlers = await handlersOf(tree, options, outdir)
  const entry = (handler: string) => `${tree}lambdas/handlers/${handler}.ts`
  const bundles: Build['bundles'] = new Map()
  const measure = async (handler: string) => {
    const file = `${outdir}/${handler}.mjs`
    const code = await readFile(file)
    bundles.set(handler, { file, bytes: code.length, gzipBytes: gzipSync(code).length })
  }
  try {
    const entryPoints = Object.fromEntries(handlers.map((handler) => [handler, entry(handler)]))
    await build({ ...options, entryPoints, outdir, outExtension: { '.js': '.mjs' } })
    for (const handler of handlers) await measure(handler)
  } catch {
    for (const handler of handlers) {
      try {
        await build({ ...options, entryPoints: [entry(handler)], outfile: `${outdir}/${handler}.mjs` })
        await measure(handler)
      } catch (error) {
        bundles.set(handler, { error: `did not bundle: ${firstLine(error)}` })
      }
    }
  }
  return { label, tree, bundles, importErrors: new Map(), environment: {} }
}

/** The line that says why: esbuild's first error, the child's thrown error, or the message's first line. */
function firstLine(error: unknown): string {
  const clip = (text: string) => text.trim().slice(0, 200)
  if (typeof error === 'object' && error !== null) {
    if ('errors' in error && Array.isArray(error.errors)) {
      const [first] = error.errors as { text?: string; location?: { file?: string } | null }[]
      if (first?.text) return clip(`${first.location?.file ?? ''}: ${first.text}`)
    }
    if ('killed' in error && error.killed === true) return 'timed out after 30 s'
    if ('stderr' in error && typeof error.stderr === 'string') {
      const lines = error.stderr.split('\n')
      const thrown = lines.find((line) => /^[A-Za-z]*Error\b/.test(line))
      if (thrown) return clip(thrown)
    }
  }
  const text = error instanceof Error ? error.message : String(error)
  return clip(text.split('\n').find((line) => line.trim() !== '') ?? text)
}

// Runs in the child: only the import is timed, not Node's own start-up.
const importTimer =
  'const t = performance.now(); const m = await import(process.argv[1]);' +
  "if (typeof m.handler !== 'function') throw new Error('no handler export');" +
  'console.log(performance.now() - t)'

/**
 * The environment `tree`'s local stack gives its functions (endpoints on a port nothing answers): each build
 * initialises with the variables its own code reads. Loaded when needed, so that a local/ in the middle of a
 * change costs only this, and the other tree's environment can stand in.
 */
async function environmentOf(tree: string): Promise<Record<string, string>> {
  const stack: unknown = await import(pathToFileURL(`${tree}local/stack.ts`).href)
  const make =
    typeof stack === 'object' && stack !== null && 'localHandlerEnvironment' in stack
      ? stack.localHandlerEnvironment
      : undefined
  if (typeof make !== 'function') throw new Error(`${tree}local/stack.ts exports no localHandlerEnvironment`)
  const nowhere = 'http://127.0.0.1:9'
  const environment: unknown = make(nowhere, nowhere, nowhere)
  if (typeof environment !== 'object' || environment === null) throw new Error('no environment')
  return Object.fromEntries(
    Object.entries(environment).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  )
}

/** Gives each build its own tree's environment, or the other's (saying so) when its local stack does not load. */
async function setEnvironments(builds: readonly Build[]): Promise<void> {
  const loaded = await Promise.all(
    builds.map((b) =>
      environmentOf(b.tree).then(
        (environment) => ({ environment }),
        (error: unknown) => ({ error }),
      ),
    ),
  )
  const fallback = loaded.find((l) => 'environment' in l)
  builds.forEach((b, i) => {
    const own = loaded[i]
    if (own && 'environment' in own) b.environment = own.environment
    else if (fallback && 'environment' in fallback) {
      console.log(
        `note: ${b.label}: local/stack.ts did not load (${firstLine(own?.error)}); the other build's environment stands in`,
      )
      b.environment = fallback.environment
    } else throw new Error(`no local/stack.ts loaded: ${firstLine(own?.error)}`)
  })
}

/** Imports the bundle in a fresh node process with the handler environment set; milliseconds. */
async function initialisationMs(file: string, environment: Record<string, string>): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', importTimer, file], {
    env: { ...process.env, ...environment, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    timeout: 30_000,
  })
  const ms = Number(stdout.trim())
  if (!Number.isFinite(ms)) throw new Error(`the import printed ${JSON.stringify(stdout.trim())}`)
  return ms
}

/**
 * Times every bundle of every build in `runs` rounds after one warm-up round (it fills the disk cache and is
 * not counted). Within a round the builds alternate per handler, and which goes first swaps each round, so
 * that a slow patch of the machine hits both builds alike. A bundle that fails to import is dropped with its
 * error.
 */
async function timeInterleaved(
  builds: readonly Build[],
  runs: number,
  onProgress: (done: number, total: number, round: number) => void,
): Promise<Map<Build, Map<string, number[]>>> {
  const times = new Map(builds.map((b) => [b, new Map<string, number[]>()]))
  const handlers = [...new Set(builds.flatMap((b) => [...b.bundles.keys()]))]
  const total = (runs + 1) * builds.reduce((sum, b) => sum + b.bundles.size, 0)
  let done = 0
  for (let round = 0; round <= runs; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse()
    for (const handler of handlers) {
      for (const b of order) {
        const bundle = b.bundles.get(handler)
        if (bundle === undefined) continue
        done++
        if ('error' in bundle || b.importErrors.has(handler)) continue
        try {
          const ms = await initialisationMs(bundle.file, b.environment)
          if (round > 0) times.get(b)?.set(handler, [...(times.get(b)?.get(handler) ?? []), ms])
        } catch (error) {
          b.importErrors.set(handler, `did not import: ${firstLine(error)}`)
        }
        onProgress(done, total, round)
      }
    }
  }
  return times
}

/** Each handler's figures in one build: its sizes and the median of its timed imports. */
function figuresOf(b: Build, times: Map<string, number[]> | undefined): Map<string, BundleFigures> {
  const figures = new Map<string, BundleFigures>()
  for (const [handler, bundle] of b.bundles) {
    if ('error' in bundle) {
      figures.set(handler, { error: bundle.error })
      continue
    }
    const ms = times?.get(handler) ?? []
    const error = b.importErrors.get(handler)
    figures.set(handler, {
      bytes: bundle.bytes,
      gzipBytes: bundle.gzipBytes,
      ...(ms.length > 0 && error === undefined && { initMs: round(median(ms), 1) }),
      ...(error !== undefined && { error }),
    })
  }
  return figures
}

/** Prints progress on one line on a terminal, and once per round otherwise. */
function progressPrinter(runs: number): (done: number, total: number, round: number) => void {
  let lastRound = -1
  return (done, total, round) => {
    const what = round === 0 ? 'warm-up round' : `round ${round} of ${runs}`
    if (process.stdout.isTTY) {
      process.stdout.write(`\r  ${what}: ${done} of ${total} imports timed\x1b[K`)
      if (done === total) process.stdout.write('\n')
    } else if (round !== lastRound) console.log(`  ${what}…`)
    lastRound = round
  }
}

function cell(before: number | undefined, after: number | undefined): string {
  const show = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(1))
  return `${show(before)} → ${show(after)}`
}

/** The table of every handler, then the largest bundle, the slowest init and the verdict against the targets. */
function report(results: ColdStartResults): void {
  const { handlers, summary, targets } = results
  const size = (f: BundleFigures | undefined, pick: 'bytes' | 'gzipBytes') => {
    const bytes = f?.[pick]
    return bytes === undefined ? undefined : kib(bytes)
  }
  console.log(
    `\ncold start: each handler bundled as the CDK stack bundles it, imported in a fresh node process ` +
      `(median of ${results.runs}); before = ${results.before.ref} (${results.before.commit.slice(0, 7)}), ` +
      `after = this checkout (${results.after.commit.slice(0, 7)}` +
      `${results.after.uncommitted ? ' with uncommitted changes' : ''})\n`,
  )
  printTable(
    ['handler', 'bundle KiB', '×', 'gzip KiB', '×', 'init ms', '×'],
    handlers.map(({ handler, before, after }) => [
      handler,
      cell(size(before, 'bytes'), size(after, 'bytes')),
      ratio(size(before, 'bytes'), size(after, 'bytes')),
      cell(size(before, 'gzipBytes'), size(after, 'gzipBytes')),
      ratio(size(before, 'gzipBytes'), size(after, 'gzipBytes')),
      cell(before?.initMs, after?.initMs),
      ratio(before?.initMs, after?.initMs),
    ]),
  )
  for (const { handler, before, after } of handlers) {
    if (before?.error) console.log(`  ${handler} before: ${before.error}`)
    if (after?.error) console.log(`  ${handler} after: ${after.error}`)
  }
  const extreme = (e: { handler: string; value: number } | undefined, unit: string) =>
    e === undefined ? '—' : `${e.value.toFixed(1)} ${unit} (${e.handler})`
  const { largestBundleKiB: largest, slowestInitMs: slowest } = summary
  console.log(
    `\nlargest bundle: ${extreme(largest.before, 'KiB')} → ${extreme(largest.after, 'KiB')}; ` +
      `target ≤ ${targets.bundleKiB} KiB each`,
  )
  console.log(
    `slowest init:   ${extreme(slowest.before, 'ms')} → ${extreme(slowest.after, 'ms')}; ` +
      `target ≤ ${targets.initMs} ms`,
  )
  const goal = `every handler bundle ≤ ${targets.bundleKiB} KiB and the slowest module init ≤ ${targets.initMs} ms`
  if (summary.pass) {
    console.log(`\nPASS: ${goal} (against ${results.before.ref}, measured in the same run)`)
    return
  }
  const count = handlers.filter((h) => h.after !== undefined).length
  const reasons = [
    ...(summary.bundlesOverTarget.length > 0
      ? [
          `${summary.bundlesOverTarget.length} of ${count} bundles over ${targets.bundleKiB} KiB: ` +
            summary.bundlesOverTarget.join(', '),
        ]
      : []),
    ...(slowest.after !== undefined && slowest.after.value > targets.initMs
      ? [`slowest init ${extreme(slowest.after, 'ms')} is over ${targets.initMs} ms`]
      : []),
    ...(summary.unmeasured.length > 0 ? [`not measured: ${summary.unmeasured.join(', ')}`] : []),
  ]
  console.log(`\n${'='.repeat(60)}\nFAIL: not yet ${goal}`)
  for (const reason of reasons) console.log(`  - ${reason}`)
  console.log('='.repeat(60))
}

/** The previous run's figures under `coldStart`, if it has this bench's shape. */
function previousFigures(file: unknown): { figures: Map<string, number>; ranAt: string } | undefined {
  if (typeof file !== 'object' || file === null || !('coldStart' in file)) return undefined
  const previous = file.coldStart as Partial<ColdStartResults> | undefined
  if (!Array.isArray(previous?.handlers) || typeof previous.ranAt !== 'string') return undefined
  return { figures: figuresByPath(previous.handlers), ranAt: previous.ranAt }
}

function figuresByPath(handlers: readonly HandlerComparison[]): Map<string, number> {
  const figures = new Map<string, number>()
  for (const { handler, before, after } of handlers)
    addFigures(figures, `coldStart.${handler}`, { before, after })
  return figures
}

async function git(...args: string[]): Promise<string> {
  return (await run('git', args, { cwd: projectRoot })).stdout.trim()
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { against: { type: 'string' }, runs: { type: 'string' }, quick: { type: 'boolean' } },
    strict: false,
  })
  const quick = values.quick === true
  const against = typeof values.against === 'string' ? values.against : baselineRef
  // Eleven: on a shared two-core host about one import in five takes 15–20 ms longer than the rest, and a
  // median of seven still caught them now and then.
  const runs = typeof values.runs === 'string' ? Number(values.runs) : quick ? 3 : 11
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs must be a whole number ≥ 1, not ${values.runs}`)
  const started = Date.now()
  const machine = await announceMachine()
  const after = {
    commit: await git('rev-parse', 'HEAD'),
    uncommitted: (await git('status', '--porcelain', '--', 'lambdas', 'packages/client', 'lib')) !== '',
  }
  const results = await withWorktree(against, async (baseline) => {
    console.log(`bundling the handlers of ${against} (${baseline.commit.slice(0, 7)}) and of this checkout…`)
    const before = await bundleTree('before', baseline.dir)
    const current = await bundleTree('after', projectRoot)
    await setEnvironments([before, current])
    console.log(
      `timing module init: ${before.bundles.size} + ${current.bundles.size} handlers, ` +
        `${runs} round${runs === 1 ? '' : 's'} after a warm-up, before and after alternating…`,
    )
    const times = await timeInterleaved([before, current], runs, progressPrinter(runs))
    const handlers = pairHandlers(
      figuresOf(before, times.get(before)),
      figuresOf(current, times.get(current)),
    )
    return {
      ranAt: new Date().toISOString(),
      machine,
      runs,
      before: { ref: against, commit: baseline.commit },
      after,
      targets: coldStartTargets,
      handlers,
      summary: summarise(handlers),
    } satisfies ColdStartResults
  })
  report(results)
  const file = await readResults()
  const previous = previousFigures(file)
  if (previous) printMoved(previous.figures, figuresByPath(results.handlers), previous.ranAt)
  // A quick run is not a baseline to compare later runs with.
  if (!quick) await saveResults('coldStart', results)
  console.log(`whole run: ${round((Date.now() - started) / 1000, 1)} s`)
}

await main()
