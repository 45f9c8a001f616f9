import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { build } from 'esbuild'
import { functionArn } from './grants.js'

/** One Lambda function as the local gateway runs it. */
export interface FunctionDefinition {
  name: string
  /** A built module that exports `handler` (see buildFunctions, or a bundle from cdk.out). */
  module: string
  /** Its whole environment: nothing of the gateway's own process leaks in. */
  environment: Record<string, string>
  timeoutSeconds: number
}

/**
 * Where a function's stdout and stderr go, a line at a time, as Lambda sends them to CloudWatch Logs: the
 * gateway's own streams by default (`npm start`), a file when the tests keep expected errors off the screen.
 */
export type FunctionOutput = (functionName: string, line: string, stream: 'stdout' | 'stderr') => void

/** The gateway's own stdout and stderr. */
export const toTerminal: FunctionOutput = (_, line, stream) => process[stream].write(`${line}\n`)

/** How an invocation ended: the handler's result, or why there is none. */
export type Invocation<R> =
  | { ok: true; result: R }
  | { ok: false; reason: 'error' | 'timeout' | 'crash'; message: string; name?: string; stack?: string }

/** The TypeScript source of a handler (lambdas/handlers/<name>.ts). */
export function sourceModule(handler: string): string {
  return fileURLToPath(new URL(`../lambdas/handlers/${handler}.ts`, import.meta.url))
}

/** What a gateway built: each TypeScript function's bundle, in a folder of its own until removed. */
export interface BuiltFunctions {
  modules: Map<string, string>
  remove(): Promise<void>
}

/**
 * Bundles the functions given as TypeScript source, as the CDK stack does (esbuild, ESM, every dependency
 * bundled in), into a temporary folder: one entry each (their shared code split into chunks on disk, but every
 * worker still gets its own instances), with source maps so that stack traces name lambdas/*.ts. A
 * worker loads its bundle in about a fifth of the time the sources take through a TypeScript loader.
 */
export async function buildFunctions(sources: ReadonlyMap<string, string>): Promise<BuiltFunctions> {
  const outdir = await mkdtemp(join(tmpdir(), 'huddle-functions-'))
  const remove = () => rm(outdir, { recursive: true, force: true })
  if (sources.size === 0) return { modules: new Map(), remove }
  try {
    await build({
      entryPoints: Object.fromEntries(sources),
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: `node${process.versions.node.split('.')[0]}`,
      mainFields: ['module', 'main'],
      // Some CommonJS dependencies call require(); ESM output has none unless it is provided.
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
      sourcemap: 'inline',
      sourcesContent: false,
      logLevel: 'silent',
    })
  } catch (error) {
    await remove()
    throw error
  }
  return { modules: new Map([...sources.keys()].map((name) => [name, join(outdir, `${name}.mjs`)])), remove }
}

// The worker's own code: load the module once (its cold start), then run one invocation per message, with
// the context object Lambda passes beside the event (its clock starts once the module is loaded).
const bootstrap = `
const { parentPort, workerData } = require('node:worker_threads')
const describe = (error) =>
  error instanceof Error
    ? { name: error.name, message: error.message, stack: error.stack }
    : { message: String(error) }
const loaded = (async () => {
  process.setSourceMapsEnabled(true)
  const exports = await import(workerData.module)
  if (typeof exports.handler !== 'function') throw new Error(workerData.module + ' exports no handler')
  return exports.handler
})()
const contextFor = (requestId) => {
  const deadline = Date.now() + workerData.timeoutMs
  return {
    awsRequestId: requestId,
    functionName: workerData.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: workerData.functionArn,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  }
}
loaded.then(() => parentPort.postMessage({ ready: true }), (error) => parentPort.postMessage({ ready: false, error: describe(error) }))
// The instance's memory high-water mark: its own V8 heap and the buffers it holds, sampled 20 times a second.
let peakMemory = 0
const sampleMemory = () => {
  const { heapUsed, external } = process.memoryUsage()
  peakMemory = Math.max(peakMemory, heapUsed + external)
}
setInterval(sampleMemory, 50).unref()
parentPort.on('message', async ({ id, event, requestId, memory }) => {
  if (memory) {
    sampleMemory()
    parentPort.postMessage({ memory: peakMemory })
    peakMemory = 0
    return
  }
  try {
    const handler = await loaded
    parentPort.postMessage({ id, result: await handler(event, contextFor(requestId)) })
  } catch (error) {
    parentPort.postMessage({ id, error: describe(error) })
  }
})
`

