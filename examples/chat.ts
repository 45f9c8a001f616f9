/**
 * A terminal chat client: `npm run chat -- --as alice`. Type /help for the commands;
 * a line that is not a command goes to the current group.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, extname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import {
  type AttachmentFile,
  type ChatAttachment,
  ChatError,
  type ChatGroup,
  type ChatMessage,
  fileCursorStore,
  fileEncryptionStore,
} from '@huddle/client'
import { describeChange, historyLine, Quotes, textOf } from './chat-lines.js'
import { connectAs, ExampleError, exitOnError, huddleUrls, readImage } from './support.js'

const help = `commands:
  /invite <gid> <name> <member,member> [image path]   create a group (or add members); quote a name with spaces
  /encrypted <gid> <name> <member,member>   create an end-to-end encrypted group
  /join <gid>          accept an invite
  /leave [gid]         leave a group (default: the current one)
  /decline <gid> [block]   decline an invite (and block whoever sent it)
  /remove <who>        remove a member from the current group (admins)
  /rename <name>, /avatar <image path>, /invites admins|members   change the current group (admins)
  /promote <who>, /demote <who>   make a member an admin, or a member again (admins)
  /ban <who>, /unban <who>, /bans   keep an identity out of the current group (admins)
  /delete              delete the current group, for everyone in it (admins)
  /block <who>, /unblock <who>, /blocked   invites from a blocked identity never reach you
  /groups              list your groups and invites, with unread counts
  /switch <gid>        send plain lines to this group
  /attach <file path> [text]   send a file (encrypted before it leaves) to the current group, with text
  /save <n> [dir]      download file [n] of a message into dir (default: where you started the chat)
  /history [n]         the current group's last n events (default 20), and mark them read
  /help                this text
  /quit                exit
anything else is sent to the current group`

/** Parses the options and connects; a failure ends the program with one line that says what to do. */
async function start() {
  const { values } = parseArgs({ options: { as: { type: 'string' } } })
  // Positions are kept between runs, so what was said while this client was closed is shown when it starts.
  await mkdir('.huddle', { recursive: true })
  // So are this device's keys of end-to-end encrypted groups.
  const { client, me } = await connectAs(values.as, process.env.USER ?? 'guest', (me) => ({
    cursors: fileCursorStore(`.huddle/cursors-${me}.json`),
    encryption: { store: fileEncryptionStore(`.huddle/keys-${me}`) },
  }))
  return { me, client, chat: client.chat() }
}

const { me, client, chat } = await start().catch(exitOnError)
const groups = new Map<string, ChatGroup>()
let current: string | undefined
for (const group of await chat.groups()) groups.set(group.gid, group)

const rl = createInterface({ input: process.stdin, output: process.stdout })
const label = (gid: string) => `[${groups.get(gid)?.name ?? gid}]`
const updatePrompt = () => rl.setPrompt(current ? `${label(current)} ${me}> ` : `${me}> `)

/** Prints above the line being typed, then redraws the prompt with what was typed so far. */
function show(text: string): void {
  process.stdout.write('\r\x1b[K')
  console.log(text)
  rl.prompt(true)
}

function remember(group: ChatGroup, select: boolean): void {
  groups.set(group.gid, group)
  if (select) current = group.gid
  updatePrompt()
}

/** A group that ended for this identity (left, removed, banned, deleted) is no longer listed or current. */
function forget(gid: string): void {
  groups.delete(gid)
  if (current === gid) current = undefined
  updatePrompt()
}

/** The current group, for a command that acts on it; undefined after showing how to use the command. */
function currentGroup(usage: string): ChatGroup | undefined {
  const group = current ? groups.get(current) : undefined
  if (!group) show(`usage: ${usage}, in the current group (/switch <gid> first)`)
  return group
}

updatePrompt()

/** Messages seen so far, live and in history, so that a reply quotes the one it answers. */
const quotes = new Quotes()

