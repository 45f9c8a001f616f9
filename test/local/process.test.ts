import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchDevToken } from '../../local/dev-tokens.js'
import { handshakeStatus } from '../support/huddle.js'

// `npm start` as a first-time user meets it: `npx tsx local/start.ts` over a data folder of its own.
const root = fileURLToPath(new URL('../..', import.meta.url))
let dataDir: string
const started: ChildProcess[] = []

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'huddle-start-'))
})
afterAll(async () => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL')
  await rm(dataDir, { recursive: true, force: true })
})

interface Running {
  child: ChildProcess
  url: string
  ports: number[]
}

/** Starts the local stack; resolves once it prints where it runs, rejects if it exits first. */
function npmStart(port = 0): Promise<Running> {
  const child = spawn('npx', ['tsx', 'local/start.ts'], {
    cwd: root,
    env: { ...process.env, HUDDLE_DATA_DIR: dataDir, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  let output = ''
  return new Promise((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += chunk
      const url = /Health\s+(http:\/\/\S+)\/health/.exec(output)?.[1]
      const ports = [...output.matchAll(/^\s+(?:Health|DynamoDB|S3)\s+http:\/\/127\.0\.0\.1:(\d+)/gm)]
      if (url && ports.length === 3) resolve({ child, url, ports: ports.map((match) => Number(match[1])) })
    }
    child.stdout?.on('data', read)
    child.stderr?.on('data', read)
    child.once('exit', (code) => reject(new StartFailed(code, output)))
  })
}

class StartFailed extends Error {
  constructor(
    readonly code: number | null,
    readonly output: string,
  ) {
    super(`npm start exited with ${code}: ${output}`)
  }
}

/** Whether anything still listens on a loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** DynamoDB Local processes (Java) working on this test's data folder. */
function dynamoDbLocals(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        return command.includes('DynamoDBLocal') && command.includes(dataDir)
      } catch {
        return false
      }
    })
    .map(Number)
}

async function expectAllStopped(running: Running): Promise<void> {
  await expect
    .poll(async () => (await Promise.all(running.ports.map(listening))).some(Boolean), { timeout: 30_000 })
    .toBe(false)
  await expect.poll(dynamoDbLocals, { timeout: 30_000 }).toEqual([])
  await expect.poll(() => existsSync(join(dataDir, 'local-stack.lock')), { timeout: 10_000 }).toBe(false)
}

describe.runIf(process.platform === 'linux')('npm start', () => {
  let first: Running
  let token: string

  it('refuses a port in use before anything starts, and names one that is free', async () => {
    const listen = (port: number) =>
      new Promise<Server | undefined>((resolve) => {
        const server = createServer()
        server.once('error', () => resolve(undefined))
        server.listen(port, '127.0.0.1', () => resolve(server))
      })
    const taken = await listen(0)
    if (!taken) throw new Error('no port to take')
    const { port } = taken.address() as AddressInfo
    // The next port too, where it can be had: the advice must skip it.
    const next = await listen(port + 1)
    try {
      const failed = await npmStart(port).then(
        () => undefined,
        (error: unknown) => error as StartFailed,
      )
      expect(failed?.code).toBe(1)
      const advice = new RegExp(
        `^Huddle could not start: port ${port} is in use; run PORT=(\\d+) npm start$`,
        'm',
      )
      const suggested = Number(advice.exec(failed?.output ?? '')?.[1])
      expect(failed?.output).toMatch(advice)
      expect([port, port + 1]).not.toContain(suggested)
      const free = await listen(suggested)
      expect(free).toBeDefined()
      free?.close()
      // Nothing was started: no emulator, no lock on the data folder.
      expect(failed?.output).not.toMatch(/DynamoDB|S3/)
      expect(dynamoDbLocals()).toEqual([])
      expect(existsSync(join(dataDir, 'local-stack.lock'))).toBe(false)
    } finally {
      taken.close()
      next?.close()
    }
  }, 60_000)

  it('takes over a stale lock, and refuses a second start over the same data folder', async () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(join(dataDir, 'local-stack.lock'), `${gone}\n`)
    first = await npmStart()
    expect((await fetch(`${first.url}/health`)).status).toBe(200)
    token = await fetchDevToken(first.url, 'alice')

    const second = await npmStart().then(
      () => undefined,
      (error: unknown) => error as StartFailed,
    )
    expect(second?.code).toBe(1)
    const holder = readFileSync(join(dataDir, 'local-stack.lock'), 'utf8').trim()
    expect(second?.output).toContain(`is in use by another Huddle local stack (pid ${holder})`)
    expect((await fetch(`${first.url}/health`)).status).toBe(200)
  }, 120_000)

  it('stops the gateway, DynamoDB Local and the S3 emulator on SIGTERM', async () => {
    expect(dynamoDbLocals()).toHaveLength(1)
    first.child.kill('SIGTERM')
    await expectAllStopped(first)
  }, 60_000)

  it('keeps dev tokens valid across a restart, and stops everything on SIGHUP', async () => {
    // On the same port, as `npm start` always runs: the tokens' issuer is the stack's own address.
    const again = await npmStart(Number(new URL(first.url).port))
    expect(await handshakeStatus(`${again.url.replace('http', 'ws')}/?token=${token}`)).toBe(101)
    // npm and npx do not forward SIGHUP: the stack stops because its launcher is gone.
    again.child.kill('SIGHUP')
    await expectAllStopped(again)
  }, 120_000)
})
