import { type GroupKeys, type MlsEngine, mlsEngine } from './mls.js'

/** Either end of a Worker's channel: the Worker object on the page, the worker's global scope inside it. */
export interface WorkerChannel {
  postMessage(message: unknown): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener(type: 'error', listener: (event: unknown) => void): void
}

/** How an answer crosses: it is a group state, it holds one as `keys`, or it holds none. */
type Crossing = 'state' | 'keys' | 'plain'

/** The crossing an answer of type T calls for. */
type CrossingOf<T> = T extends GroupKeys ? 'state' : T extends { keys: GroupKeys } ? 'keys' : 'plain'

/**
 * Every method the worker serves, and how its answer crosses the channel: the compiler checks each line
 * against MlsEngine, so a method added there is one line here. Arguments need no rule: the page sends each
 * state it got from the worker as its handle, and everything else as it is.
 */
const answers: { [M in keyof MlsEngine]: CrossingOf<Awaited<ReturnType<MlsEngine[M]>>> } = {
  newSigner: 'plain',
  sign: 'plain',
  verify: 'plain',
  readKeyPackage: 'plain',
  makeKeyPackage: 'plain',
  createGroup: 'state',
  welcomeRefs: 'plain',
  joinFromWelcome: 'state',
  joinExternal: 'keys',
  commit: 'keys',
  process: 'keys',
  encrypt: 'keys',
  decrypt: 'keys',
  leaves: 'plain',
  save: 'plain',
  load: 'state',
  saveRatchet: 'plain',
  loadRatchet: 'state',
}

/** A group state as it crosses the channel: the worker keeps the state, the page a handle to it. */
interface Handle {
  handle: number
  epoch: number
  leaf: number
}

/** An argument as it crosses: a state the worker holds, by its handle, or any other value as it is. */
type Argument = { state: number } | { value: unknown }

type Request = { id: number; method: keyof MlsEngine; args: Argument[] } | { release: number }

type Reply = { id: number; result: unknown } | { id: number; error: string }

/**
 * Serves the MLS engine inside a Web Worker, so that commits and Welcomes of large groups never hold up the
 * page: call it from the worker's script (`serveMlsEngine()`), and `workerMlsEngine(worker)` on the page.
 */
export function serveMlsEngine(
  channel: WorkerChannel = globalThis as unknown as WorkerChannel,
  engine: MlsEngine = mlsEngine(),
): void {
  const states = new Map<number, GroupKeys>()
  let last = 0
  const keep = (keys: GroupKeys): Handle => {
    states.set(++last, keys)
    return { handle: last, epoch: keys.epoch, leaf: keys.leaf }
  }
  const stateOf = (handle: number): GroupKeys => {
    const keys = states.get(handle)
    if (keys === undefined) throw new Error('a group state the worker no longer holds')
    return keys
  }
  channel.addEventListener('message', async ({ data }) => {
    const request = data as Request
    if ('release' in request) {
      states.delete(request.release)
      return
    }
    const { id, method, args } = request
    try {
      if (!Object.hasOwn(answers, method)) throw new Error(`no method ${method}`)
      const real = args.map((arg) => ('state' in arg ? stateOf(arg.state) : arg.value))
      const result = await (engine[method] as (...args: unknown[]) => Promise<unknown>)(...real)
      channel.postMessage({ id, result: withState(answers[method], result, keep) } satisfies Reply)
    } catch (error) {
      channel.postMessage({
        id,
        error: error instanceof Error ? error.message : String(error),
      } satisfies Reply)
    }
  })
}

/** The engine on the page, each call answered by `serveMlsEngine` in `worker`. */
export function workerMlsEngine(worker: WorkerChannel): MlsEngine {
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  const handles = new WeakMap<object, number>()
  // A state the page no longer holds is dropped in the worker too.
  const released = new FinalizationRegistry<number>((handle) =>
    worker.postMessage({ release: handle } satisfies Request),
  )
  let last = 0
  // A worker that failed to load, or died, answers nothing more: every call fails instead of waiting.
  let failed: Error | undefined
  worker.addEventListener('error', () => {
    failed = new Error('MLS: the worker failed (it did not load, or it stopped)')
    for (const call of pending.values()) call.reject(failed)
    pending.clear()
  })
  worker.addEventListener('message', ({ data }) => {
    const reply = data as Reply
    const call = pending.get(reply.id)
    pending.delete(reply.id)
    if ('error' in reply) call?.reject(new Error(`MLS: ${reply.error}`))
    else call?.resolve(reply.result)
  })
  const keysOf = (handle: Handle): GroupKeys => {
    const keys = Object.freeze({ epoch: handle.epoch, leaf: handle.leaf })
    handles.set(keys, handle.handle)
    released.register(keys, handle.handle)
    return keys
  }
  const argument = (value: unknown): Argument => {
    const handle = typeof value === 'object' && value !== null ? handles.get(value) : undefined
    return handle === undefined ? { value } : { state: handle }
  }
  const call = async (method: keyof MlsEngine, args: unknown[]): Promise<unknown> => {
    if (failed) throw failed
    const id = ++last
    const replied = new Promise((resolve, reject) => pending.set(id, { resolve, reject }))
    try {
      worker.postMessage({ id, method, args: args.map(argument) } satisfies Request)
    } catch (error) {
      pending.delete(id)
      throw error
    }
    return withState(answers[method], await replied, keysOf)
  }
  const methods = Object.keys(answers) as (keyof MlsEngine)[]
  return Object.fromEntries(
    methods.map((method) => [method, (...args: unknown[]) => call(method, args)]),
  ) as unknown as MlsEngine
}

/** An answer with the state it carries (itself, or its `keys`) turned by `turn`: a state into a handle, or back. */
function withState<From, To>(crossing: Crossing, answer: unknown, turn: (state: From) => To): unknown {
  if (crossing === 'state') return turn(answer as From)
  if (crossing === 'keys') {
    const whole = answer as { keys: From }
    return { ...whole, keys: turn(whole.keys) }
  }
  return answer
}
