import {
  ChatClient,
  type ChatGroup,
  type ChatMessage,
  type ConnectOptions,
  type DeleteEvent,
  type EditEvent,
  type Receipt,
  type SecurityNotice,
} from '@huddle/client'
import { afterAll, expect, vi } from 'vitest'
import { closeDevConnection } from '../../local/dev-tokens.js'
import { httpUrl, tokenFor, unique, wsUrl } from './huddle.js'

export const waitFor = <T>(check: () => T) => vi.waitFor(check, { timeout: 10_000, interval: 20 })

const clients: ChatClient[] = []
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()))
})

/** A connected SDK client and everything its app was handed, kept the way the Self SDK example keeps it. */
export async function participant(sub: string, options: Partial<ConnectOptions> = {}) {
  const client = await ChatClient.connect(wsUrl(), { token: () => tokenFor(sub), ...options })
  clients.push(client)
  const chat = client.chat()
  const seen = {
    sub,
    client,
    chat,
    invites: [] as ChatGroup[],
    messages: [] as ChatMessage[],
    joins: [] as string[],
    leaves: [] as string[],
    edits: [] as EditEvent[],
    deletes: [] as DeleteEvent[],
    receipts: [] as Receipt[],
    /** What the SDK told the app about encrypted groups' keys. */
    security: [] as SecurityNotice[],
    /** Every group event the app was handed, in order, one line each. */
    story: [] as string[],
    groups: new Map<string, ChatGroup>(),
    /** Message lines as the bot example prints them. */
    lines: () => seen.messages.map((m) => `[${seen.groups.get(m.gid)?.name ?? m.gid}] ${m.iss}: ${m.body}`),
  }
  chat.onInvite((group) => {
    seen.invites.push(group)
  })
  chat.onMessage((message) => {
    seen.messages.push(message)
    seen.story.push(`message ${message.jti}`)
  })
  chat.onJoin((iss, gid) => {
    seen.joins.push(`${iss} joined ${gid}`)
    seen.story.push(`join ${iss}`)
    const group = seen.groups.get(gid)
    if (group && !group.members.includes(iss)) group.members.push(iss)
  })
  chat.onLeave((iss, gid) => {
    seen.leaves.push(`${iss} left ${gid}`)
    seen.story.push(`leave ${iss}`)
    const group = seen.groups.get(gid)
    if (group) group.members = group.members.filter((member) => member !== iss)
  })
  chat.onEdit((edit) => {
    seen.edits.push(edit)
    seen.story.push(`edit ${edit.jti}`)
  })
  chat.onDelete((deleted) => {
    seen.deletes.push(deleted)
    seen.story.push(`delete ${deleted.jti}`)
  })
  chat.onReceipt((receipt) => {
    seen.receipts.push(receipt)
  })
  chat.onSecurity((notice) => {
    seen.security.push(notice)
  })
  return seen
}

/** The local gateway's ids for an identity's open connections. */
export async function connectionIds(sub: string): Promise<string[]> {
  const response = await fetch(`${httpUrl()}/dev/connections?sub=${encodeURIComponent(sub)}`)
  expect(response.status).toBe(200)
  const { connectionIds } = (await response.json()) as { connectionIds: string[] }
  return connectionIds
}

/** Closes an identity's connections from the server side, as API Gateway's DELETE @connections does. */
export async function cutConnections(sub: string): Promise<number> {
  const ids = await connectionIds(sub)
  for (const id of ids) {
    expect([204, 410]).toContain(await closeDevConnection(httpUrl(), id))
  }
  return ids.length
}

export function only<T>(items: T[]): T {
  expect(items).toHaveLength(1)
  return items[0] as T
}

/** A participant whose app can be taken offline: while it is, every reconnect fails. */
export async function roaming(name: string) {
  const sub = unique(name)
  let offline = false
  const who = await participant(sub, {
    token: () => (offline ? Promise.reject(new Error('offline')) : tokenFor(sub)),
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  })
  return {
    who,
    async goOffline() {
      offline = true
      await cutConnections(sub)
      await waitFor(() => expect(who.client.status).toBe('reconnecting'))
    },
    goOnline() {
      offline = false
    },
  }
}
