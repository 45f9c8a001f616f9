/**
 * The Self SDK group example as a program: joins every group it is invited to, says "hey!",
 * keeps each group's member list current, and prints every message.
 * Run `npm start`, then `npm run example:bot` (`-- --as <name>` for another identity than "bot", or the one HUDDLE_TOKEN names).
 */
import { parseArgs } from 'node:util'
import type { ChatGroup } from '@huddle/client'
import { textOf } from './chat-lines.js'
import { connectAs, exitOnError, huddleUrls } from './support.js'

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { as: { type: 'string' } } })
  const { client, me } = await connectAs(values.as, 'bot')
  const chat = client.chat()
  const groups = new Map<string, ChatGroup>()

  for (const group of await chat.groups()) if (group.status === 'joined') groups.set(group.gid, group)

  chat.onInvite(async (group) => {
    // Known before the join: a message may be handed before join() returns.
    groups.set(group.gid, group)
    await group.join()
    console.log(`joined [${group.name}] with ${group.members.join(', ')}`)
    await group.message('hey!')
  })

  chat.onJoin((iss, gid) => {
    const group = groups.get(gid)
    if (group && !group.members.includes(iss)) group.members.push(iss)
    console.log(`${iss} joined [${group?.name ?? gid}]`)
  })

  chat.onLeave((iss, gid) => {
    const group = groups.get(gid)
    if (group) group.members = group.members.filter((member) => member !== iss)
    console.log(`${iss} left [${group?.name ?? gid}]`)
  })

  chat.onMessage((message) => {
    console.log(`[${groups.get(message.gid)?.name ?? message.gid}] ${message.iss}: ${textOf(message)}`)
  })

  client.onStatus((status) => console.log(`(connection ${status})`))
  client.onConnectionError((error) => console.error(`(connection: ${error.code}: ${error.message})`))
  console.log(
    `${me} is online at ${huddleUrls().ws} in ${groups.size} group(s); invite it to a group to talk. Ctrl-C quits.`,
  )
  process.once('SIGINT', () => void client.close())
}

main().catch(exitOnError)
