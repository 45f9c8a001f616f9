import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import {
  awsBehaviourVariables,
  behavioursFromEnvironment,
  describeBehaviours,
  resolveBehaviours,
} from './aws-behaviours.js'
import { isAlive } from './data-dir.js'
import { type LocalStack, startLocalStack } from './stack.js'

// Node 20 is supported here; the SDK's notice about its future Node 22 minimum is noise for a local run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

// Once the terminal or pipe it writes to is gone, a log line must not become an error (nor an endless
// loop of them, through the uncaughtException handler below).
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})

/** `npm start`: the local stack in one command. */
async function main(): Promise<void> {
  const inMemory = process.argv.includes('--in-memory')
  const port = Number(process.env.PORT ?? 3001)
  // Before anything starts: a taken port found after the emulators started would leave them to stop again.
  if (port !== 0 && !(await portIsFree(port))) {
    const free = await freePortAfter(port)
    const huddle = await isHuddle(port)
    console.error(
      huddle
        ? `Huddle could not start: port ${port} is in use by another Huddle local stack (http://127.0.0.1:${port}): use that one, or stop it; for a second one, run PORT=${free} HUDDLE_DATA_DIR=.huddle-${free} npm start`
        : `Huddle could not start: port ${port} is in use; run PORT=${free} npm start`,
    )
    process.exit(1)
  }
  const dataDir = inMemory ? undefined : (process.env.HUDDLE_DATA_DIR ?? '.huddle')
  // The origins a browser app may upload avatars from, as the deployed bucket's corsOrigins (all by default);
  // a list given always lets in the web chat this stack serves.
  const corsOrigins = process.env.HUDDLE_CORS_ORIGINS?.split(',')
    .map((origin) => origin.trim())
    .concat(`http://127.0.0.1:${port}`, `http://localhost:${port}`)

  // Ctrl-C, kill, a closed terminal: all stop the emulators with the gateway, even while they start.
  let stopping: Promise<void> | undefined
  let starting: Promise<LocalStack> | undefined
  const stop = (code: number) => {
    stopping ??= (async () => {
      console.log('\nstopping…')
      const started = await starting?.catch(() => undefined)
      await started?.stop().catch((error: unknown) => console.error(error))
      process.exit(code)
    })()
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(0))
  process.on('uncaughtException', (error) => {
    console.error(error)
    stop(1)
  })
  watchLaunchers(() => stop(0))

  // AWS's failures (transaction conflicts, S3's 403s) are reproduced unless the environment turns them off.
  const aws = behavioursFromEnvironment(process.env)

  starting = startLocalStack({
    port,
    aws,
    ...(dataDir && { dataDir }),
    ...(corsOrigins && { s3: { corsOrigins } }),
    log: (line) => console.log(line),
  })
  const stack = await starting
  if (stopping) return

  const ws = stack.url.replace('http', 'ws')
  console.log(`
Huddle is running locally${dataDir ? ` (data in ${dataDir}/)` : ' (in memory)'}.

  Web chat    ${stack.url}/   (open it in two browser windows; sign up as two people)
  Sign-in     ${stack.url}/oidc   (an OpenID Connect provider: the web chat's; /dev/token signs for scripts)
  WebSocket   ${ws}/?token=<JWT>
  Token       curl -s -X POST ${stack.url}/dev/token -d '{"sub":"alice"}'
  Connect     npx wscat -c "${ws}/?token=$(curl -s -X POST ${stack.url}/dev/token -d '{"sub":"alice"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')"
  Health      ${stack.url}/health
  Lambda      ${stack.url}/2015-03-31/functions/<name>/invocations   (Invoke, signed for service lambda; same credentials)
  DynamoDB    ${stack.dynamoEndpoint}   (credentials S3RVER/S3RVER, region us-east-1)
  S3          ${stack.s3Endpoint}   (same credentials)

  AWS-like    ${describeBehaviours(resolveBehaviours(aws))}
              counters at ${stack.url}/dev/aws-behaviours; HUDDLE_AWS=off turns all off, or set one of
              ${Object.values(awsBehaviourVariables).join(', ')}
              (docs/testing.md, "AWS behaviours in the local stack")

Ctrl-C stops it.`)
}

/** Whether the gateway could listen on `port` (on 127.0.0.1, as it does). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** Whether a Huddle local stack answers on `port` (its /health), which holds its data folder too. */
async function isHuddle(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })
    const body = (await response.json()) as { status?: unknown }
    return body.status === 'ok' || body.status === 'starting'
  } catch {
    return false
  }
}

/** The first free port of the next twenty, else one the system picks. */
async function freePortAfter(port: number): Promise<number> {
  for (let next = port + 1; next <= Math.min(port + 20, 65_535); next++)
    if (await portIsFree(next)) return next
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/**
 * npm and npx forward SIGINT and SIGTERM to the script, but not SIGHUP: `kill -HUP` of `npm start` would
 * leave this process (and its emulators) running. So it also stops when the process that launched it is
 * gone: its parent (tsx), and up the chain to the npm or npx that ran it.
 */
function watchLaunchers(stop: () => void): void {
  const launchers = launcherChain()
  const startParent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid !== startParent || launchers.some((pid) => !isAlive(pid))) {
      clearInterval(timer)
      stop()
    }
  }, 500)
  timer.unref()
}

/** Ancestor pids up to the nearest npm or npx (Linux's /proc); just the parent elsewhere. */
function launcherChain(): number[] {
  const chain: number[] = []
  let pid = process.ppid
  for (let depth = 0; depth < 5 && pid > 1; depth++) {
    chain.push(pid)
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ')
      if (/(^|[\s/])(npm|npx)(\s|$)|npm-cli\.js|npx-cli\.js/.test(command)) return chain
      // Field 4 of /proc/<pid>/stat, after the parenthesised command name, is the parent's pid.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    } catch {
      break
    }
  }
  return chain.slice(0, 1)
}

main().catch((error) => {
  console.error(`Huddle could not start: ${error instanceof Error ? error.message : error}`)
  // Taken between the check and the gateway's start.
  if (String(error).includes('EADDRINUSE'))
    console.error('The port was taken meanwhile: run npm start again, or set PORT to another one.')
  process.exit(1)
})