/** What follows a message's sender: the message it answers, its text (or the mark), its files. */
function messageLine(message: ChatMessage): string {
  const line = `${quotes.replyOf(message)}: ${textOf(message)}${files(message)}`
  quotes.seen(message)
  return line
}

/** Every file seen so far, in messages and history: `/save <n>` downloads the n-th. */
const attachments: ChatAttachment[] = []
/** Relative paths are taken from where `npm run` was typed, not from the repository root npm runs in. */
const startedIn = process.env.INIT_CWD ?? process.cwd()

/** A message's files, one line each with the number `/save` takes (the same number when seen again). */
function files(message: ChatMessage): string {
  return message.attachments
    .map((file) => {
      let n = attachments.findIndex((seen) => seen.gid === file.gid && seen.key === file.key) + 1
      if (n === 0) n = attachments.push(file)
      return `\n    [${n}] ${file.name} (${file.mime}, ${sizeOf(file.size)}): /save ${n}`
    })
    .join('')
}

function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

const fileTypes: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.json': 'application/json',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.zip': 'application/zip',
}

/** Reads a file to send, its type taken from the extension (`application/octet-stream` when unknown). */
async function readAttachment(path: string): Promise<AttachmentFile & { data: Uint8Array }> {
  const file = resolve(startedIn, path)
  const mime = fileTypes[extname(file).toLowerCase()] ?? 'application/octet-stream'
  const data = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new ExampleError(`cannot read ${file} (${error.code}): give the path of a readable file`)
  })
  return { name: basename(file), mime, data }
}

chat.onInvite((group) => {
  remember(group, false)
  show(`* invited to ${label(group.gid)} (${group.gid}) with ${group.members.join(', ')}: /join ${group.gid}`)
})
chat.onJoin((iss, gid) => {
  const group = groups.get(gid)
  if (group && !group.members.includes(iss)) group.members.push(iss)
  show(`* ${iss} joined ${label(gid)}`)
})
chat.onLeave((iss, gid, event) => {
  const group = groups.get(gid)
  if (group) group.members = group.members.filter((member) => member !== iss)
  show(event.by ? `* ${event.by} removed ${iss} from ${label(gid)}` : `* ${iss} left ${label(gid)}`)
  if (iss === me) forget(gid)
})
chat.onMessage((message) => show(`${label(message.gid)} ${message.iss}${messageLine(message)}`))
chat.onEdit((edit) => show(`${label(edit.gid)} * ${edit.iss} edited a message: ${textOf(edit)}`))
chat.onDelete((deleted) => show(`${label(deleted.gid)} * ${deleted.iss} deleted a message`))
chat.onChange((change, group) => {
  updatePrompt()
  show(`${label(change.gid)} * ${describeChange(change)}`)
  // Banned: the group has ended for this identity.
  if (group?.status === 'left') forget(change.gid)
})
chat.onGroupDelete((deleted) => {
  show(`* ${deleted.iss} deleted ${label(deleted.gid)}`)
  forget(deleted.gid)
})
let quitting = false
client.onStatus((status) => {
  if (status !== 'closed') return show(`* connection ${status}`)
  // The client gave up (its token refused again and again): nothing more can be done in this session.
  if (!quitting) process.exit(1)
})
client.onConnectionError((error) => show(`! connection: ${error.code}: ${error.message}`))

