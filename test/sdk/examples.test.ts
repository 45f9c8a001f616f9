import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { unreadableMark } from '../../examples/chat-lines.js'
import { huddleUrls, solidPng } from '../../examples/support.js'
import { device } from '../support/encrypted.js'
import { httpUrl, tokenFor, unique } from '../support/huddle.js'
import { cutConnections, waitFor } from '../support/sdk.js'

/** An example running as its own process, as `npm run` runs it, with everything it prints. */
function run(example: string, args: string[], env: Record<string, string> = {}) {
  const { HUDDLE_TOKEN: _token, PORT: _port, ...inherited } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${example}.ts`, ...args], {
    env: { ...inherited, HUDDLE_URL: httpUrl(), ...env },
  })
  const output = { stdout: '', stderr: '' }
  child.stdout.on('data', (chunk) => {
    output.stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    output.stderr += chunk
  })
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, ...output }))
  return { child, output, exited }
}

const running: ChildProcess[] = []

type Running = ReturnType<typeof run>

/** Terminal clients signed in as these identities, each once it says it is connected. */
async function terminals<const T extends string[]>(...identities: T): Promise<{ [K in keyof T]: Running }> {
  const clients = identities.map((iss) => run('chat', ['--as', iss]))
  running.push(...clients.map((client) => client.child))
  await Promise.all(clients.map((client, i) => printed(client, `${identities[i]} connected to`)))
  return clients as { [K in keyof T]: Running }
}

const printed = (who: Running, text: string) =>
  vi.waitFor(() => expect(who.output.stdout).toContain(text), { timeout: 15_000 })
const type = (who: Running, line: string) => who.child.stdin.write(`${line}\n`)
afterAll(() => {
  for (const child of running) child.kill('SIGINT')
})

describe('the examples', () => {
  it('walk through the README: the bot joins, create-group says hello after the join and prints the reply', async () => {
    const [alice, bot, bob] = [unique('alice'), unique('bot'), unique('bob')]
    const botRun = run('bot', ['--as', bot])
    running.push(botRun.child)
    await vi.waitFor(() => expect(botRun.output.stdout).toContain(`${bot} is online at ws://`), {
      timeout: 20_000,
    })

    const args = ['--as', alice, '--members', `${bot},${bob}`, '--name', 'Friends']
    const created = await run('create-group', args).exited
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    const lines = created.stdout.trim().split('\n')
    expect(lines.find((line) => line.startsWith('created '))).toMatch(
      new RegExp(`^created \\[Friends\\] \\(demo-\\w+\\) as ${alice} with `),
    )
    expect(lines).toContain(`waiting up to 30 s for ${bot} or ${bob} to join…`)
    expect(lines.some((line) => /^avatar \(image\/png, until .+\): http:\/\//.test(line))).toBe(true)
    // The hello is said once the bot has joined, and the bot's "hey!" comes after it.
    expect(lines.filter((line) => line.includes(' joined ') || line.startsWith('[Friends]'))).toEqual([
      `${bot} joined [Friends]`,
      `[Friends] ${alice}: hello from ${alice}`,
      `[Friends] ${bot}: hey!`,
    ])

    await vi.waitFor(() => expect(botRun.output.stdout).toContain(`[Friends] ${alice}: hello from ${alice}`))
    botRun.child.kill('SIGINT')
    expect((await botRun.exited).code).toBe(0)
  })

  it('let an admin in the terminal client change, ban and delete a group, and show the members each change', async () => {
    const [alice, bob, carol] = [unique('alice'), unique('bob'), unique('carol')]
    const gid = unique('term')
    const image = join(await mkdtemp(join(tmpdir(), 'huddle-')), 'club.png')
    await writeFile(image, solidPng(8, [200, 40, 40]).data)
    const [alices, bobs] = await terminals(alice, bob)

    type(alices, `/invite ${gid} Club ${bob},${carol}`)
    await printed(bobs, `* invited to [Club] (${gid})`)
    type(bobs, `/join ${gid}`)
    await printed(alices, `* ${bob} joined [Club]`)
    type(alices, '/rename Club Deluxe')
    await printed(alices, '* renamed the group to [Club Deluxe]')
    await printed(bobs, `[Club Deluxe] * ${alice} renamed the group to "Club Deluxe"`)
    // The prompt names the current group by its new name, after one's own rename and another admin's.
    await printed(alices, `[Club Deluxe] ${alice}> `)
    await printed(bobs, `[Club Deluxe] ${bob}> `)
    type(alices, `/avatar ${image}`)
    await printed(alices, '* [Club Deluxe] has a new avatar: http')
    await printed(bobs, `[Club Deluxe] * ${alice} changed its avatar`)
    type(alices, '/invites admins')
    await printed(bobs, `[Club Deluxe] * ${alice} let only admins invite`)
    type(alices, `/promote ${bob}`)
    await printed(bobs, `[Club Deluxe] * ${alice} made ${bob} an admin`)
    type(bobs, `/ban ${carol}`)
    await printed(alices, `[Club Deluxe] * ${bob} banned ${carol}`)
    type(bobs, '/bans')
    await printed(bobs, `banned: ${carol}`)
    type(alices, '/groups')
    await printed(alices, `${alice} (admin), ${bob} (admin)`)
    type(alices, '/history')
    await printed(alices, `  * ${alice} made ${bob} an admin\n  * ${bob} banned ${carol}\n`)

    type(alices, '/delete')
    await printed(alices, `* deleted [Club Deluxe] (${gid}) for everyone in it`)
    await printed(bobs, `* ${alice} deleted [Club Deluxe]`)
    type(bobs, 'still there?')
    await printed(bobs, 'no current group')
    for (const who of [alices, bobs]) who.child.stdin.end()
    for (const who of [alices, bobs]) expect((await who.exited).code).toBe(0)
    // An error is printed as `! CODE: message` right after the escape that clears the prompt's line.
    expect(alices.output.stdout + bobs.output.stdout).toContain('[K* ')
    expect(alices.output.stdout + bobs.output.stdout).not.toContain('[K! ')
  })

  it('let the terminal client send a file with /attach and save a received one with /save', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const gid = unique('term')
    const dir = await mkdtemp(join(tmpdir(), 'huddle-'))
    const notes = join(dir, 'notes.txt')
    await writeFile(notes, 'the minutes\n'.repeat(200))
    const saved = await mkdtemp(join(tmpdir(), 'huddle-saved-'))
    const [alices, bobs] = await terminals(alice, bob)

    type(alices, `/invite ${gid} Club ${bob}`)
    await printed(bobs, `* invited to [Club] (${gid})`)
    type(bobs, `/join ${gid}`)
    await printed(alices, `* ${bob} joined [Club]`)
    type(alices, `/attach ${notes} the minutes`)
    await printed(alices, '* sent notes.txt (2.3 KiB) to [Club] as message')
    await printed(bobs, `[Club] ${alice}: the minutes\n    [1] notes.txt (text/plain, 2.3 KiB): /save 1`)
    type(bobs, `/save 1 ${saved}`)
    await printed(bobs, `* saved notes.txt (2.3 KiB) as ${join(saved, 'notes.txt')}`)
    expect(await readFile(join(saved, 'notes.txt'), 'utf8')).toBe('the minutes\n'.repeat(200))
    // History shows the file under the number it has already; saving it again does not overwrite.
    type(bobs, '/history')
    await printed(bobs, `  ${alice}: the minutes\n    [1] notes.txt`)
    type(bobs, `/save 1 ${saved}`)
    await printed(bobs, `! ${join(saved, 'notes.txt')} exists: give another dir`)
    type(bobs, '/save 2')
    await printed(bobs, 'usage: /save <n> [dir], n from 1 to 1')
    for (const who of [alices, bobs]) who.child.stdin.end()
    for (const who of [alices, bobs]) expect((await who.exited).code).toBe(0)
  })

  it('let the terminal client create an end-to-end encrypted group whose messages its members read', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const gid = unique('term')
    const [alices, bobs] = await terminals(alice, bob)

    type(alices, `/encrypted ${gid} Sealed ${bob}`)
    await printed(alices, `* [Sealed] (end-to-end encrypted) members: ${alice}, ${bob}`)
    await printed(bobs, `* invited to [Sealed] (${gid})`)
    type(bobs, `/join ${gid}`)
    await printed(alices, `* ${bob} joined [Sealed]`)
    type(alices, 'only for bob')
    await printed(bobs, `[Sealed] ${alice}: only for bob`)
    type(bobs, 'read you')
    await printed(alices, `[Sealed] ${bob}: read you`)
    for (const who of [alices, bobs]) who.child.stdin.end()
    for (const who of [alices, bobs]) expect((await who.exited).code).toBe(0)
  })

  it('mark encrypted messages the terminal client cannot read, live, quoted in a reply and in history', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const gid = unique('term')
    const alices = await device(alice)
    const [bobs] = await terminals(bob)
    const group = await alices.chat.invite(gid, 'Sealed', [bob], undefined, { encrypted: true })
    await group.message('before you joined')
    await printed(bobs, `* invited to [Sealed] (${gid})`)
    type(bobs, `/join ${gid}`)
    await waitFor(() => expect(alices.joins).toContain(`${bob} joined ${gid}`))
    await group.message('can you read this?')
    await printed(bobs, `[Sealed] ${alice}: can you read this?`)
    // That message's ciphertext with its last byte changed: no device can open it, as if damaged on the way.
    const { events } = await alices.client.request('history', { gid, limit: 1 })
    const cipher = Buffer.from(String(events[0] && 'cipher' in events[0] ? events[0].cipher : ''), 'base64')
    cipher.writeUInt8(cipher.readUInt8(cipher.length - 1) ^ 1, cipher.length - 1)
    const damaged = crypto.randomUUID()
    await alices.client.request('message', { gid, jti: damaged, body: '', cipher: cipher.toString('base64') })
    await group.message('about that', { rid: damaged })
    await printed(bobs, `[Sealed] ${alice}: ${unreadableMark}\n`)
    await printed(bobs, `[Sealed] ${alice} (reply to ${alice}: "${unreadableMark}"): about that`)
    type(bobs, '/history')
    await printed(bobs, `  ${alice}: ${unreadableMark}\n`)
    await printed(bobs, `  ${alice} (reply to ${alice}: "${unreadableMark}"): about that`)
    bobs.child.stdin.end()
    expect((await bobs.exited).code).toBe(0)
    expect(bobs.output.stdout).not.toMatch(new RegExp(`${alice}: \n`))
  })

  it('take the token from HUDDLE_TOKEN_COMMAND before every connect, and say which command failed', async () => {
    const bot = unique('bot')
    const dir = await mkdtemp(join(tmpdir(), 'huddle-'))
    const token = await tokenFor(bot)
    await writeFile(join(dir, 'token'), `${token}\n`)
    const command = `echo run >> ${join(dir, 'runs')}; cat ${join(dir, 'token')}`
    const botRun = run('bot', [], { HUDDLE_TOKEN_COMMAND: command })
    running.push(botRun.child)
    await printed(botRun, `${bot} is online at ws://`)
    await cutConnections(bot)
    await printed(botRun, '(connection open)')
    expect(await readFile(join(dir, 'runs'), 'utf8')).toBe('run\nrun\n')
    botRun.child.kill('SIGINT')
    const { stdout, stderr } = await botRun.exited
    expect(stdout + stderr).not.toContain(token)

    const failing = await run('bot', [], { HUDDLE_TOKEN_COMMAND: 'echo no such user >&2; exit 3' }).exited
    expect(failing).toMatchObject({ code: 1, stdout: '' })
    expect(failing.stderr).toBe(
      'bot: HUDDLE_TOKEN_COMMAND (echo no such user >&2; exit 3) exited with code 3: no such user: run it by hand to see why, then fix it (or set HUDDLE_TOKEN)\n',
    )
  })

  it('refuse --as that disagrees with the token, and take the identity from the token without it', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')]
    const token = await tokenFor(alice)
    const refused = await run('chat', ['--as', bob], { HUDDLE_TOKEN: token }).exited
    expect(refused).toMatchObject({ code: 1, stdout: '' })
    expect(refused.stderr).toBe(
      `chat: the token names ${alice}, not ${bob}: drop --as or use ${bob}'s token\n`,
    )
    const byClaim = await run('chat', ['--as', bob], { HUDDLE_TOKEN: token, HUDDLE_IDENTITY_CLAIM: 'aud' })
      .exited
    expect(byClaim.stderr).toBe(
      `chat: the token names ${decodeJwt(token).aud}, not ${bob}: drop --as or use ${bob}'s token\n`,
    )
    const chat = run('chat', [], { HUDDLE_TOKEN: token })
    running.push(chat.child)
    await printed(chat, `${alice} connected to ws://`)
    chat.child.stdin.end()
    expect((await chat.exited).code).toBe(0)
  })

  it('say in one line what failed and what to do, and exit non-zero', async () => {
    const closed = createServer().listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const { port } = closed.address() as { port: number }
    closed.close()

    const noStack = await run('create-group', [], { HUDDLE_URL: `ws://127.0.0.1:${port}/` }).exited
    expect(noStack).toMatchObject({ code: 1, stdout: '' })
    expect(noStack.stderr).toBe(
      `create-group: nothing answers at http://127.0.0.1:${port}: start the stack with \`npm start\` ` +
        '(it prints its address), or point PORT or HUDDLE_URL at it\n',
    )

    const noImage = await run('create-group', ['--image', 'no-such-photo.jpg']).exited
    expect(noImage.code).toBe(1)
    expect(noImage.stderr).toMatch(
      /^create-group: cannot read the image \/\S+\/no-such-photo\.jpg \(no such file\)/,
    )
    expect(noImage.stderr.trim().split('\n')).toHaveLength(1)

    const refused = await run('bot', [], { HUDDLE_TOKEN: 'not-a-jwt' }).exited
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^bot: ws:\/\/\S+ refused HUDDLE_TOKEN \(401\): /)
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
  })
})