/**
 * Lambda's concurrency quota, shared by every function of the account: at most `limit()` invocations run at
 * once (0 = no limit), each holding its slot until the function ends, whoever stopped waiting for it.
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
 */
export class ConcurrencyLimit {
  private running = 0
  private readonly waiters = new Set<() => void>()

  constructor(private readonly limit: () => number) {}

  /** A slot for one invocation, released by calling it (once); undefined when every slot is taken. */
  tryAcquire(): (() => void) | undefined {
    const limit = this.limit()
    if (limit > 0 && this.running >= limit) return undefined
    this.running++
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
      for (const wake of [...this.waiters]) wake()
    }
  }

  /** Resolves at the next release, or after `ms` (the limit may have been raised meanwhile). */
  freed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.waiters.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.waiters.add(wake)
    })
  }

  /** Invocations running now. */
  get inUse(): number {
    return this.running
  }
}

type Settle = (outcome: Invocation<unknown>) => void
interface Pending {
  settle: Settle
  timer?: NodeJS.Timeout
}

/** One instance: a worker thread with the function's module loaded, like a Lambda execution environment. */
interface Instance {
  worker: Worker
  pending: Map<number, Pending>
  ready: boolean
  /** Settles once the module is loaded (undefined), or failed to load (why). */
  loaded: Promise<string | undefined>
  markLoaded: (failure?: string) => void
  /** Takes no new invocations; stopped once the ones it has are settled. */
  retired: boolean
  /** Waits for the answer to a memory read (peakMemory). */
  memoryRead?: (bytes: number) => void
}

interface ThrownError {
  name?: string
  message: string
  stack?: string
}

type WorkerMessage =
  | { memory: number }
  | { ready: true }
  | { ready: false; error: ThrownError }
  | { id: number; result: unknown }
  | { id: number; error: ThrownError }

/**
 * A function run the way Lambda runs it, as far as the local stack needs: in its own worker thread with
 * only its own environment (so its own credentials and settings), loaded once per instance (its cold
 * start: ahead of time with warm(), else on first use), and failed after its timeout. Invocations share the instance (Lambda would start more instances; on two
 * cores, one per function is what is affordable). An invocation that times out is failed at once, and its
 * instance is retired: the next invocation starts a fresh one, and the old one is stopped, its stuck work
 * with it, once the invocations it still runs are settled.
 */
export class LocalFunction<E, R> {
  private current: Instance | undefined
  private readonly instances = new Set<Instance>()
  private nextId = 0
  private closed = false
  /** Dev mode: the next invocations that start late, each by its delay (slowNext). */
  private readonly delays: number[] = []

  constructor(
    readonly definition: FunctionDefinition,
    private readonly log: (line: string) => void = () => {},
    private readonly output: FunctionOutput = toTerminal,
  ) {}

  /** Runs one invocation; `requestId` is the context's awsRequestId (an async event keeps its own across retries). */
  invoke(event: E, requestId: string = randomUUID()): Promise<Invocation<R>> {
    const delay = this.delays.shift()
    if (delay !== undefined) {
      return new Promise((resolve) => setTimeout(resolve, delay)).then(() => this.invoke(event, requestId))
    }
    if (this.closed) return Promise.resolve({ ok: false, reason: 'crash', message: 'the gateway is closing' })
    this.current ??= this.start()
    const instance = this.current
    const id = ++this.nextId
    return new Promise<Invocation<R>>((resolve) => {
      const pending: Pending = { settle: resolve as Settle }
      instance.pending.set(id, pending)
      if (instance.ready) this.startClock(instance, id, pending)
      instance.worker.postMessage({ id, event, requestId })
    })
  }

  /**
   * Dev mode: the next `count` invocations start `ms` late, as behind a slow cold start or a slow call, so
   * that a test sees what a slow function meets (API Gateway's integration timeout).
   */
  slowNext(count: number, ms: number): void {
    for (let i = 0; i < count; i++) this.delays.push(ms)
  }

  /**
   * Starts an instance ahead of the first invocation (as provisioned concurrency does) and waits for it;
   * returns why the module could not load, if it could not.
   */
  async warm(): Promise<string | undefined> {
    if (this.closed) return 'closed'
    this.current ??= this.start()
    return this.current.loaded
  }

  /**
   * The most memory the current instance's heap and buffers held since the last read (bytes), sampled
   * every 50 ms; undefined when no instance runs. Lambda's "Max Memory Used" adds the runtime's own, about
   * 70 MB for Node.js.
   */
  async peakMemory(): Promise<number | undefined> {
    const instance = this.current
    if (!instance?.ready) return undefined
    const read = new Promise<number | undefined>((resolve) => {
      instance.memoryRead = resolve
      // An instance that stops meanwhile never answers.
      setTimeout(resolve, 1000, undefined).unref()
    })
    instance.worker.postMessage({ memory: true })
    return read
  }

