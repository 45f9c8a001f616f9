/**
 * A terminal chat client: `npm run chat -- --as alice`. Type /help for the commands;
 * a line that is not a command goes to the current group.
 */
import { mkdir } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ChatError, type ChatGroup, fileCursorStore, type HistoryPage } from '@huddle/client'
import { connectAs, ExampleError, exitOnError, huddleUrls, readImage } from './support.js'

const help = `commands:
  /invite <gid> <name> <member,member> [image path]   create a group (or add members); quote a name with spaces
  /join <gid>          accept an invite
  /leave [gid]         leave a group (default: the current one)
  /decline <gid> [block]   decline an invite (and block whoever sent it)
  /remove <who>        remove a member from the current group (admins)
  /block <who>, /unblock <who>, /blocked   invites from a blocked identity never reach you
  /groups              list your groups and invites, with unread counts
  /switch <gid>        send plain lines to this group
  /history [n]         the current group's last n events (default 20), and mark them read
  /help                this text
  /quit                exit
anything else is sent to the current group`

/** Parses the options and connects; a failure ends the program with one line that says what to do. */
async function start() {
  const { values } = parseArgs({ options: { as: { type: 'string', default: process.env.USER ?? 'guest' } } })
  const me = values.as
  // Positions are kept between runs, so what was said while this client was closed is shown when it starts.
  await mkdir('.huddle', { recursive: true })
  const client = await connectAs(me, { cursors: fileCursorStore(`.huddle/cursors-${me}.json`) })
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

updatePrompt()

chat.onInvite((group) => {
  remember(group, false)
  show(`* invited to ${label(group.gid)} (${group.gid}) with ${group.members.join(', ')}: /join ${group.gid}`)
})
chat.onJoin((iss, gid) => {
  const group = groups.get(gid)
  if (group && !group.members.includes(iss)) group.members.push(iss)
  show(`* ${iss} joined ${label(gid)}`)
})
chat.onLeave((iss, gid) => {
  const group = groups.get(gid)
  if (group) group.members = group.members.filter((member) => member !== iss)
  show(`* ${iss} left ${label(gid)}`)
})
chat.onMessage((message) => {
  show(`${label(message.gid)} ${message.iss}${message.rid ? ' (reply)' : ''}: ${message.body}`)
})
chat.onEdit((edit) => show(`${label(edit.gid)} * ${edit.iss} edited a message: ${edit.body}`))
chat.onDelete((deleted) => show(`${label(deleted.gid)} * ${deleted.iss} deleted a message`))
client.onStatus((status) => status !== 'closed' && show(`* connection ${status}`))

const commands: Record<string, (args: string[]) => Promise<void> | void> = {
  async invite([gid, name, members, image]) {
    if (!gid || !name || !members) return show('usage: /invite <gid> <name> <member,member> [image path]')
    const avatar = image ? await readImage(image) : undefined
    const group = await chat.invite(gid, name, members.split(',').filter(Boolean), avatar)
    remember(group, true)
    show(`* ${label(gid)} members: ${group.members.join(', ')}`)
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
    groups.delete(gid)
    if (current === gid) current = undefined
    updatePrompt()
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
    const group = current ? groups.get(current) : undefined
    if (!who || !group) return show('usage: /remove <who>, in the current group')
    await group.remove(who)
    show(`* removed ${who} from ${label(group.gid)}`)
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
    show(
      list
        .map(
          (g) =>
            `${marker(g.gid)} ${g.gid}  ${label(g.gid)}  ${g.status}  ${g.members.join(', ')}${unread(g)}`,
        )
        .join('\n'),
    )
  },
  async history([count = '20']) {
    const group = current ? groups.get(current) : undefined
    if (!group) return show('no current group: /switch <gid> first')
    const page = await group.history({ limit: Math.min(100, Math.max(1, Number(count) || 20)) })
    show(page.events.reverse().map(describe).join('\n') || 'nothing yet')
    await group.markRead(page.head)
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

/** One line per event of a history page. */
function describe(event: HistoryPage['events'][number]): string {
  switch (event.type) {
    case 'chat.message':
      return `  ${event.iss}: ${event.deleted ? '(deleted)' : event.body}${event.edited ? ' (edited)' : ''}`
    case 'chat.join':
      return `  * ${event.iss} joined`
    case 'chat.leave':
      return event.by ? `  * ${event.by} removed ${event.iss}` : `  * ${event.iss} left`
    case 'chat.edit':
      return `  * ${event.iss} edited a message`
    case 'chat.delete':
      return `  * ${event.iss} deleted a message`
  }
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
rl.on('close', () => void previous.then(() => client.close()).then(() => process.exit(0)))

show(`${me} connected to ${huddleUrls().ws}. /help lists the commands.`)
