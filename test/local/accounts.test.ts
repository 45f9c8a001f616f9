import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openAccounts } from '../../local/oidc/accounts.js'

describe("the local OpenID provider's accounts", () => {
  it('refuses a bad name, a short password and a taken name, each saying which field to fix', async () => {
    const accounts = await openAccounts()
    expect(await accounts.signUp('two words', 'long enough')).toEqual({
      ok: false,
      field: 'name',
      message: expect.stringContaining('A user name is 1 to 128 of the characters'),
    })
    expect(await accounts.signUp('alice', 'short')).toEqual({
      ok: false,
      field: 'password',
      message: 'A password has at least 8 characters.',
    })
    expect(await accounts.has('alice')).toBe(false)
    expect(await accounts.signUp('alice', 'eight ch')).toEqual({ ok: true })
    expect(await accounts.signUp('alice', 'another one')).toEqual({
      ok: false,
      field: 'name',
      message: 'The name “alice” is taken: pick another, or sign in.',
    })
  })

  it('signs in with the right password only, and says the same for an unknown name', async () => {
    const accounts = await openAccounts()
    await accounts.signUp('bob', 'correct horse')
    expect(await accounts.signIn('bob', 'correct horse')).toEqual({ ok: true })
    const wrong = await accounts.signIn('bob', 'correct horsE')
    expect(wrong).toEqual({ ok: false, field: 'password', message: expect.stringContaining('do not match') })
    // Names are identities, which are case-sensitive.
    expect(await accounts.signIn('Bob', 'correct horse')).toEqual(wrong)
    expect(await accounts.signIn('nobody', 'correct horse')).toEqual(wrong)
  })

  it('keeps accounts in its file (mode 0600, scrypt hashes, no password), read again on the next start', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'huddle-accounts-')), 'accounts.json')
    const first = await openAccounts(file)
    await first.signUp('carol', 'a long password')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const text = await readFile(file, 'utf8')
    expect(text).not.toContain('a long password')
    expect(JSON.parse(text).accounts.carol).toEqual({
      salt: expect.any(String),
      hash: expect.any(String),
      N: 16_384,
      r: 8,
      p: 1,
      created: expect.any(String),
    })

    const again = await openAccounts(file)
    expect(await again.has('carol')).toBe(true)
    expect(await again.signIn('carol', 'a long password')).toEqual({ ok: true })
    expect((await again.signIn('carol', 'a wrong password')).ok).toBe(false)
  })
})