describe('huddleUrls', () => {
  it('takes the http(s) or ws(s) form, with or without a trailing slash, and derives the other', () => {
    for (const given of ['http://h:1', 'ws://h:1/', 'http://h:1/']) {
      expect(huddleUrls({ HUDDLE_URL: given })).toEqual({ http: 'http://h:1', ws: 'ws://h:1' })
    }
    expect(huddleUrls({ HUDDLE_URL: 'wss://api.example.com/prod/' })).toEqual({
      http: 'https://api.example.com/prod',
      ws: 'wss://api.example.com/prod',
    })
  })

  it('uses PORT when HUDDLE_URL is unset, as npm start does', () => {
    expect(huddleUrls({})).toEqual({ http: 'http://127.0.0.1:3001', ws: 'ws://127.0.0.1:3001' })
    expect(huddleUrls({ PORT: '3105' }).ws).toBe('ws://127.0.0.1:3105')
    expect(huddleUrls({ PORT: '3105', HUDDLE_URL: 'ws://h:1' }).ws).toBe('ws://h:1')
  })

  it('refuses anything else with a message that says what to give', () => {
    for (const given of ['localhost:3001', 'ftp://h:1', 'ws://h:1/?token=x', 'not a url']) {
      expect(() => huddleUrls({ HUDDLE_URL: given })).toThrow(`HUDDLE_URL=${given} is not an address`)
    }
    expect(() => huddleUrls({ PORT: 'abc' })).toThrow('PORT=abc is not a port number')
  })
})
