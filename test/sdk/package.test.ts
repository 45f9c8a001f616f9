import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc')

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a program to its end; a non-zero exit is a result to assert on, not a throw. */
function exec(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: 45_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

const compilerOptions = { target: 'ES2022', strict: true, noUncheckedIndexedAccess: true }

/** A Node app: imports the package and its protocol, talks to the local stack, prints one line. */
const nodeApp = `
import { ChatClient, ChatError, type ChatMessage } from '@huddle/client'
import { limits } from '@huddle/client/protocol'

const url = process.env.HUDDLE_URL ?? 'http://127.0.0.1:3001'
const run = process.env.RUN_ID ?? String(Date.now())
const [alice, bob, gid] = [\`alice-\${run}\`, \`bob-\${run}\`, \`packed-\${run}\`]

async function token(sub: string): Promise<string> {
  const response = await fetch(\`\${url}/dev/token\`, { method: 'POST', body: JSON.stringify({ sub }) })
  return ((await response.json()) as { token: string }).token
}
const connect = (sub: string) => ChatClient.connect(url.replace(/^http/, 'ws'), { token: () => token(sub) })

const [a, b] = await Promise.all([connect(alice), connect(bob)])
const bobsWrites: Promise<unknown>[] = []
b.chat().onInvite((group) => {
  if (group.gid === gid) bobsWrites.push(group.join())
})
b.chat().onMessage((message) => {
  bobsWrites.push(message.respond(\`re: \${message.body}\`))
})
const joined = new Promise((resolve) => a.chat().onJoin((iss, g) => g === gid && resolve(iss)))
const reply = new Promise<ChatMessage>((resolve) => a.chat().onMessage((m) => m.rid && resolve(m)))

const group = await a.chat().invite(gid, 'Packed', [bob])
await joined
const sent = await group.message('hello')
const answer = await reply
const tooLong = await group.message('x'.repeat(limits.bodyBytes + 1)).then(
  () => 'sent',
  (error: unknown) => (error instanceof ChatError ? error.code : String(error)),
)
// Closing rejects what is unsettled: alice may see bob's join and reply before bob has their acks.
await Promise.all(bobsWrites)
await Promise.all([a.close(), b.close()])
const from = answer.iss === bob ? 'bob' : answer.iss
const to = answer.rid === sent.jti ? 'hello' : String(answer.rid)
const socket = 'WebSocket' in globalThis ? 'the global WebSocket' : 'ws'
console.log(\`\${from} answered \${to} with "\${answer.body}"; a longer body: \${tooLong}; over \${socket}\`)
`

/** A browser app, type-checked only: the DOM's types and none of Node's. */
const browserApp = `
import { ChatClient, type ChatGroup, localStorageCursorStore } from '@huddle/client'
import { type ChatEvent, limits } from '@huddle/client/protocol'

const client = await ChatClient.connect('wss://chat.example/prod', {
  token: async () => 'jwt',
  cursors: localStorageCursorStore(),
})
const avatar = { data: new Blob([new Uint8Array(8)]), mime: 'image/png' }
const group: ChatGroup = await client.chat().invite('g', 'Group', ['bob'], avatar)
client.onEvent((event: ChatEvent) => {
  document.title = \`\${group.name}: \${event.type} (bodies up to \${limits.bodyBytes} bytes)\`
})
`

/** One mistake per line, each of which the declarations must refuse. */
const wrongApp = `import { ChatClient, fileCursorStore } from '@huddle/client'
const client = await ChatClient.connect('wss://chat.example/prod', { token: 42 })
await client.chat().invite('g', 'Group', 'bob')
await client.request('shout', { gid: 'g' })
`

describe('the @huddle/client tarball, installed in a project of its own', () => {
  let root: string
  let nodeProject: string
  let browserProject: string
  let helloProject: string
  let packed: { filename: string; files: { path: string }[] }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'huddle-package-'))
    expect(root.startsWith(repoRoot)).toBe(false)
    // Scripts off: it packs the dist that `npm run build` made, without rebuilding it under running tests.
    const pack = await exec(
      'npm',
      ['pack', '-w', '@huddle/client', '--pack-destination', root, '--json', '--ignore-scripts'],
      repoRoot,
    )
    expect(pack, pack.stderr).toMatchObject({ code: 0 })
    ;[packed] = JSON.parse(pack.stdout) as [typeof packed]
    const tarball = join(root, packed.filename)

    nodeProject = join(root, 'node-app')
    browserProject = join(root, 'browser-app')
    helloProject = join(root, 'hello')
    const nodeTypes = JSON.parse(
      await readFile(join(repoRoot, 'node_modules/@types/node/package.json'), 'utf8'),
    )
    const tsx = JSON.parse(await readFile(join(repoRoot, 'node_modules/tsx/package.json'), 'utf8'))
    await Promise.all([
      // docs/sdk.md's quick start: the SDK and tsx installed side by side, hello.ts as the page has it.
      setUp(helloProject, [tarball, `tsx@${tsx.version}`], { 'hello.ts': (await quickStart()).program }),
      setUp(nodeProject, [tarball, `@types/node@${nodeTypes.version}`], {
        'app.ts': nodeApp,
        'tsconfig.json': {
          compilerOptions: {
            ...compilerOptions,
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            lib: ['ES2022'],
            types: ['node'],
            // The package's declarations are checked too: none may need the DOM's types.
            skipLibCheck: false,
            noEmitOnError: true,
            outDir: 'out',
          },
          files: ['app.ts'],
        },
      }),
      setUp(browserProject, [tarball], {
        'app.ts': browserApp,
        'wrong.ts': wrongApp,
        'tsconfig.json': {
          compilerOptions: {
            ...compilerOptions,
            module: 'ESNext',
            moduleResolution: 'bundler',
            lib: ['ES2022', 'DOM'],
            types: [],
            noEmit: true,
          },
          files: ['app.ts'],
        },
        'tsconfig.wrong.json': { extends: './tsconfig.json', files: ['wrong.ts'] },
      }),
    ])
  })
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true })
  })

  it('holds the built modules, their declarations, the README and package.json, and depends on ws and ts-mls alone', async () => {
    const modules = (await readdir(join(repoRoot, 'packages/client/src')))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.slice(0, -'.ts'.length))
    const expected = [
      ...modules.flatMap((m) => [`dist/${m}.d.ts`, `dist/${m}.js`]),
      'README.md',
      'package.json',
    ]
    expect(packed.files.map((file) => file.path).sort()).toEqual(expected.sort())

    const installed = join(browserProject, 'node_modules/@huddle/client')
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))
    expect(Object.keys(manifest.dependencies)).toEqual(['@noble/hashes', 'ts-mls', 'ws'])
    for (const field of ['peerDependencies', 'optionalDependencies', 'bundleDependencies'])
      expect(manifest).not.toHaveProperty(field)
    // Source maps would point at sources the package does not ship.
    for (const file of packed.files) {
      const text = await readFile(join(installed, file.path), 'utf8')
      expect(text, file.path).not.toContain('@aws-sdk')
      expect(text, file.path).not.toContain('sourceMappingURL')
    }
    const lock = JSON.parse(await readFile(join(browserProject, 'package-lock.json'), 'utf8'))
    expect(Object.keys(lock.packages).sort()).toEqual([
      '',
      'node_modules/@hpke/common',
      'node_modules/@hpke/core',
      'node_modules/@huddle/client',
      'node_modules/@noble/ciphers',
      'node_modules/@noble/hashes',
      'node_modules/ts-mls',
      'node_modules/ws',
    ])
  })

  it('type-checks a Node app and a browser app without Node types, and refuses wrong calls', async () => {
    expect(existsSync(join(browserProject, 'node_modules/@types'))).toBe(false)
    const [node, browser, wrong] = await Promise.all([
      exec(process.execPath, [tsc, '-p', 'tsconfig.json'], nodeProject),
      exec(process.execPath, [tsc, '-p', 'tsconfig.json'], browserProject),
      exec(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], browserProject),
    ])
    expect(node, node.stdout).toMatchObject({ code: 0 })
    expect(browser, browser.stdout).toMatchObject({ code: 0 })
    expect(wrong.code).toBe(2)
    const refused = [...wrong.stdout.matchAll(/^wrong\.ts\((\d+),\d+\): error (TS\d+)/gm)].map(
      ([, line, code]) => `${line} ${code}`,
    )
    // Node's fileCursorStore is not in the browser's view; a number is no token; members is a list;
    // there is no action "shout".
    expect(refused).toEqual(['1 TS2724', '2 TS2322', '3 TS2345', '4 TS2345'])
  })

  it("runs docs/sdk.md's quick start with npx tsx where npm may not prompt, printing what the page shows", async () => {
    const run = await exec('npx', ['tsx', 'hello.ts'], helloProject, {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HUDDLE_URL: inject('httpUrl'),
      // npx may not ask to install anything: it must run the tsx installed beside the SDK.
      npm_config_yes: 'false',
    })
    expect(run, run.stderr).toMatchObject({ code: 0 })
    const { output } = await quickStart()
    // The page says the first two lines may come in either order.
    const sortFirstTwo = (lines: string[]) => [...lines.slice(0, 2).sort(), ...lines.slice(2)]
    expect(sortFirstTwo(run.stdout.trim().split('\n'))).toEqual(sortFirstTwo(output))
  })

  it('runs the app against the local stack, over ws (as on Node 20) and over the global WebSocket', async () => {
    const app = join(nodeProject, 'out/app.js')
    expect(existsSync(app), 'the type check emits the app').toBe(true)
    const env = (socket: string) => ({
      PATH: process.env.PATH,
      HUDDLE_URL: inject('httpUrl'),
      RUN_ID: `${socket}-${randomBytes(4).toString('hex')}`,
    })
    // Node 20 has a global WebSocket behind a flag, Node 22+ one a flag turns off: each run takes one path.
    const node22 = Number(process.versions.node.split('.')[0]) >= 22
    const withoutGlobal = node22 ? ['--no-experimental-websocket'] : []
    const withGlobal = node22 ? [] : ['--experimental-websocket', '--disable-warning=ExperimentalWarning']
    const [overWs, overGlobal] = await Promise.all([
      exec(process.execPath, [...withoutGlobal, app], nodeProject, env('ws')),
      exec(process.execPath, [...withGlobal, app], nodeProject, env('global')),
    ])
    const line = (socket: string) =>
      `bob answered hello with "re: hello"; a longer body: TOO_LARGE; over ${socket}\n`
    expect(overWs, overWs.stderr).toEqual({ code: 0, stdout: line('ws'), stderr: '' })
    expect(overGlobal, overGlobal.stderr).toEqual({
      code: 0,
      stdout: line('the global WebSocket'),
      stderr: '',
    })
  })
})

/** docs/sdk.md's quick start: the program it says to save as hello.ts, and the lines it says it prints. */
async function quickStart(): Promise<{ program: string; output: string[] }> {
  const page = await readFile(join(repoRoot, 'docs/sdk.md'), 'utf8')
  const program = /save this as `hello\.ts`[\s\S]*?```ts\n([\s\S]*?)```/.exec(page)?.[1]
  const output = /It prints what bob and alice see[\s\S]*?```\n([\s\S]*?)```/.exec(page)?.[1]
  if (!program || !output) throw new Error('docs/sdk.md no longer has the quick start this test runs')
  return { program, output: output.trim().split('\n') }
}

/** A fresh npm project outside the repository, with `packages` installed from the npm cache. */
async function setUp(dir: string, packages: string[], files: Record<string, string | object>): Promise<void> {
  await mkdir(dir)
  const manifest = { name: 'huddle-package-check', private: true, type: 'module' }
  await writeFile(join(dir, 'package.json'), JSON.stringify(manifest))
  const install = await exec(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...packages],
    dir,
  )
  expect(install, install.stderr).toMatchObject({ code: 0 })
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content))
  }
}
