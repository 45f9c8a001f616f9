import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { ChatClient, type ChatGroup } from '@huddle/client'
import { describe, expect, it } from 'vitest'
import { solidPng } from '../../examples/support.js'
import { closeDevConnection } from '../../local/dev-tokens.js'
import { httpUrl, tokenFor, unique, wsUrl } from '../support/huddle.js'
import { connectionIds, only, participant, waitFor } from '../support/sdk.js'

const sorted = (items: string[]) => [...items].sort()

describe('the SDK against the local stack', () => {
  it('runs the Self SDK group example end to end', async () => {
    const alice = await participant(unique('alice'))
    const bob = await participant(unique('bob'))
    const carol = await participant(unique('carol'))
    const dave = await participant(unique('dave'))
    const gid = unique('seed')

    // bob does what the seed example does: join on invite, then say hey
    bob.chat.onInvite(async (group) => {
      await group.join()
      bob.groups.set(group.gid, group)
      await group.message('hey!')
    })

    const avatar = solidPng(16, [200, 30, 60])
    const created = await alice.chat.invite(gid, 'Seed group', [bob.sub, carol.sub], avatar)
    alice.groups.set(gid, created)
    expect(sorted(created.members)).toEqual(sorted([alice.sub, bob.sub, carol.sub]))
    expect(created.image?.mime).toBe('image/png')

    await waitFor(() => expect(alice.lines()).toEqual([`[Seed group] ${bob.sub}: hey!`]))
    expect(alice.joins).toEqual([`${bob.sub} joined ${gid}`])

    // carol got the invite with the avatar, but not bob's message: she has not joined yet
    await waitFor(() => expect(carol.invites).toHaveLength(1))
    const invite = only(carol.invites)
    expect(invite).toMatchObject({ gid, name: 'Seed group', status: 'invited' })
    expect(sorted(invite.members)).toEqual(sorted([alice.sub, bob.sub, carol.sub]))
    const image = await fetch(invite.image?.url ?? 'http://127.0.0.1:9/no-image')
    expect(Buffer.from(await image.arrayBuffer())).toEqual(avatar.data)

    await invite.join()
    carol.groups.set(gid, invite)
    await waitFor(() =>
      expect(alice.joins).toEqual([`${bob.sub} joined ${gid}`, `${carol.sub} joined ${gid}`]),
    )
    await waitFor(() => expect(bob.joins).toEqual([`${carol.sub} joined ${gid}`]))

    const hello = await created.message('hello')
    expect(hello).toMatchObject({ gid, duplicate: false })
    await waitFor(() => expect(bob.lines()).toEqual([`[Seed group] ${alice.sub}: hello`]))
    const received = only(bob.messages)
    expect(received).toMatchObject({ gid, iss: alice.sub, jti: hello.jti, iat: hello.iat, rid: undefined })

    await received.respond('hi alice')
    await waitFor(() =>
      expect(alice.messages.map((m) => [m.iss, m.body, m.rid])).toContainEqual([
        bob.sub,
        'hi alice',
        hello.jti,
      ]),
    )
    // carol's first message is alice's hello: bob's earlier "hey!" never reached her
    await waitFor(() =>
      expect(carol.lines()).toEqual([
        `[Seed group] ${alice.sub}: hello`,
        `[Seed group] ${bob.sub}: hi alice`,
      ]),
    )
    expect(carol.messages[1]?.rid).toBe(hello.jti)

    // bob leaves: the others' member lists drop him and he receives nothing more
    await (bob.groups.get(gid) as ChatGroup).leave()
    await waitFor(() => expect(alice.leaves).toEqual([`${bob.sub} left ${gid}`]))
    await waitFor(() => expect(carol.leaves).toEqual([`${bob.sub} left ${gid}`]))
    expect(sorted(alice.groups.get(gid)?.members ?? [])).toEqual(sorted([alice.sub, carol.sub]))
    expect(sorted(carol.groups.get(gid)?.members ?? [])).toEqual(sorted([alice.sub, carol.sub]))
    await created.message('after bob left')
    await waitFor(() =>
      expect(carol.messages.map((m) => m.body)).toEqual(['hello', 'hi alice', 'after bob left']),
    )
    await expect(received.message('bob again')).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(bob.messages.map((m) => m.body)).toEqual(['hello'])
    expect(dave.messages).toEqual([])
    expect(dave.invites).toEqual([])

    const carolsGroups = await carol.chat.groups()
    expect(carolsGroups.map((g) => [g.gid, g.status, sorted(g.members)])).toEqual([
      [gid, 'joined', sorted([alice.sub, carol.sub])],
    ])
  })

  it('reconnects after a server-side close without losing or repeating a message, and syncs invites', async () => {
    // alice's reconnect waits at this gate, so the test decides how long she stays away
    let openGate = () => {}
    let gate = Promise.resolve()
    const aliceSub = unique('alice')
    const alice = await participant(aliceSub, {
      token: async () => {
        await gate
        return tokenFor(aliceSub)
      },
      reconnect: { minDelayMs: 10, maxDelayMs: 50 },
    })
    const bob = await participant(unique('bob'))
    const carol = await participant(unique('carol'))
    const [gid, awayGid] = [unique('steady'), unique('away')]
    const statuses: string[] = []
    alice.client.onStatus((status) => statuses.push(status))

    const group = await alice.chat.invite(gid, 'Steady', [bob.sub])
    await bob.chat.join(gid)

    const bodies = Array.from({ length: 20 }, (_, i) => `message ${i}`)
    const sends = bodies.map((body) => group.message(body))
    await waitFor(() => expect(bob.messages.length).toBeGreaterThanOrEqual(3))

    gate = new Promise((resolve) => {
      openGate = resolve
    })
    const connectionId = only(await connectionIds(alice.sub))
    expect(await closeDevConnection(httpUrl(), connectionId)).toBe(204)
    await waitFor(() => expect(statuses).toEqual(['reconnecting']))
    expect(await connectionIds(alice.sub)).toEqual([])
    expect(bob.messages.length).toBeLessThan(bodies.length)

    await carol.chat.invite(awayGid, 'While you were away', [alice.sub])
    openGate()

    await waitFor(() => expect(statuses).toEqual(['reconnecting', 'open']))
    const receipts = await Promise.all(sends)
    expect(receipts.map((r) => r.gid)).toEqual(bodies.map(() => gid))
    await waitFor(() => expect(bob.messages.map((m) => m.body)).toEqual(bodies))
    expect(new Set(bob.messages.map((m) => m.jti)).size).toBe(bodies.length)

    await waitFor(() =>
      expect(alice.invites.map((g) => [g.gid, g.name])).toEqual([[awayGid, 'While you were away']]),
    )
    const awayGroup = only(alice.invites)
    await awayGroup.join()
    await awayGroup.message('back online')
    await waitFor(() =>
      expect(carol.messages.map((m) => [m.iss, m.body])).toEqual([[alice.sub, 'back online']]),
    )
    expect(await connectionIds(alice.sub)).toHaveLength(1)
  })

  it('carries the first 50 members of a larger group, and loads them all when asked', async () => {
    const alice = await participant(unique('alice'))
    const gid = unique('crowd')
    const others = Array.from({ length: 59 }, (_, i) => `${gid}-m${i}`)
    const group = await alice.chat.invite(gid, 'Crowd', others.slice(0, 50))
    await group.invite(others.slice(50))
    expect(group.members).toHaveLength(50)
    expect(group.memberCount).toBe(60)
    expect(sorted(await group.loadMembers())).toEqual(sorted([alice.sub, ...others]))
    expect(group.members).toHaveLength(60)
  })

  it('rejects connect with TOKEN_REFUSED when the token is refused, and with CONNECT_FAILED when nothing answers', async () => {
    const attempt = ChatClient.connect(wsUrl(), { token: 'not-a-jwt' })
    await expect(attempt).rejects.toMatchObject({
      code: 'TOKEN_REFUSED',
      message: 'the server refused the token (HTTP 401): get a fresh token or sign in again',
    })
    const closed = await closedPort()
    const unreachable = ChatClient.connect(`ws://127.0.0.1:${closed}/`, { token: 'not-a-jwt' })
    await expect(unreachable).rejects.toMatchObject({
      code: 'CONNECT_FAILED',
      message: expect.stringMatching(
        new RegExp(
          `^cannot reach ws://127\\.0\\.0\\.1:${closed} \\(.*ECONNREFUSED.*\\): check the URL and that the server is running$`,
        ),
      ),
    })
  })

  it('rejects connect with TOKEN_FAILED when the token function fails, naming its error', async () => {
    const attempt = ChatClient.connect(wsUrl(), { token: () => Promise.reject(new Error('signed out')) })
    await expect(attempt).rejects.toMatchObject({
      code: 'TOKEN_FAILED',
      message: expect.stringMatching(/^the token function failed \(signed out\): check what it relies on/),
    })
  })
})

/** A port nothing listens on: one the system handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
