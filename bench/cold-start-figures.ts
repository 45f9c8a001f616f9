import { round } from './stats.js'

/** Issue 21's targets: every handler bundle at most 400 KiB and the slowest module init at most 60 ms. */
export const coldStartTargets = { bundleKiB: 400, initMs: 60 } as const

/** One build's figures for one handler: its bundle (minified, and gzipped) and its median module init. */
export interface BundleFigures {
  /** Absent when the handler did not bundle. */
  bytes?: number
  gzipBytes?: number
  /** Median over the run's fresh processes; absent when the bundle did not build or import. */
  initMs?: number
  /** Why the handler could not be measured ("did not bundle: …" or "did not import: …"), when it could not. */
  error?: string
}

/** One handler in the build before and after; a side is absent when that build has no such handler. */
export interface HandlerComparison {
  handler: string
  before?: BundleFigures
  after?: BundleFigures
}

/** The largest or slowest handler of one build, with its figure. */
export interface Extreme {
  handler: string
  value: number
}

/** What a run shows against the targets, for the build before and the build after. */
export interface ColdStartSummary {
  largestBundleKiB: { before?: Extreme; after?: Extreme }
  slowestInitMs: { before?: Extreme; after?: Extreme }
  /** Handlers of the build after whose bundle is over the target. */
  bundlesOverTarget: string[]
  /** Handlers of the build after that could not be measured: the targets cannot be shown while any fail. */
  unmeasured: string[]
  pass: boolean
}

/** The middle value (the lower of the two middles for an even count); NaN for no values. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN
}

/** Bytes in KiB, rounded to a tenth for tables and results.json. */
export function kib(bytes: number): number {
  return round(bytes / 1024, 1)
}

/** Conditions tried in order for an export, as esbuild resolves them for `platform: 'node'` in ESM. */
const nodeConditions = ['node', 'import', 'default'] as const

/**
 * Maps each specifier the client package exports (`@huddle/client`, `@huddle/client/protocol`, …) to the
 * TypeScript source its built file comes from (`./dist/x.js` → `src/x.ts`, as packages/client/tsconfig.json
 * compiles them), so that a tree's handlers bundle that tree's SDK rather than whatever dist is installed.
 */
export function clientSources(packageName: string, exportsField: unknown): Map<string, string> {
  const sources = new Map<string, string>()
  if (typeof exportsField !== 'object' || exportsField === null) return sources
  for (const [subpath, target] of Object.entries(exportsField)) {
    const file = conditionalTarget(target)
    const built = file?.match(/^\.\/dist\/(.+)\.js$/)
    if (!built?.[1]) continue // package.json and anything else that is not compiled from src
    sources.set(
      subpath === '.' ? packageName : `${packageName}/${subpath.replace(/^\.\//, '')}`,
      `src/${built[1]}.ts`,
    )
  }
  return sources
}

function conditionalTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target
  if (typeof target !== 'object' || target === null) return undefined
  const conditions = target as Record<string, unknown>
  for (const condition of nodeConditions) {
    if (condition in conditions) return conditionalTarget(conditions[condition])
  }
  return undefined
}

/** Pairs each handler's figures of the two builds, in the order of the build after, then the removed ones. */
export function pairHandlers(
  before: ReadonlyMap<string, BundleFigures>,
  after: ReadonlyMap<string, BundleFigures>,
): HandlerComparison[] {
  const pairs: HandlerComparison[] = [...after].map(([handler, figures]) => ({
    handler,
    before: before.get(handler),
    after: figures,
  }))
  for (const [handler, figures] of before) if (!after.has(handler)) pairs.push({ handler, before: figures })
  return pairs
}

/** The largest bundles and slowest inits of both builds, and whether the build after meets the targets. */
export function summarise(handlers: readonly HandlerComparison[]): ColdStartSummary {
  const side = (pick: (h: HandlerComparison) => BundleFigures | undefined) =>
    handlers.flatMap((h) => {
      const figures = pick(h)
      return figures ? [{ handler: h.handler, figures }] : []
    })
  const befores = side((h) => h.before)
  const afters = side((h) => h.after)
  const largest = (list: typeof afters) =>
    maxBy(
      list.flatMap(({ handler, figures }) =>
        figures.bytes === undefined ? [] : [{ handler, value: kib(figures.bytes) }],
      ),
    )
  const slowest = (list: typeof afters) =>
    maxBy(
      list.flatMap(({ handler, figures }) =>
        figures.initMs === undefined ? [] : [{ handler, value: figures.initMs }],
      ),
    )
  const bundlesOverTarget = afters
    .filter(({ figures }) => (figures.bytes ?? 0) > coldStartTargets.bundleKiB * 1024)
    .map(({ handler }) => handler)
  const unmeasured = afters
    .filter(({ figures }) => figures.error !== undefined || figures.initMs === undefined)
    .map(({ handler }) => handler)
  const slowestAfter = slowest(afters)
  return {
    largestBundleKiB: { before: largest(befores), after: largest(afters) },
    slowestInitMs: { before: slowest(befores), after: slowestAfter },
    bundlesOverTarget,
    unmeasured,
    pass:
      afters.length > 0 &&
      bundlesOverTarget.length === 0 &&
      unmeasured.length === 0 &&
      slowestAfter !== undefined &&
      slowestAfter.value <= coldStartTargets.initMs,
  }
}

function maxBy(values: readonly Extreme[]): Extreme | undefined {
  let max: Extreme | undefined
  for (const value of values) if (max === undefined || value.value > max.value) max = value
  return max
}

/** after ÷ before as "0.48×", or "" when either side is missing or zero. */
export function ratio(before: number | undefined, after: number | undefined): string {
  if (before === undefined || after === undefined || before === 0) return ''
  return `${(after / before).toFixed(2)}×`
}
