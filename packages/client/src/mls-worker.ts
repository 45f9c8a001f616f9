import { type GroupKeys, type MlsEngine, mlsEngine } from './mls.js'

/** Either end of a Worker's channel: the Worker object on the page, the worker's global scope inside it. */
export interface WorkerChannel {
  postMessage(message: unknown): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener(type: 'error', listener: (event: unknown) => void): void
}

/** A group state as it crosses the channel: the worker keeps the state, the page a handle to it. */
interface Handle {
  handle: number
  epoch: number
  leaf: number
}

interface Call {
  id: number
  method: keyof MlsEngine | 'release'
  args: unknown[]
}

type Reply = { id: number; result: unknown } | { id: number; error: string }

/** Methods whose answer is a state itself; the others that change a state answer it as `keys`. */
const answersKeys = new Set(['createGroup', 'joinFromWelcome', 'load'])

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
  channel.addEventListener('message', async ({ data }) => {
    const { id, method, args } = data as Call
    if (method === 'release') {
      states.delete(args[0] as number)
      return
    }
    try {
      const real = args.map((arg) => (isHandle(arg) ? stateOf(states, arg.handle) : arg))
      const result = await (engine[method] as (...args: unknown[]) => Promise<unknown>)(...real)
      const answer = answersKeys.has(method)
        ? keep(result as GroupKeys)
        : isObject(result) && 'keys' in result
          ? { ...result, keys: keep(result.keys as GroupKeys) }
          : result
      channel.postMessage({ id, result: answer } satisfies Reply)
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
  const handles = new WeakMap<GroupKeys, number>()
  // A state the page no longer holds is dropped in the worker too.
  const released = new FinalizationRegistry<number>((handle) =>
    worker.postMessage({ id: 0, method: 'release', args: [handle] } satisfies Call),
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
  const call = async (method: keyof MlsEngine, ...args: unknown[]): Promise<unknown> => {
    if (failed) throw failed
    const id = ++last
    const sent = args.map((arg) => {
      const handle = isObject(arg) ? handles.get(arg as unknown as GroupKeys) : undefined
      return handle === undefined ? arg : { handle, epoch: 0, leaf: 0 }
    })
    const result = await new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject })
      worker.postMessage({ id, method, args: sent } satisfies Call)
    })
    if (answersKeys.has(method)) return keysOf(result as Handle)
    if (isObject(result) && 'keys' in result) return { ...result, keys: keysOf(result.keys as Handle) }
    return result
  }
  return {
    makeKeyPackage: (name) => call('makeKeyPackage', name) as ReturnType<MlsEngine['makeKeyPackage']>,
    createGroup: (gid, name) => call('createGroup', gid, name) as Promise<GroupKeys>,
    welcomeRefs: (welcome) => call('welcomeRefs', welcome) as Promise<string[]>,
    joinFromWelcome: (welcome, secret) => call('joinFromWelcome', welcome, secret) as Promise<GroupKeys>,
    joinExternal: (info, name, resync) =>
      call('joinExternal', info, name, resync) as ReturnType<MlsEngine['joinExternal']>,
    commit: (keys, change) => call('commit', keys, change) as ReturnType<MlsEngine['commit']>,
    process: (keys, commit) => call('process', keys, commit) as ReturnType<MlsEngine['process']>,
    encrypt: (keys, plaintext) => call('encrypt', keys, plaintext) as ReturnType<MlsEngine['encrypt']>,
    decrypt: (keys, cipher) => call('decrypt', keys, cipher) as ReturnType<MlsEngine['decrypt']>,
    leaves: (keys) => call('leaves', keys) as ReturnType<MlsEngine['leaves']>,
    save: (keys) => call('save', keys) as Promise<Uint8Array>,
    load: (bytes) => call('load', bytes) as Promise<GroupKeys>,
  }
}

function stateOf(states: Map<number, GroupKeys>, handle: number): GroupKeys {
  const keys = states.get(handle)
  if (keys === undefined) throw new Error('a group state the worker no longer holds')
  return keys
}

function isHandle(value: unknown): value is Handle {
  return isObject(value) && typeof value.handle === 'number'
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array)
}
