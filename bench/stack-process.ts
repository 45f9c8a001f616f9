import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../local/stack.js'

/** What the parent gets back: the stack's endpoints, and a way to stop it. */
export type StackProcess = Omit<LocalStack, 'stop'> & { stop(): Promise<void> }

type Ready = { ready: Omit<LocalStack, 'stop'> } | { failed: string }

/**
 * Runs the local stack in a process of its own, so that a benchmark's thousands of WebSocket clients and
 * the gateway's thousands of server sockets do not share one process's file descriptors, and the gateway's
 * and the functions' CPU is not the benchmark's.
 */
export async function startStackProcess(options: LocalStackOptions): Promise<StackProcess> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const [message] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => [{ failed: `the stack process exited with ${code}` }]),
  ])) as [Ready]
  if ('failed' in message) throw new Error(`the local stack did not start: ${message.failed}`)
  return {
    ...message.ready,
    async stop() {
      if (child.exitCode !== null) return
      const exited = once(child, 'exit')
      child.send('stop')
      await exited
    },
  }
}

/** In the child: starts the stack, reports its endpoints, and stops it when told or orphaned. */
async function serve(options: LocalStackOptions): Promise<void> {
  const send = (message: Ready) => process.send?.(message)
  let stack: LocalStack
  // Stopping ends every connection at once: the $disconnect functions' timeouts then are expected.
  let stopping = false
  const log = (line: string) => {
    if (!stopping) console.log(`[local stack] ${line}`)
  }
  try {
    stack = await startLocalStack({ ...options, log })
  } catch (error) {
    send({ failed: error instanceof Error ? error.message : String(error) })
    process.exit(1)
  }
  const { stop, ...endpoints } = stack
  const shutDown = async () => {
    stopping = true
    await stop()
    process.exit(0)
  }
  process.on('message', (message) => {
    if (message === 'stop') void shutDown()
  })
  process.on('disconnect', () => void shutDown())
  send({ ready: endpoints })
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  await serve(JSON.parse(process.argv[2] ?? '{"port":0}') as LocalStackOptions)
}
