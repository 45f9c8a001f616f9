import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { providerStore } from '../../local/oidc/store.js'

describe("the local OpenID provider's store", () => {
  it('keeps refresh tokens across a restart (mode 0600), and forgets what expired or was revoked', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'huddle-sign-in-')), 'sign-in-state.json')
    const Adapter = await providerStore(file)
    const tokens = new Adapter('RefreshToken')
    await tokens.upsert('kept', { grantId: 'g1', accountId: 'alice' }, 3600)
    await tokens.upsert('revoked', { grantId: 'g2', accountId: 'bob' }, 3600)
    // Expires a millisecond from now.
    await tokens.upsert('expiring', { grantId: 'g3', accountId: 'carol' }, 0.001)
    await new Adapter('Grant').upsert('g1', { accountId: 'alice' }, 3600)
    await tokens.revokeByGrantId('g2')
    await tokens.consume('kept')
    await expect.poll(async () => (await readFile(file, 'utf8').catch(() => '')).includes('kept')).toBe(true)
    expect((await stat(file)).mode & 0o777).toBe(0o600)

    const Restarted = await providerStore(file)
    const again = new Restarted('RefreshToken')
    expect(await again.find('kept')).toMatchObject({
      grantId: 'g1',
      accountId: 'alice',
      consumed: expect.any(Number),
    })
    expect(await again.find('revoked')).toBeUndefined()
    expect(await again.find('expiring')).toBeUndefined()
    // Each model has its own ids.
    expect(await new Restarted('Grant').find('g1')).toEqual({ accountId: 'alice' })
    expect(await new Restarted('Session').find('g1')).toBeUndefined()
  })
})