const commands: Record<string, (args: string[]) => Promise<void> | void> = {
  async invite([gid, name, members, image]) {
    if (!gid || !name || !members) return show('usage: /invite <gid> <name> <member,member> [image path]')
    const avatar = image ? await readImage(image) : undefined
    const group = await chat.invite(gid, name, members.split(',').filter(Boolean), avatar)
    remember(group, true)
    show(`* ${label(gid)} members: ${group.members.join(', ')}`)
  },
  async encrypted([gid, name, members]) {
    if (!gid || !name || !members) return show('usage: /encrypted <gid> <name> <member,member>')
    const group = await chat.invite(gid, name, members.split(',').filter(Boolean), undefined, {
      encrypted: true,
    })
    remember(group, true)
    show(`* ${label(gid)} (end-to-end encrypted) members: ${group.members.join(', ')}`)
  },
  async join([gid]) {
    if (!gid) return show('usage: /join <gid>')
    const group = await chat.join(gid)
    remember(group, true)
    show(`* joined ${label(gid)} with ${group.members.join(', ')}`)
  },
  async leave([gid = current]) {
    if (!gid) return show('usage: /leave <gid>')
    await chat.leave(gid)
    forget(gid)
    show(`* left ${gid}`)
  },
  async decline([gid, block]) {
    if (!gid) return show('usage: /decline <gid> [block]')
    const invite = (await chat.groups()).find((group) => group.gid === gid)
    if (!invite) return show(`no invite to ${gid}: /groups lists yours`)
    await invite.decline({ block: block === 'block' })
    show(`* declined ${gid}${block === 'block' ? `, and blocked ${invite.invitedBy}` : ''}`)
  },
  async remove([who]) {
    const group = currentGroup('/remove <who>')
    if (!group) return
    if (!who) return show('usage: /remove <who>')
    await group.remove(who)
    show(`* removed ${who} from ${label(group.gid)}`)
  },
  async rename(words) {
    const group = currentGroup('/rename <name>')
    if (!group) return
    const name = words.join(' ')
    if (!name) return show('usage: /rename <name>')
    await group.update({ name })
    updatePrompt()
    show(`* renamed the group to ${label(group.gid)}`)
  },
  async avatar([path]) {
    const group = currentGroup('/avatar <image path>')
    if (!group) return
    if (!path) return show('usage: /avatar <image path>')
    await group.update({ image: await readImage(path) })
    show(`* ${label(group.gid)} has a new avatar: ${group.image?.url}`)
  },
  async invites([policy]) {
    const group = currentGroup('/invites admins|members')
    if (!group) return
    if (policy !== 'admins' && policy !== 'members') return show('usage: /invites admins|members')
    await group.update({ invites: policy })
    show(`* ${policy === 'admins' ? 'only admins' : 'every member'} may invite to ${label(group.gid)} now`)
  },
  async promote([who]) {
    const group = currentGroup('/promote <who>')
    if (!group) return
    if (!who) return show('usage: /promote <who>')
    await group.promote(who)
    show(`* ${who} is an admin of ${label(group.gid)} now`)
  },
  async demote([who]) {
    const group = currentGroup('/demote <who>')
    if (!group) return
    if (!who) return show('usage: /demote <who>')
    await group.demote(who)
    show(`* ${who} is a member of ${label(group.gid)} again, not an admin`)
  },
  async ban([who]) {
    const group = currentGroup('/ban <who>')
    if (!group) return
    if (!who) return show('usage: /ban <who>')
    await group.ban(who)
    show(`* banned ${who} from ${label(group.gid)}: /unban ${who} lets them be invited again`)
  },
  async unban([who]) {
    const group = currentGroup('/unban <who>')
    if (!group) return
    if (!who) return show('usage: /unban <who>')
    await group.unban(who)
    show(`* ${who} may be invited to ${label(group.gid)} again`)
  },
  async bans() {
    const group = currentGroup('/bans')
    if (!group) return
    const list = await group.banned()
    show(list.length === 0 ? `no one is banned from ${label(group.gid)}` : `banned: ${list.join(', ')}`)
  },
  async delete() {
    const group = currentGroup('/delete')
    if (!group) return
    const name = label(group.gid)
    await group.deleteGroup()
    forget(group.gid)
    show(`* deleted ${name} (${group.gid}) for everyone in it`)
  },
  async block([who]) {
    if (!who) return show('usage: /block <who>')
    await chat.block(who)
    show(`* ${who}'s invites no longer reach you`)
  },
  async unblock([who]) {
    if (!who) return show('usage: /unblock <who>')
    await chat.unblock(who)
    show(`* ${who}'s invites reach you again`)
  },
  async blocked() {
    const list = await chat.blocked()
    show(list.length === 0 ? 'you block no one' : `you block: ${list.join(', ')}`)
  },
  async groups() {
    const list = await chat.groups()
    for (const group of list) remember(group, false)
    if (list.length === 0) return show('no groups yet: /invite one, or wait for an invite')
    const marker = (gid: string) => (gid === current ? '>' : ' ')
    const unread = (g: ChatGroup) => (g.unread ? `  (${g.unread} unread)` : '')
    const members = (g: ChatGroup) => g.members.map((m) => (g.admins.includes(m) ? `${m} (admin)` : m))
    show(
      list
        .map(
          (g) =>
            `${marker(g.gid)} ${g.gid}  ${label(g.gid)}  ${g.status}  ${members(g).join(', ')}${unread(g)}`,
        )
        .join('\n'),
    )
  },
  async history([count = '20']) {
    const group = current ? groups.get(current) : undefined
    if (!group) return show('no current group: /switch <gid> first')
    const page = await group.history({ limit: Math.min(100, Math.max(1, Number(count) || 20)) })
    show(
      page.events
        .reverse()
        .map((event) => historyLine(event, messageLine))
        .join('\n') || 'nothing yet',
    )
    await group.markRead(page.head)
  },
  async attach([path, ...words]) {
    const group = currentGroup('/attach <file path> [text]')
    if (!group) return
    if (!path) return show('usage: /attach <file path> [text]')
    const file = await readAttachment(path)
    // A message's body may not be empty: without text, the file's name is said.
    const sent = await group.message(words.join(' ') || file.name, { attachments: [file] })
    show(
      `* sent ${file.name} (${sizeOf(file.data.byteLength)}) to ${label(group.gid)} as message ${sent.seq}`,
    )
  },
  async save([n, dir = '.']) {
    const attachment = attachments[Number(n) - 1]
    if (!attachment) {
      return show(`usage: /save <n> [dir], n from 1 to ${attachments.length} (the [n] beside a file)`)
    }
    const bytes = await attachment.download()
    // Only the name's last part: a sender cannot make the file land outside `dir`.
    const path = resolve(startedIn, dir, basename(attachment.name) || `file-${n}`)
    await writeFile(path, bytes, { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      throw new ExampleError(
        error.code === 'EEXIST' ? `${path} exists: give another dir` : `cannot write ${path}: ${error.code}`,
      )
    })
    show(`* saved ${attachment.name} (${sizeOf(bytes.byteLength)}) as ${path}`)
  },
  switch([gid]) {
    if (!gid || !groups.has(gid)) return show(`unknown group${gid ? ` ${gid}` : ''}: /groups lists yours`)
    current = gid
    updatePrompt()
  },
  help() {
    show(help)
  },
  async quit() {
    rl.close()
  },
}

async function handle(line: string): Promise<void> {
  const text = line.trim()
  if (!text) return
  if (!text.startsWith('/')) {
    if (!current) return show('no current group: /switch <gid>, /join <gid> or /invite first')
    await groups.get(current)?.message(text)
    return
  }
  const [name = '', ...args] = [...text.matchAll(/"([^"]*)"|(\S+)/g)].map(
    (match) => match[1] ?? match[2] ?? '',
  )
  const command = commands[name.slice(1)]
  if (!command) return show(`unknown command ${name}: /help`)
  await command(args)
}

// Lines are handled one after another, so a pasted batch of commands runs in order.
let previous = Promise.resolve()
rl.on('line', (line) => {
  previous = previous
    .then(() => handle(line))
    .catch((error: unknown) =>
      show(
        error instanceof ChatError
          ? `! ${error.code}: ${error.message}`
          : `! ${error instanceof ExampleError ? error.message : error}`,
      ),
    )
    .finally(() => rl.prompt())
})
rl.on('close', () => {
  quitting = true
  void previous.then(() => client.close()).then(() => process.exit(0))
})

show(`${me} connected to ${huddleUrls().ws}. /help lists the commands.`)
