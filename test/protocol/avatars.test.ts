import { limits } from '@huddle/client/protocol'
import { describe, expect, it } from 'vitest'
import { imageType } from '../../lambdas/core/avatars.js'
import { connector } from '../support/clients.js'
import { png, unique } from '../support/huddle.js'

const connect = connector()

describe('group avatars', () => {
  it('keeps the upload an invite names as the group’s avatar, under the group', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const key = await alice.uploadAvatar(png)
    expect(key).toMatch(new RegExp(`^uploads/${alice.iss}/[0-9a-f-]{36}$`))
    const gid = unique('pictured')
    const { group } = (await alice.ok('invite', {
      gid,
      name: 'Pictured',
      members: [bob.iss],
      avatar: { key },
    })) as {
      group: { image: { url: string; mime: string } }
    }
    expect(new URL(group.image.url).pathname).toMatch(new RegExp(`/avatars/${gid}/[0-9a-f-]{36}$`))
    const image = await fetch(group.image.url)
    expect(Buffer.from(await image.arrayBuffer())).toEqual(png)
  })

  it('accepts exactly the keys it issued: no other identity’s, no path tricks', async () => {
    const [mallory, victim, bob] = await connect(unique('mallory'), unique('victim'), unique('bob'))
    const victims = await victim.uploadAvatar(png)
    const id = victims.split('/').at(-1)
    const invite = (key: string) =>
      mallory.request('invite', {
        gid: unique('stolen'),
        name: 'Stolen',
        members: [bob.iss],
        avatar: { key },
      })
    for (const key of [
      victims,
      `uploads/${mallory.iss}/../${victim.iss}/${id}`,
      `uploads/${mallory.iss}/${id}/..`,
      `uploads/${mallory.iss}/x${id}`,
      `avatars/${mallory.iss}/${id}`,
    ]) {
      expect(await invite(key), key).toMatchObject({ type: 'error', code: 'FORBIDDEN' })
    }
  })

  it('refuses an upload whose bytes are not the image type it was declared as', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const html = Buffer.from('<html><script>alert(1)</script></html>')
    const key = await alice.uploadAvatar(html, 'image/png')
    const reply = await alice.request('invite', {
      gid: unique('g'),
      name: 'G',
      members: [bob.iss],
      avatar: { key },
    })
    expect(reply).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/image\/png/),
    })
  })

  it('limits the upload URLs one identity may ask for in an hour, and says when to retry', async () => {
    const [alice] = await connect(unique('alice'))
    for (let i = 0; i < limits.avatarUploadsPerHour; i++)
      await alice.ok('avatar', { mime: 'image/png', size: 10 })
    const refused = await alice.request('avatar', { mime: 'image/png', size: 10 })
    expect(refused).toMatchObject({ type: 'error', code: 'RATE_LIMITED' })
    expect(refused.retryAfter).toBeGreaterThan(0)
    expect(refused.retryAfter).toBeLessThanOrEqual(3600)
  })
})

describe('image types', () => {
  it('are told by their first bytes', () => {
    const bytes = (...values: number[]) => new Uint8Array(values)
    const ascii = (text: string) => new TextEncoder().encode(text)
    expect(imageType(png)).toBe('image/png')
    expect(imageType(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('image/jpeg')
    expect(imageType(ascii('GIF89a…'))).toBe('image/gif')
    expect(imageType(ascii('GIF87a…'))).toBe('image/gif')
    expect(imageType(ascii('RIFF\u0000\u0000\u0000\u0000WEBPVP8 '))).toBe('image/webp')
    expect(imageType(ascii('RIFF\u0000\u0000\u0000\u0000WAVE'))).toBeUndefined()
    expect(imageType(ascii('<svg>'))).toBeUndefined()
    expect(imageType(bytes())).toBeUndefined()
  })
})
