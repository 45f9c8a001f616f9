/**
 * Creates a group with an avatar, waits until an invitee joins, says hello, and prints the replies.
 * `npm run example:create-group -- --as alice --members bot,bob [--gid g1] [--name "Friends"] [--image pic.png] [--wait 30]`
 * Without --image the avatar is a generated PNG. Run `npm run example:bot` first, so that someone joins.
 */
import { parseArgs } from 'node:util'
import { textOf } from './chat-lines.js'
import { connectAs, ExampleError, exitOnError, readImage, solidPng } from './support.js'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      as: { type: 'string' },
      gid: { type: 'string', default: `demo-${crypto.randomUUID().slice(0, 8)}` },
      name: { type: 'string', default: 'Demo group' },
      members: { type: 'string', default: 'bot' },
      image: { type: 'string' },
      wait: { type: 'string', default: '30' },
    },
  })
  const { gid, name } = values
  const waitSeconds = Number(values.wait)
  if (!(waitSeconds > 0))
    throw new ExampleError(`--wait ${values.wait}: give the seconds to wait, such as 30`)
  const avatar = values.image ? await readImage(values.image) : solidPng(64, [46, 139, 87])

  const { client, me } = await connectAs(values.as, 'alice')
  try {
    const members = values.members.split(',').filter((member) => member && member !== me)
    if (members.length === 0)
      throw new ExampleError('--members: name someone to invite, such as --members bot')
    const chat = client.chat()
    const hello = `hello from ${me}`
    const joined: string[] = []
    const spoke = new Set<string>()
    let said: Promise<unknown> | undefined
    chat.onJoin((iss, joinedGid) => {
      if (joinedGid !== gid) return
      console.log(`${iss} joined [${name}]`)
      joined.push(iss)
      // Said from the first join's callback, so the hello is printed before the group's later events.
      if (said) return
      console.log(`[${name}] ${me}: ${hello}`)
      said = created.then((group) => group.message(hello))
    })
    chat.onMessage((message) => {
      if (message.gid !== gid) return
      console.log(`[${name}] ${message.iss}${message.rid ? ' (reply)' : ''}: ${textOf(message)}`)
      spoke.add(message.iss)
    })

    const created = chat.invite(gid, name, members, avatar)
    const group = await created
    console.log(`created [${group.name}] (${group.gid}) as ${me} with ${group.members.join(', ')}`)
    if (group.image)
      console.log(`avatar (${group.image.mime}, until ${group.image.expires}): ${group.image.url}`)
    console.log(`waiting up to ${waitSeconds} s for ${members.join(' or ')} to join…`)

    if (!(await within(waitSeconds, () => joined.length > 0))) {
      throw new ExampleError(
        `nobody joined [${name}] within ${waitSeconds} s, so no hello was sent: start \`npm run example:bot\` ` +
          'in another terminal first (with the same PORT or HUDDLE_URL), or invite someone who is online',
      )
    }
    await said
    const silent = () => joined.filter((iss) => !spoke.has(iss))
    if (!(await within(waitSeconds, () => silent().length === 0))) {
      console.log(`no reply from ${silent().join(', ')} within ${waitSeconds} s`)
    }
  } finally {
    await client.close()
  }
}

/** Whether `done` holds within `seconds`, checked every 50 ms. */
async function within(seconds: number, done: () => boolean): Promise<boolean> {
  const end = Date.now() + seconds * 1000
  while (!done()) {
    if (Date.now() >= end) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

main().catch(exitOnError)