  /** Stops every instance; what they were running is failed. */
  async close(): Promise<void> {
    this.closed = true
    this.current = undefined
    await Promise.all([...this.instances].map((instance) => this.stop(instance, 'the gateway is closing')))
  }

  private start(): Instance {
    const { module, environment, name, timeoutSeconds } = this.definition
    const worker = new Worker(bootstrap, {
      eval: true,
      env: environment,
      // The parent's flags (tsx's loader, vitest's) are not the function's.
      execArgv: [],
      // Read here rather than piped: see forwardOutput.
      stdout: true,
      stderr: true,
      workerData: {
        module: module.startsWith('file:') ? module : pathToFileURL(module).href,
        functionName: name,
        functionArn: functionArn(name),
        timeoutMs: timeoutSeconds * 1000,
      },
    })
    worker.unref()
    forwardOutput(worker, (line, stream) => this.output(name, line, stream))
    let markLoaded: (failure?: string) => void = () => {}
    const loaded = new Promise<string | undefined>((resolve) => {
      markLoaded = resolve
    })
    const instance: Instance = {
      worker,
      pending: new Map(),
      ready: false,
      retired: false,
      loaded,
      markLoaded,
    }
    this.instances.add(instance)
    worker.on('message', (message: WorkerMessage) => {
      if ('memory' in message) {
        instance.memoryRead?.(message.memory)
        return
      }
      if ('ready' in message) {
        if (!message.ready) {
          const failure = `${name} could not start: ${message.error.stack ?? message.error.message}`
          this.log(failure)
          instance.markLoaded(failure)
          this.retire(instance)
        } else {
          instance.markLoaded()
        }
        instance.ready = true
        for (const [id, pending] of instance.pending) this.startClock(instance, id, pending)
        return
      }
      const pending = instance.pending.get(message.id)
      if (!pending) return // it timed out already
      clearTimeout(pending.timer)
      instance.pending.delete(message.id)
      pending.settle(
        'result' in message
          ? { ok: true, result: message.result }
          : { ok: false, reason: 'error', ...message.error },
      )
      if (instance.retired && instance.pending.size === 0) void this.stop(instance)
    })
    worker.on('error', (error) => {
      this.log(`${name} crashed: ${error.stack ?? error.message}`)
      void this.stop(instance, `${name} crashed: ${error.message}`)
    })
    worker.on('exit', () => {
      this.forget(instance, `${name} exited`)
    })
    return instance
  }

  /** The timeout counts from the moment the instance can run the invocation (a cold start is not billed). */
  private startClock(instance: Instance, id: number, pending: Pending): void {
    if (pending.timer) return
    const { name, timeoutSeconds } = this.definition
    pending.timer = setTimeout(() => {
      instance.pending.delete(id)
      const message = `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`
      this.log(`${name}: ${message}; its instance is retired`)
      pending.settle({ ok: false, reason: 'timeout', message })
      this.retire(instance)
    }, timeoutSeconds * 1000)
  }

  private retire(instance: Instance): void {
    instance.retired = true
    if (this.current === instance) this.current = undefined
    if (instance.pending.size === 0) void this.stop(instance)
  }

  private async stop(instance: Instance, message = 'stopped'): Promise<void> {
    this.forget(instance, message)
    await instance.worker.terminate()
  }

  /** Drops an instance, failing whatever it had not answered. */
  private forget(instance: Instance, message: string): void {
    instance.markLoaded(message)
    if (!this.instances.delete(instance)) return
    if (this.current === instance) this.current = undefined
    if (instance.retired) this.log(`${this.definition.name}: a retired instance is stopped`)
    for (const pending of instance.pending.values()) {
      clearTimeout(pending.timer)
      pending.settle({ ok: false, reason: 'crash', message })
    }
    instance.pending.clear()
  }
}

/**
 * Hands on what a function writes, line by line. Node would pipe each worker's streams into process.stdout
 * and process.stderr itself, but every pipe adds its listeners there: a gateway's twenty-odd functions passed
 * the default limit of ten and warned of a leak. One 'data' listener on the worker's own stream adds nothing
 * to the process's.
 */
function forwardOutput(worker: Worker, write: (line: string, stream: 'stdout' | 'stderr') => void): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = ''
    worker[stream].setEncoding('utf8')
    worker[stream].on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) write(line, stream)
    })
    worker[stream].on('end', () => {
      if (partial) write(partial, stream)
    })
  }
}
