/**
 * A terminal chat client: `npm run chat -- --as alice`. Type /help for the commands;
 * a line that is not a command goes to the current group.
 */
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ChatError, type ChatGroup } from '../client/node.js'
import { connectAs, huddleUrl, readImage } from './support.js'

const help = `commands:
  /invite <gid> <name> <member,member> [image path]   create a group (or add members); quote a name with spaces
  /join <gid>          accept an invite
  /leave [gid]         leave a group (default: the current one)
  /groups              list your groups and invites
  /switch <gid>        send plain lines to this group
  /help                this text
  /quit                exit
anything else is sent to the current group`

const { values } = parseArgs({ options: { as: { type: 'string', default: process.env.USER ?? 'guest' } } })
const me = values.as
const client = await connectAs(me)
const chat = client.chat()
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
  async groups() {
    const list = await chat.groups()
    for (const group of list) remember(group, false)
    if (list.length === 0) return show('no groups yet: /invite one, or wait for an invite')
    const marker = (gid: string) => (gid === current ? '>' : ' ')
    show(
      list
        .map((g) => `${marker(g.gid)} ${g.gid}  ${label(g.gid)}  ${g.status}  ${g.members.join(', ')}`)
        .join('\n'),
    )
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
      show(error instanceof ChatError ? `! ${error.code}: ${error.message}` : `! ${error}`),
    )
    .finally(() => rl.prompt())
})
rl.on('close', () => void previous.then(() => client.close()).then(() => process.exit(0)))

show(`${me} connected to ${huddleUrl}. /help lists the commands.`)
